"""The main job end to end through the command line, a standalone worker and the real engines."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from operatorflow.factory import build_service
from operatorflow.settings import PROJECT_DIR, load_settings
from operatorflow.status import RunStatus

DATA = PROJECT_DIR / "examples" / "data"
SLOW_NOTEBOOK = """# Databricks notebook source
# MAGIC %md
# MAGIC # Slow notebook for restart tests

# COMMAND ----------

import time
dbutils.widgets.text("seconds", "8")
time.sleep(float(dbutils.widgets.get("seconds")))

# COMMAND ----------

dbutils.notebook.exit("slept")
"""


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPERATORFLOW_")}
    env.update({"OPERATORFLOW_HOME": str(home), "OPERATORFLOW_POLL_SECONDS": "0.2", **extra})
    return env


def _operatorflow(home: Path, *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "operatorflow.cli", *args], env=_env(home, **extra),
                          capture_output=True, text=True, timeout=timeout, cwd=PROJECT_DIR)


def _independent_top_words(path: Path, n: int) -> list[tuple[str, int]]:
    """The notebook's tokenisation, counted in plain Python: lower case, runs of [a-z'], outer quotes stripped."""
    counts = collections.Counter()
    for token in re.findall(r"[a-z']+", path.read_text().lower()):
        word = token.strip("'")
        if word:
            counts[word] += 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:n]


@pytest.mark.spark
def test_wordcount_from_command_line_matches_independent_count(tmp_path):
    result = _operatorflow(tmp_path / "home", "run", "shakespeare-wordcount", "--param", "top_n=10",
                           "--wait", "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "SUCCEEDED"
    top = [(w["word"], w["count"]) for w in document["result"]["top_words"]]
    assert top == _independent_top_words(DATA / "tinyshakespeare.txt", 10)
    assert Path(document["output_location"], "logs", "run.log").is_file()


@pytest.mark.pipeline
def test_taxi_trainer_then_predictions_for_unlabelled_file(tmp_path):
    home = tmp_path / "home"
    output = tmp_path / "models" / "{run_id}"

    result = _operatorflow(home, "run", "taxi-tip-trainer", "--output", str(output), "--wait", "--json")

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "SUCCEEDED"
    metrics = document["metrics"]
    assert {"accuracy", "auc", "rows_used"} <= set(metrics)
    assert metrics["accuracy"] > metrics["majority_baseline"]
    service = build_service(load_settings(home=home, worker="none"))
    assert [r.id for r in service.list_models("local")] == [document["id"]]
    unlabelled = (DATA / "chicago_taxi_trips_unlabelled.csv").read_bytes()
    predictions = service.predict("local", document["id"], unlabelled)
    assert len(predictions) == unlabelled.decode().strip().count("\n")
    assert predictions["big_tipper_probability"].between(0, 1).all()


def test_failed_run_exits_1_and_shows_reason(tmp_path):
    result = _operatorflow(tmp_path / "home", "run", "shakespeare-wordcount",
                           "--param", "input_path=examples/data/no-such-file.txt", "--wait")

    assert result.returncode == 1
    assert "FAILED" in result.stdout
    assert "no-such-file.txt" in result.stderr


class _Worker:
    """`python -m operatorflow.worker` in a child process, stopped by its PID."""

    def __init__(self, home: Path, catalog: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "operatorflow.worker"],
            env=_env(home, OPERATORFLOW_CATALOG_DIR=str(catalog), OPERATORFLOW_LEASE_SECONDS="5"),
            cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        return err


def _wait_for(service, run_id: str, statuses: set[RunStatus], seconds: float = 120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = service.get_run("local", run_id)
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} still {run.status} after {seconds} s")


def _wait_started(service, run_id: str, seconds: float = 60):
    """Wait until the worker has handed the run to its engine."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = service.get_run("local", run_id)
        if run.engine_run_id is not None:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} was not started within {seconds} s")


@pytest.fixture
def slow_catalog(tmp_path):
    catalog = tmp_path / "catalog"
    (catalog / "notebooks").mkdir(parents=True)
    (catalog / "pipelines").mkdir()
    (catalog / "notebooks" / "slow.py").write_text(SLOW_NOTEBOOK)
    return catalog


def test_worker_restart_mid_run_reattaches_and_finishes(tmp_path, slow_catalog):
    home = tmp_path / "home"
    service = build_service(load_settings(home=home, catalog_dir=slow_catalog, worker="none"))
    run = service.submit_run("local", "slow", {"seconds": "6"})
    first = _Worker(home, slow_catalog)
    _wait_started(service, run.id)

    first.kill()
    second = _Worker(home, slow_catalog)
    finished = _wait_for(service, run.id, {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
    log = second.stop()

    assert finished.status is RunStatus.SUCCEEDED, finished.error_message
    assert finished.result == "slept"
    assert f"re-attached to run {run.id}" in log


def test_dead_run_process_fails_with_reason(tmp_path, slow_catalog):
    home = tmp_path / "home"
    service = build_service(load_settings(home=home, catalog_dir=slow_catalog, worker="none"))
    run = service.submit_run("local", "slow", {"seconds": "30"})
    first = _Worker(home, slow_catalog)
    pid = int(_wait_started(service, run.id).engine_run_id)

    first.kill()
    os.killpg(pid, signal.SIGKILL)
    second = _Worker(home, slow_catalog)
    finished = _wait_for(service, run.id, {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED})
    second.stop()

    assert finished.status is RunStatus.FAILED
    assert "without writing a result" in finished.error_message
