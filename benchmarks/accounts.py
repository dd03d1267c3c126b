"""Time the account operations that sit on a user's path: bcrypt hashing and the per-run session check.

Usage: .venv/bin/python benchmarks/accounts.py [--repeat N] [--database-url URL]
Prints the median and range of each operation in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from operatorflow.accounts import SessionStore, UserStore, passwords  # noqa: E402
from operatorflow.registry import RunRegistry  # noqa: E402

PASSWORD = "Lovelace#1843"


def timed(operation, repeat: int) -> list[float]:
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        durations.append((time.perf_counter() - start) * 1000)
    return durations


def report(name: str, durations: list[float]) -> None:
    print(f"{name:<42} median {statistics.median(durations):8.2f} ms "
          f"(min {min(durations):.2f}, max {max(durations):.2f}, n={len(durations)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url", default="",
                        help="SQLite or PostgreSQL database; on PostgreSQL the tables go to a new schema, "
                             "dropped at the end (default: SQLite in a temporary folder)")
    args = parser.parse_args()

    stored = passwords.hash_password(PASSWORD)
    report(f"bcrypt hash, cost {passwords.BCRYPT_ROUNDS}", timed(lambda: passwords.hash_password(PASSWORD), args.repeat))
    report(f"bcrypt check, cost {passwords.BCRYPT_ROUNDS}",
           timed(lambda: passwords.verify_password(PASSWORD, stored), args.repeat))

    with tempfile.TemporaryDirectory() as folder, _database(args.database_url, folder) as url:
        registry = RunRegistry(url)
        users = UserStore(registry)
        users.create("bench", email=None, source="local", confirmed=True)
        sessions = SessionStore(registry, dt.timedelta(days=7))
        token = sessions.start("bench")
        report("session check (one per script run)", timed(lambda: sessions.get_user(token), args.repeat * 10))
        report("session start", timed(lambda: sessions.start("bench"), args.repeat))
        registry.dispose()
    return 0


@contextlib.contextmanager
def _database(url: str, folder: str):
    """Yield a database URL: SQLite in `folder`, or a new schema of the given PostgreSQL database."""
    if not url:
        yield f"sqlite:///{folder}/registry.db"
        return
    if not url.startswith("postgresql"):
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
