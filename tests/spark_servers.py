"""A Spark standalone master and worker, and a Spark Connect server, started from the pip pyspark package on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyspark

logger = logging.getLogger(__name__)

SPARK_HOME = Path(pyspark.__file__).resolve().parent
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class SparkProcess:
    """One JVM started with `spark-class` or `spark-submit`, in its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], work_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = work_dir / f"{name}.log"
        work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=work_dir, env=env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        logger.info("Spark %s started as process %d, log %s", name, self.process.pid, self.log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"Spark {self.name} exited with code {self.process.returncode}: "
                               f"{_tail(self.log_path)}")

    def stop(self) -> None:
        """Send SIGTERM to the process group this process leads, then SIGKILL after the timeout."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning("Spark %s (process %d) ignored SIGTERM; sending SIGKILL", self.name, self.pid)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT_SECONDS)
        logger.info("Spark %s (process %d) stopped", self.name, self.pid)


class StandaloneCluster:
    """A standalone master and one worker; `url` is the `spark://` master URL."""

    def __init__(self, work_dir: Path, cores: int = 1, memory: str = "1g") -> None:
        port, self.master_ui_port, worker_ui_port = free_port(), free_port(), free_port()
        self.url = f"spark://{HOST}:{port}"
        env = spark_environment(work_dir)
        self.master = SparkProcess("master", [
            str(SPARK_HOME / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
            "--host", HOST, "--port", str(port), "--webui-port", str(self.master_ui_port),
        ], work_dir, env)
        self.worker = SparkProcess("worker", [
            str(SPARK_HOME / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker", self.url,
            "--host", HOST, "--webui-port", str(worker_ui_port), "--cores", str(cores), "--memory", memory,
        ], work_dir, env)

    def wait_ready(self, timeout_seconds: float = START_TIMEOUT_SECONDS) -> None:
        """Wait until the master reports one alive worker."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            self.master.check_alive()
            self.worker.check_alive()
            if self.master_state().get("aliveworkers", 0) >= 1:
                logger.info("Spark standalone cluster %s ready", self.url)
                return
            time.sleep(0.5)
        raise TimeoutError(f"Spark master {self.url} had no alive worker after {timeout_seconds:.0f} s: "
                           f"{_tail(self.worker.log_path)}")

    def master_state(self) -> dict:
        """Return the master's JSON status (workers, running and completed applications), or {} before it responds."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.master_ui_port}/json/", timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return {}

    def stop(self) -> None:
        # The worker goes first, so the master does not log it as lost.
        self.worker.stop()
        self.master.stop()


class ConnectServer:
    """A Spark Connect server running its own driver on `master`; `url` is the `sc://` URL."""

    def __init__(self, work_dir: Path, master: str = "local[1]") -> None:
        self.port = free_port()
        self.url = f"sc://{HOST}:{self.port}"
        self.server = SparkProcess("connect", [
            str(SPARK_HOME / "bin" / "spark-submit"),
            "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master", master,
            "--conf", f"spark.connect.grpc.binding.port={self.port}",
            "--conf", f"spark.connect.grpc.binding.address={HOST}",
            "--conf", "spark.ui.enabled=false",
            "--conf", f"spark.sql.warehouse.dir={work_dir / 'spark-warehouse'}",
        ], work_dir, spark_environment(work_dir))

    def wait_ready(self, timeout_seconds: float = START_TIMEOUT_SECONDS) -> None:
        """Wait until the server accepts TCP connections on its gRPC port."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            self.server.check_alive()
            try:
                with socket.create_connection((HOST, self.port), timeout=2):
                    logger.info("Spark Connect server %s ready", self.url)
                    return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"Spark Connect server {self.url} did not listen after {timeout_seconds:.0f} s: "
                           f"{_tail(self.server.log_path)}")

    def stop(self) -> None:
        self.server.stop()


def spark_environment(work_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": HOST,
        # Keeps executor folders out of site-packages.
        "SPARK_WORKER_DIR": str(work_dir / "worker"),
        "PYSPARK_PYTHON": sys.executable,
        # The master's REST submission server would take the fixed port 6066.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])
