"""`operatorflow kubeflow` and `operatorflow run --engine kubeflow` against the fake Kubeflow Pipelines server."""

from __future__ import annotations

import json

import pytest

from operatorflow import cli
from operatorflow.status import RunStatus
from tests.engines.test_kubeflow import NAMESPACE, SERVER_SPEC, upload
from tests.kfp_fake import TOKEN, FakeKubeflow


@pytest.fixture
def fake():
    server = FakeKubeflow()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path, monkeypatch, fake):
    monkeypatch.setenv("OPERATORFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("OPERATORFLOW_WORKER", "none")
    monkeypatch.setenv("OPERATORFLOW_POLL_SECONDS", "0.05")
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_HOST", fake.host)
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_TOKEN", TOKEN)
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_NAMESPACE", "kubeflow-user-{user}")
    return tmp_path / "home"


def test_pipelines_json_lists_stored_pipelines(home, fake, tmp_path, capsys):
    upload(fake, tmp_path, "fraud-model", SERVER_SPEC)
    capsys.readouterr()

    code = cli.main(["kubeflow", "pipelines", "--json", "--user", "ada"])

    assert code == cli.EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["description"]) for p in listed] == [("fraud-model", "")]


def test_runs_listed_page_by_page(home, fake, capsys):
    experiment = fake.add_experiment("operatorflow-ada", NAMESPACE)
    for name in ("r1", "r2"):
        fake.handle("POST", "/apis/v2beta1/runs", {}, {"Authorization": f"Bearer {TOKEN}"},
                    json.dumps({"experiment_id": experiment["experiment_id"], "display_name": name,
                                "pipeline_spec": SERVER_SPEC}).encode())
        fake.advance()

    first_code = cli.main(["kubeflow", "runs", "--page-size", "1", "--user", "ada"])
    first = capsys.readouterr().out.splitlines()
    token = first[-1].removeprefix("More: add --page-token ")
    second_code = cli.main(["kubeflow", "runs", "--page-size", "1", "--page-token", token, "--user", "ada", "--json"])
    second = json.loads(capsys.readouterr().out)

    assert (first_code, second_code) == (cli.EXIT_OK, cli.EXIT_OK)
    assert len(first) == 2
    assert " r2 " in first[0]
    assert [r["name"] for r in second["runs"]] == ["r1"]
    assert second["next_page_token"] == ""


def test_experiments_json(home, fake, capsys):
    fake.add_experiment("operatorflow-ada", NAMESPACE)

    code = cli.main(["kubeflow", "experiments", "--json", "--user", "ada"])

    listed = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_OK
    assert [(e["name"], e["namespace"]) for e in listed["experiments"]] == [("operatorflow-ada", NAMESPACE)]


def test_foreign_namespace_is_not_permitted(home, fake, capsys, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_NAMESPACE", "team-secret")

    code = cli.main(["kubeflow", "runs", "--user", "ada"])

    captured = capsys.readouterr()
    assert code == cli.EXIT_NOT_PERMITTED
    assert captured.err.strip() == (
        f"error: Kubeflow at {fake.host}: not permitted to list runs in namespace team-secret. Ask the Kubeflow "
        "administrator for access, or set OPERATORFLOW_KUBEFLOW_NAMESPACE to a namespace you may use."
    )
    assert "Traceback" not in captured.err


def test_kubeflow_commands_need_host(home, capsys, monkeypatch):
    monkeypatch.delenv("OPERATORFLOW_KUBEFLOW_HOST")

    code = cli.main(["kubeflow", "pipelines"])

    assert code == cli.EXIT_UNAVAILABLE
    assert capsys.readouterr().err.strip() == (
        "error: Kubeflow is not configured: set OPERATORFLOW_KUBEFLOW_HOST to the Kubeflow Pipelines endpoint."
    )


def test_run_catalog_pipeline_on_kubeflow_waits_for_success(home, fake, capsys):
    fake.advance_on_read = True

    code = cli.main(["run", "taxi-tip-trainer", "--engine", "kubeflow", "--param", "input_path=s3://trips/in.csv",
                     "--wait", "--timeout", "60", "--json", "--user", "ada"])

    finished = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_OK
    assert finished["status"] == RunStatus.SUCCEEDED.value
    assert finished["engine"] == "kubeflow"
    assert fake.run_named(finished["id"]).body["runtime_config"]["parameters"]["input_path"] == "s3://trips/in.csv"


def test_run_stored_pipeline_queues_it(home, fake, tmp_path, capsys):
    upload(fake, tmp_path, "fraud-model", SERVER_SPEC)
    capsys.readouterr()

    code = cli.main(["run", "kubeflow:fraud-model", "--param", "epochs=4", "--json", "--user", "ada"])

    queued = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_OK
    assert (queued["workflow"], queued["engine"], queued["status"]) == ("kubeflow:fraud-model", "kubeflow", "QUEUED")
    assert queued["parameters"] == {"input_path": "s3://data/in.csv", "epochs": "4"}
