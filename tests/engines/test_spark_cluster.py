"""The spark-cluster engine on a real standalone master and a real Spark Connect server, against the local engine."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from operatorflow.engines.base import EngineRun
from operatorflow.engines.process import SPEC_FILE
from operatorflow.engines.spark_cluster import make_spark_cluster_engine
from operatorflow.errors import InvalidInput
from operatorflow.factory import build_engines, build_service, configured_engines
from operatorflow.registry import Run
from operatorflow.settings import PROJECT_DIR, load_settings
from operatorflow.status import RunStatus
from operatorflow.worker import Worker
from operatorflow.workflows import Workflow, WorkflowKind
from tests.spark_servers import free_port

INPUT = PROJECT_DIR / "examples" / "data" / "tinyshakespeare.txt"
USER = "tester"
RUN_TIMEOUT_SECONDS = 300.0

SPARK_CONTEXT_NOTEBOOK = """\
# Databricks notebook source
from pyspark.sql import SparkSession

print(f"notebook builder returns the run's session: {SparkSession.builder.getOrCreate() is spark}")

# COMMAND ----------

numbers = sc.parallelize([1, 2, 3])
"""


@dataclasses.dataclass(frozen=True)
class WordCount:
    run: Run
    result: dict
    counts_csv: str
    log: str


def run_wordcount(home: Path, engine: str, **settings_overrides: str) -> WordCount:
    """Run the catalog's word count on Tiny Shakespeare through the service and a worker, and wait for its end."""
    settings = load_settings(home=home, worker="none", poll_seconds=0.05, spark_driver_memory="1g",
                             **settings_overrides)
    service = build_service(settings)
    try:
        worker = Worker(service, build_engines(settings), worker_id=f"test-{engine}")
        run = service.submit_run(USER, "shakespeare-wordcount", {"input_path": str(INPUT), "top_n": "25"},
                                 engine=engine)
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while not run.status.is_terminal and time.monotonic() < deadline:
            worker.run_once()
            run = service.get_run(USER, run.id)
            time.sleep(0.2)

        log = service.read_run_log(USER, run.id)
        assert run.status is RunStatus.SUCCEEDED, f"{run.status}: {run.error_message}\n{log[-3000:]}"
        csv_files = sorted(Path(run.output_location, "word_counts").glob("part-*.csv"))
        assert len(csv_files) == 1, csv_files
        return WordCount(run, service.get_run_result(USER, run.id), csv_files[0].read_text(), log)
    finally:
        service.registry.dispose()


def wait_for_engine_run(engine, engine_run_id: str, run: EngineRun):
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    status = engine.get_run_status(engine_run_id, run)
    while not status.status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.2)
        status = engine.get_run_status(engine_run_id, run)
    return status


@pytest.fixture(scope="module")
def local_wordcount(tmp_path_factory):
    return run_wordcount(tmp_path_factory.mktemp("local-wordcount"), "local-spark")


# Settings and factory

@pytest.mark.parametrize("master", ["local[2]", "spark://", "sc://", "http://127.0.0.1:7077", "127.0.0.1:7077"])
def test_engine_rejects_invalid_master(tmp_path, master):
    settings = load_settings(home=tmp_path, spark_cluster_master=master)

    with pytest.raises(InvalidInput) as raised:
        make_spark_cluster_engine(settings)

    assert str(raised.value) == (
        f"Invalid OPERATORFLOW_SPARK_CLUSTER_MASTER {master!r}: use spark://host:port for a standalone master "
        "or sc://host:port for a Spark Connect server, or leave it empty to disable the spark-cluster engine."
    )


def test_engine_is_offered_only_when_master_set(tmp_path):
    disabled = load_settings(home=tmp_path)
    enabled = load_settings(home=tmp_path, spark_cluster_master="spark://127.0.0.1:7077")

    disabled_names = configured_engines(disabled, WorkflowKind.NOTEBOOK)
    enabled_names = configured_engines(enabled, WorkflowKind.NOTEBOOK)
    pipeline_names = configured_engines(enabled, WorkflowKind.PIPELINE)

    assert "spark-cluster" not in disabled_names
    assert "spark-cluster" not in build_engines(disabled)
    assert enabled_names[:2] == ["local-spark", "spark-cluster"]
    assert build_engines(enabled)["spark-cluster"].name == "spark-cluster"
    assert "spark-cluster" not in pipeline_names


def test_master_read_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_SPARK_CLUSTER_MASTER", "sc://127.0.0.1:15002")

    settings = load_settings(home=tmp_path)

    assert settings.spark_cluster_master == "sc://127.0.0.1:15002"


