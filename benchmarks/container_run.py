"""Time a small container run through OperatorFlow's local-container engine and with podman directly.

Usage: `.venv/bin/python benchmarks/container_run.py [--repeat N]`. It imports the busybox image
that the container tests use (podman and /bin/busybox must be installed). Through OperatorFlow
means: queue `container-image` with the service, the worker thread in this process starts the
runner process, which runs `podman run`, and the clock stops when the registry reports SUCCEEDED.
Directly means the same `podman run` command line with the same mounts. The runs alternate.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from operatorflow.factory import build_service  # noqa: E402
from operatorflow.settings import load_settings  # noqa: E402
from operatorflow.status import RunStatus  # noqa: E402
from operatorflow.worker import start_background_worker, stop_background_workers  # noqa: E402
from tests.container_images import import_busybox_image, remove_image  # noqa: E402

SCRIPT = '"echo counted; wc -l < {input}/tinyshakespeare.txt > {output}/lines.txt"'
RUN_TIMEOUT_SECONDS = 300


def time_direct(podman: str, image: str, options: list[str], output: Path) -> float:
    output.mkdir(parents=True)
    command = [
        podman, "run", "--rm", *options,
        "--volume", f"{output}:/mnt/output", "--volume", f"{PROJECT / 'examples/data'}:/mnt/input:ro",
        "--entrypoint", "sh", image, "-c", "echo counted; wc -l < /mnt/input/tinyshakespeare.txt > /mnt/output/lines.txt",
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=RUN_TIMEOUT_SECONDS)
    return time.perf_counter() - started


def time_through(service, image: str) -> float:
    started = time.perf_counter()
    run = service.submit_run("bench", "container-image", {
        "image": image, "command": "sh -c", "args": SCRIPT, "input": "examples/data",
    })
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run = service.get_run("bench", run.id)
        if run.status.is_terminal:
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if run.status is not RunStatus.SUCCEEDED:
        raise SystemExit(f"container-image run {run.id} ended {run.status.value}: {run.error_message}")
    return elapsed


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    podman = shutil.which("podman")
    if podman is None:
        raise SystemExit("podman is not installed: apt-get install podman runc")

    image = import_busybox_image(podman)
    with tempfile.TemporaryDirectory(prefix="operatorflow-bench-") as folder:
        settings = load_settings(home=Path(folder) / "home")
        service = build_service(settings)
        start_background_worker(service)
        options = settings.local_container_run_options.split()
        direct, through = [], []
        try:
            for index in range(args.repeat):
                direct.append(time_direct(podman, image, options, Path(folder) / f"direct-{index}"))
                through.append(time_through(service, image))
        finally:
            stop_background_workers()
            service.registry.dispose()
            remove_image(podman, image)

    overhead = statistics.median(through) - statistics.median(direct)
    print("| container run | through OperatorFlow, median (min-max) | podman run directly, median (min-max) | overhead |")
    print("|---|---|---|---|")
    print(f"| wc -l of tinyshakespeare.txt in busybox | {describe(through)} | {describe(direct)} | +{overhead:.2f} s |")


if __name__ == "__main__":
    main()
