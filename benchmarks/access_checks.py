"""Time what the access checks add to listing and reading runs, against the registry's plain owner query.

Usage: .venv/bin/python benchmarks/access_checks.py [--database-url URL] [--runs 5000] [--repeat 50]
Without --database-url it uses SQLite in a temporary folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
from pathlib import Path

from operatorflow.factory import build_service
from operatorflow.registry.schema import users
from operatorflow.settings import load_settings

OWNERS = 50
NOTEBOOK = "shakespeare-wordcount"
PIPELINE = "taxi-tip-trainer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default="", help="registry URL (default: SQLite in a temporary folder)")
    parser.add_argument("--runs", type=int, default=5000, help="runs to create, spread over 50 owners")
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        service = build_service(load_settings(home=Path(home), worker="none", database_url=args.database_url))
        run_ids = _populate(service, args.runs)
        reader = "user0"
        shared = [run for run in service.list_runs(reader, limit=None) if run.owner != reader]
        print(f"{args.runs} runs, {OWNERS} owners; user0 sees {len(service.list_runs(reader, limit=None))} runs "
              f"({len(shared)} shared with it); registry {service.registry.url}")

        rows = [
            ("registry.list_runs(owner=user0, limit=500), no checks",
             lambda: service.registry.list_runs(owner=reader, limit=500)),
            ("service.list_runs(user0, limit=500), own and shared", lambda: service.list_runs(reader, limit=500)),
            ("service.list_runs(admin, limit=500), every run", lambda: service.list_runs("admin", limit=500)),
            ("registry.get_run(id), no checks", lambda: service.registry.get_run(random.choice(run_ids))),
            ("service.get_run(user0, shared id)", lambda: service.get_run(reader, random.choice(shared).id)),
        ]
        for label, call in rows:
            print(f"{label:<58} median {_median_ms(call, args.repeat):6.2f} ms")
        service.registry.dispose()


def _populate(service, count: int) -> list[str]:
    now = dt.datetime.now(dt.timezone.utc)
    with service.registry.begin() as conn:
        for index in range(OWNERS):
            conn.execute(users.insert().values(name=f"user{index}", source="local", is_admin=False, disabled=False,
                                               created_at=now, updated_at=now, failed_sign_ins=0))
        conn.execute(users.insert().values(name="admin", source="local", is_admin=True, disabled=False,
                                           created_at=now, updated_at=now, failed_sign_ins=0))
    run_ids = []
    rng = random.Random(7)
    for index in range(count):
        owner = f"user{index % OWNERS}"
        workflow = NOTEBOOK if index % 2 else PIPELINE
        run = service.registry.create_run(owner=owner, workflow=workflow, kind="notebook", engine="local-spark",
                                          parameters={}, output_location=f"/tmp/unused/{index}")
        run_ids.append(run.id)
    # About 5% of 200 sampled runs are shared with user0, plus two workflow grants to it; the rest go to other users.
    for run_id in rng.sample(run_ids, 200):
        run = service.registry.get_run(run_id)
        grantee = "user0" if rng.random() < 0.05 else f"user{rng.randrange(1, OWNERS)}"
        if grantee != run.owner:
            service.grant_access(run.owner, "run", run.id, grantee, "view")
    for owner in ("user1", "user2"):
        service.grant_access(owner, "workflow", NOTEBOOK, "user0", "view")
    return run_ids


def _median_ms(call, repeat: int) -> float:
    call()  # warm caches and connections
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


if __name__ == "__main__":
    main()