@pytest.mark.parametrize(
    ("master", "driver_host"),
    [("spark://127.0.0.1:7077", "127.0.0.1"), ("sc://127.0.0.1:15002", None)],
)
def test_spec_carries_master_and_driver_host(tmp_path, master, driver_host):
    settings = load_settings(home=tmp_path, spark_cluster_master=f" {master} ", spark_driver_memory="3g")
    engine = make_spark_cluster_engine(settings)
    notebook = tmp_path / "exit.py"
    notebook.write_text("# Databricks notebook source\ndbutils.notebook.exit('done')\n")
    workflow = Workflow(name="exit", kind=WorkflowKind.NOTEBOOK, path=notebook, engine="local-spark")
    run = EngineRun(run_id="spec1", workflow=workflow, parameters={}, output_location=str(tmp_path / "out"),
                    run_dir=tmp_path / "run")

    status = wait_for_engine_run(engine, engine.submit_run(run), run)
    spec = json.loads((run.run_dir / SPEC_FILE).read_text())

    assert status.status is RunStatus.SUCCEEDED
    assert spec["spark_master"] == master
    assert spec["spark_driver_memory"] == "3g"
    assert spec.get("spark_driver_host") == driver_host


# Real clusters

@pytest.mark.spark
def test_wordcount_on_standalone_equals_local(tmp_path, spark_servers, local_wordcount):
    cluster = spark_servers.standalone

    on_cluster = run_wordcount(tmp_path, "spark-cluster", spark_cluster_master=cluster.url)

    assert on_cluster.run.engine == "spark-cluster"
    assert on_cluster.result == local_wordcount.result
    assert on_cluster.counts_csv == local_wordcount.counts_csv
    assert f"Spark start session for run {on_cluster.run.id}: master {cluster.url}" in on_cluster.log
    applications = [app["name"] for app in cluster.master_state()["completedapps"]]
    assert f"operatorflow-{on_cluster.run.id}" in applications


@pytest.mark.spark
def test_wordcount_on_connect_equals_local(tmp_path, spark_servers, local_wordcount):
    server = spark_servers.connect

    on_server = run_wordcount(tmp_path, "spark-cluster", spark_cluster_master=server.url)

    assert on_server.run.engine == "spark-cluster"
    assert on_server.result == local_wordcount.result
    assert on_server.counts_csv == local_wordcount.counts_csv
    assert f"Spark Connect session for run {on_server.run.id}: server {server.url}" in on_server.log


@pytest.mark.spark
def test_spark_context_on_connect_fails_clearly(tmp_path, spark_servers):
    url = spark_servers.connect.url
    engine = make_spark_cluster_engine(load_settings(home=tmp_path, spark_cluster_master=url))
    notebook = tmp_path / "uses_sc.py"
    notebook.write_text(SPARK_CONTEXT_NOTEBOOK)
    workflow = Workflow(name="uses-sc", kind=WorkflowKind.NOTEBOOK, path=notebook, engine="local-spark")
    run = EngineRun(run_id="sc1", workflow=workflow, parameters={}, output_location=str(tmp_path / "out"),
                    run_dir=tmp_path / "run")

    status = wait_for_engine_run(engine, engine.submit_run(run), run)
    log = (run.run_dir / "run.log").read_text()

    assert status.status is RunStatus.FAILED
    assert status.error_message == (
        f"Cell 2 (python), line 1, failed: InvalidInput: sc.parallelize is not available: this run uses the "
        f"Spark Connect server {url}, which has no SparkContext (sc). Use the DataFrame API of `spark` instead, "
        "or run the notebook on an engine with a standalone or local master."
    )
    assert "notebook builder returns the run's session: True" in log


def test_unreachable_connect_server_fails_fast(tmp_path):
    url = f"sc://127.0.0.1:{free_port()}"
    engine = make_spark_cluster_engine(load_settings(home=tmp_path, spark_cluster_master=url))
    notebook = tmp_path / "count.py"
    notebook.write_text("# Databricks notebook source\nspark.range(3).count()\n")
    workflow = Workflow(name="count", kind=WorkflowKind.NOTEBOOK, path=notebook, engine="local-spark")
    run = EngineRun(run_id="down1", workflow=workflow, parameters={}, output_location=str(tmp_path / "out"),
                    run_dir=tmp_path / "run")

    status = wait_for_engine_run(engine, engine.submit_run(run), run)

    assert status.status is RunStatus.FAILED
    assert status.error_message == (
        f"Cell 1 (python) failed: BackendUnavailable: Could not connect to the Spark Connect server {url} for run "
        "down1: [Errno 111] Connection refused. Check that the server runs and that the spark_cluster_master "
        "setting names its host and port."
    )
