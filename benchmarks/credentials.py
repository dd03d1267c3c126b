"""Time put, get and list of the credential stores: encrypted in SQLite, and Vault through hvac against the test fake.

`python benchmarks/credentials.py --count 200` stores COUNT credentials in one scope, reads each
back, and lists the scope 10 times, then prints the median and the 95th percentile per operation.
Vault runs against `tests/vault_fake.py` on 127.0.0.1, so its figures are hvac's and HTTP's own
cost without a real server's storage.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from operatorflow.credentials.database import DatabaseCredentialStore  # noqa: E402
from operatorflow.credentials.keys import generate_key  # noqa: E402
from operatorflow.credentials.vault import VaultCredentialStore  # noqa: E402
from operatorflow.registry import RunRegistry  # noqa: E402
from tests.vault_fake import TOKEN, FakeVault  # noqa: E402

LIST_REPEATS = 10
SCOPE = "user:bench"


def time_store(store, count: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"put": [], "get": [], "list": []}
    for index in range(count):
        start = time.perf_counter()
        store.put_credential(SCOPE, f"name-{index:04d}", f"value-{index:04d}-0123456789abcdef", updated_by="bench")
        timings["put"].append(time.perf_counter() - start)
    for index in range(count):
        start = time.perf_counter()
        store.get_credential(SCOPE, f"name-{index:04d}")
        timings["get"].append(time.perf_counter() - start)
    for _ in range(LIST_REPEATS):
        start = time.perf_counter()
        store.list_credentials(SCOPE)
        timings["list"].append(time.perf_counter() - start)
    return timings


def report(label: str, timings: dict[str, list[float]]) -> None:
    for operation, values in timings.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        print(f"| {label} | {operation} | {len(values)} | {statistics.median(values) * 1000:.2f} | {p95 * 1000:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="credentials to store and read (default 200)")
    args = parser.parse_args()

    print("| store | operation | calls | median (ms) | p95 (ms) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        registry = RunRegistry(f"sqlite:///{folder}/registry.db")
        try:
            store = DatabaseCredentialStore(registry, key=generate_key(), home=Path(folder))
            report("database (SQLite)", time_store(store, args.count))
        finally:
            registry.dispose()

    vault = FakeVault()
    url = vault.start()
    try:
        report("vault (fake server)", time_store(VaultCredentialStore(url, TOKEN), args.count))
    finally:
        vault.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
