"""The local-spark engine factory and the Java check that guards it."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from operatorflow.engines.base import EngineRun
from operatorflow.engines.process import SPEC_FILE
from operatorflow.engines.spark_local import check_java, make_local_spark_engine
from operatorflow.settings import PROJECT_DIR, Settings
from operatorflow.workflows import Workflow, WorkflowKind

ENVIRONMENT_NOTEBOOK = """\
# Databricks notebook source
import json
import os

names = ["SPARK_LOCAL_IP", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"]
dbutils.notebook.exit(json.dumps({"cwd": os.getcwd(), **{name: os.environ.get(name) for name in names}}))
"""

JAVA_FIX = (
    "Install Java 17 or newer: apt-get install openjdk-17-jre-headless, or set JAVA_HOME to a Java 17+ installation."
)


def fake_java_home(folder: Path, version_output: str, exit_code: int = 0) -> Path:
    """Create `folder/bin/java` that prints `version_output` to standard error, as `java -version` does."""
    java = folder / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{version_output}\nEOF\nexit {exit_code}\n")
    java.chmod(0o755)
    return folder


def test_engine_sets_folder_environment_and_spec(tmp_path):
    settings = Settings(home=tmp_path / "home", project_dir=PROJECT_DIR, spark_master="local[1]",
                        spark_driver_memory="512m", s3_endpoint_url="http://127.0.0.1:9")
    engine = make_local_spark_engine(settings)
    notebook = tmp_path / "environment.py"
    notebook.write_text(textwrap.dedent(ENVIRONMENT_NOTEBOOK))
    workflow = Workflow(name="environment", kind=WorkflowKind.NOTEBOOK, path=notebook, engine="local-spark")
    run = EngineRun(run_id="env1", workflow=workflow, parameters={}, output_location=str(tmp_path / "out"),
                    run_dir=tmp_path / "run")

    engine_run_id = engine.submit_run(run)
    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        time.sleep(0.2)
        status = engine.get_run_status(engine_run_id, run)
        if status.status.is_terminal:
            break
    spec = json.loads((run.run_dir / SPEC_FILE).read_text())

    assert engine.name == "local-spark"
    assert status is not None and status.result is not None, (run.run_dir / "run.log").read_text()
    assert json.loads(status.result) == {
        "cwd": str(PROJECT_DIR),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    assert spec["spark_master"] == "local[1]"
    assert spec["spark_driver_memory"] == "512m"
    assert spec["s3_endpoint_url"] == "http://127.0.0.1:9"


def test_check_java_accepts_installed_java():
    message = check_java()

    assert message is None


@pytest.mark.parametrize("version", ['openjdk version "17.0.15" 2025-04-15', 'java version "21" 2023-09-19'])
def test_check_java_accepts_17_and_newer(tmp_path, monkeypatch, version):
    monkeypatch.setenv("JAVA_HOME", str(fake_java_home(tmp_path, version)))

    message = check_java()

    assert message is None


@pytest.mark.parametrize(
    ("version", "major"),
    [('java version "1.8.0_392"', 8), ('openjdk version "11.0.21" 2023-10-17', 11)],
)
def test_check_java_rejects_old_java(tmp_path, monkeypatch, version, major):
    home = fake_java_home(tmp_path, version)
    monkeypatch.setenv("JAVA_HOME", str(home))

    message = check_java()

    assert message == (
        f"Java {major} at {home / 'bin' / 'java'} is too old for PySpark 4, which needs Java 17. {JAVA_FIX}"
    )


def test_check_java_reports_unreadable_version(tmp_path, monkeypatch):
    home = fake_java_home(tmp_path, "Error: could not open jvm.cfg", exit_code=1)
    monkeypatch.setenv("JAVA_HOME", str(home))

    message = check_java()

    assert message == (
        f"Could not read the Java version from {home / 'bin' / 'java'} -version "
        f"(Error: could not open jvm.cfg). {JAVA_FIX}"
    )


def test_check_java_reports_wrong_java_home(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))

    message = check_java()

    assert message == f"JAVA_HOME is {tmp_path / 'no-jdk'}, but {tmp_path / 'no-jdk' / 'bin' / 'java'} does not exist. {JAVA_FIX}"


def test_check_java_reports_missing_java(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    message = check_java()

    assert message == f"Java was not found on PATH, and local Spark runs need it. {JAVA_FIX}"
