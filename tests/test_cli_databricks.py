"""`operatorflow databricks` and `operatorflow run --engine databricks` against the fake workspace."""

from __future__ import annotations

import json

import pytest

from operatorflow import cli
from operatorflow.status import RunStatus
from tests.databricks_fake import FakeWorkspace


@pytest.fixture
def fake():
    workspace = FakeWorkspace()
    workspace.host = workspace.start()
    yield workspace
    workspace.stop()


@pytest.fixture
def home(tmp_path, monkeypatch, fake):
    monkeypatch.setenv("OPERATORFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPERATORFLOW_WORKER", "none")
    monkeypatch.setenv("OPERATORFLOW_DATABRICKS_HOST", fake.host)
    monkeypatch.setenv("OPERATORFLOW_DATABRICKS_TOKEN", "fake")
    return tmp_path / "home"


def test_notebooks_json_lists_workspace_folder(home, fake, capsys):
    fake.put_notebook("/Shared/operatorflow/shakespeare-wordcount", "print(1)\n")
    fake.put_notebook("/Shared/operatorflow/etl", "print(2)\n")

    code = cli.main(["databricks", "notebooks", "--json", "--user", "ada"])

    assert code == cli.EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert [(n["name"], n["status"], n["in_catalog"]) for n in listed] == [
        ("etl", "AVAILABLE", False),
        ("shakespeare-wordcount", "AVAILABLE", True),
    ]


def test_clusters_lists_id_state_and_name(home, fake, capsys):
    fake.add_cluster("0101-abc", "shared analytics")

    code = cli.main(["databricks", "clusters"])

    assert code == cli.EXIT_OK
    assert capsys.readouterr().out.split() == ["0101-abc", "RUNNING", "shared", "analytics"]


def test_run_on_databricks_engine_is_queued(home, capsys):
    code = cli.main(["run", "shakespeare-wordcount", "--engine", "databricks", "--json", "--user", "ada"])

    assert code == cli.EXIT_OK
    document = json.loads(capsys.readouterr().out)
    assert document["engine"] == "databricks"
    assert document["status"] == RunStatus.QUEUED.value


def test_commands_without_host_say_what_to_set(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPERATORFLOW_HOME", str(tmp_path / "home"))

    code = cli.main(["databricks", "clusters"])

    assert code == cli.EXIT_UNAVAILABLE
    assert capsys.readouterr().err.strip() == (
        "error: Databricks is not configured: set OPERATORFLOW_DATABRICKS_HOST or DATABRICKS_HOST to the workspace URL."
    )
