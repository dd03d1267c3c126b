"""Time building and pushing the sample image through OperatorFlow and with podman directly.

Usage: `.venv/bin/python benchmarks/images.py [--repeat N]`. Needs podman, a static
/usr/bin/busybox and /usr/bin/docker-registry (see scripts/test-services.sh).

Through OperatorFlow means: `ImageService.submit_build` or `submit_push` starts a background job,
and the clock stops when the job's record shows it finished, which is when the page's log shows the
end. Directly means the same `podman build` or `podman push` command in a subprocess. Each build
gets a new GREETING build argument, so its RUN step never comes from podman's cache. The runs
alternate, so drift on the machine hits both sides alike. The registry listing is timed on its own,
with the listing cache bypassed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from operatorflow.images import ImageJobStatus, ImageService  # noqa: E402
from operatorflow.settings import load_settings  # noqa: E402
from tests.images.conftest import (  # noqa: E402
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    SAMPLE_CONTEXT,
    RegistryServer,
    import_busybox_base,
    remove_local_images,
)

USER = "benchmark"
STEP_TIMEOUT_SECONDS = 300


def time_job(images: ImageService, start) -> float:
    started = time.perf_counter()
    job = start()
    finished = images.jobs.wait_for_job(USER, job.id, STEP_TIMEOUT_SECONDS)
    elapsed = time.perf_counter() - started
    if finished.status is not ImageJobStatus.SUCCEEDED:
        raise SystemExit(f"{job.action.value} failed:\n{images.jobs.read_job_log(USER, job.id)}")
    return elapsed


def time_command(arguments: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(arguments, check=True, capture_output=True, timeout=STEP_TIMEOUT_SECONDS)
    return time.perf_counter() - started


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step on each side (default 3)")
    args = parser.parse_args()
    podman = shutil.which("podman")
    if podman is None:
        raise SystemExit("podman is missing: apt-get install podman runc")

    with tempfile.TemporaryDirectory(prefix="operatorflow-images-benchmark-") as scratch:
        folder = Path(scratch)
        (folder / "registry").mkdir()
        registry = RegistryServer(folder / "registry").start()
        base = f"localhost/operatorflow-benchmark-base:{uuid.uuid4().hex[:8]}"
        import_busybox_base(podman, folder, base)
        settings = load_settings(home=folder / "home", registry_url=f"{registry.host}/bench",
                                 registry_username=REGISTRY_USER, registry_password=REGISTRY_PASSWORD,
                                 image_builder="podman")
        images = ImageService(settings)
        auth_file = folder / "auth.json"
        auth_file.write_text(_auth_document(registry.host), encoding="utf-8")
        times: dict[str, list[float]] = {key: [] for key in ("build-of", "build-direct", "push-of", "push-direct",
                                                              "list")}
        try:
            for run in range(args.repeat):
                tag = f"sample:run{run}"
                reference = f"{settings.registry_url}/{tag}"
                direct = f"{settings.registry_url}/direct:run{run}"
                build_args = {"BASE_IMAGE": base, "GREETING": uuid.uuid4().hex}
                times["build-of"].append(time_job(images, lambda: images.submit_build(
                    USER, str(SAMPLE_CONTEXT), tag, build_args)))
                times["build-direct"].append(time_command([
                    podman, "build", "--file", str(SAMPLE_CONTEXT / "Dockerfile"), "--tag", direct,
                    "--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"GREETING={uuid.uuid4().hex}",
                    str(SAMPLE_CONTEXT),
                ]))
                times["push-of"].append(time_job(images, lambda: images.submit_push(USER, tag)))
                times["push-direct"].append(time_command([
                    podman, "push", "--tls-verify=false", "--authfile", str(auth_file), direct, f"docker://{direct}",
                ]))
                started = time.perf_counter()
                listed = images.list_pushed_images(refresh=True)
                times["list"].append(time.perf_counter() - started)
                assert reference in listed, listed
        finally:
            registry.stop()
            remove_local_images(f"{settings.registry_url}/")
            subprocess.run([podman, "rmi", "--force", base], capture_output=True, timeout=120)

    print("| step | through OperatorFlow, median (min-max) | podman directly, median (min-max) |")
    print("|---|---|---|")
    print(f"| build (RUN step not cached) | {summary(times['build-of'])} | {summary(times['build-direct'])} |")
    print(f"| push to docker-registry | {summary(times['push-of'])} | {summary(times['push-direct'])} |")
    print(f"| list the registry path (2 repositories, up to {args.repeat} tags each) | {summary(times['list'])} | - |")


def _auth_document(host: str) -> str:
    import base64
    import json

    token = base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": token}}})


if __name__ == "__main__":
    main()
