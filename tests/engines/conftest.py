"""Session fixtures of the engine tests: Spark servers (a standalone master and a Spark Connect server) and a busybox image."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from tests.spark_servers import ConnectServer, StandaloneCluster


@dataclasses.dataclass(frozen=True)
class SparkServers:
    standalone: StandaloneCluster
    connect: ConnectServer


@pytest.fixture(scope="session")
def spark_servers(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("spark-servers")
    # Both start before either is awaited, so their JVMs start side by side.
    standalone = StandaloneCluster(work_dir / "standalone", cores=1, memory="1g")
    connect = None
    try:
        connect = ConnectServer(work_dir / "connect", master="local[1]")
        standalone.wait_ready()
        connect.wait_ready()
        yield SparkServers(standalone=standalone, connect=connect)
    finally:
        if connect is not None:
            connect.stop()
        standalone.stop()


@pytest.fixture(scope="session")
def busybox_image():
    """A busybox image imported into podman's local storage for the session; skips when podman cannot run it."""
    from tests.container_images import check_runs, find_podman_problem, import_busybox_image, remove_image

    problem = find_podman_problem()
    if problem is not None:
        pytest.skip(f"container tests need podman: {problem}")
    podman = shutil.which("podman")
    image = import_busybox_image(podman)
    try:
        error = check_runs(podman, image)
        if error is not None:
            pytest.skip(f"podman cannot run a container here: {error}")
        yield image
    finally:
        remove_image(podman, image)
