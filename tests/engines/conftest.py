"""Spark servers started once per test session: a standalone master with one worker, and a Spark Connect server."""

from __future__ import annotations

import dataclasses

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
