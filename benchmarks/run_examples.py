"""Time both examples through OperatorFlow and directly, and print a Markdown table.

Usage: `.venv/bin/python benchmarks/run_examples.py [--repeat N] [--standalone-worker] [--only NAME ...]`.
taxi-tip-keras needs the deep-learning extra and is left out without it. Through
OperatorFlow means: queue the run with the service, the worker thread in the same process (as in
the app, default settings) starts and follows it, and the clock stops when the registry reports
SUCCEEDED; that is what a user sees from pressing Run. With --standalone-worker a separate
`python -m operatorflow.worker` process runs it instead; it learns of new runs by polling, which
adds up to OPERATORFLOW_POLL_SECONDS (0.5 s) to each run.
Directly means `benchmarks/direct.py` in a fresh process. The runs alternate, so drift on the
machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from operatorflow.extras import missing_extras_message  # noqa: E402
from operatorflow.factory import build_service  # noqa: E402
from operatorflow.settings import load_settings  # noqa: E402
from operatorflow.status import RunStatus  # noqa: E402
from operatorflow.worker import start_background_worker, stop_background_workers  # noqa: E402

EXAMPLES = {"shakespeare-wordcount": "wordcount", "taxi-tip-trainer": "taxi", "taxi-tip-keras": "keras"}


def time_direct(kind: str, scratch: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, str(PROJECT / "benchmarks/direct.py"), kind, str(scratch)],
                   check=True, capture_output=True, cwd=PROJECT, timeout=600)
    return time.perf_counter() - started


def time_through(service, workflow: str) -> float:
    started = time.perf_counter()
    run = service.submit_run("bench", workflow)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        run = service.get_run("bench", run.id)
        if run.status.is_terminal:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if run.status is not RunStatus.SUCCEEDED:
        raise SystemExit(f"{workflow} run {run.id} ended {run.status.value}: {run.error_message}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--standalone-worker", action="store_true")
    parser.add_argument("--only", nargs="+", choices=list(EXAMPLES), help="time only these examples")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="operatorflow-bench-"))
    env = {**os.environ, "OPERATORFLOW_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
    os.environ.update({"OPERATORFLOW_HOME": str(home), "OPERATORFLOW_WORKER": "none"})
    service = build_service(load_settings())
    worker = None
    if args.standalone_worker:
        worker = subprocess.Popen([sys.executable, "-m", "operatorflow.worker"], env=env, cwd=PROJECT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        start_background_worker(service)
    try:
        print("| example | through OperatorFlow, median (min-max) | directly, median (min-max) | overhead |")
        print("|---|---|---|---|")
        for workflow, kind in EXAMPLES.items():
            if args.only and workflow not in args.only:
                continue
            problem = missing_extras_message(service.settings, service.get_workflow(workflow))
            if problem is not None:
                print(f"| {workflow} | skipped: {problem} | | |", flush=True)
                continue
            through, direct = [], []
            for i in range(args.repeat):
                through.append(time_through(service, workflow))
                direct.append(time_direct(kind, home / f"direct-{kind}-{i}"))
            t, d = statistics.median(through), statistics.median(direct)
            print(f"| {workflow} | {t:.1f} s ({min(through):.1f}-{max(through):.1f}) "
                  f"| {d:.1f} s ({min(direct):.1f}-{max(direct):.1f}) | {100 * (t - d) / d:+.1f}% |", flush=True)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        stop_background_workers()


if __name__ == "__main__":
    main()
