import json

import pytest

from operatorflow import cli
from operatorflow.status import RunStatus


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OPERATORFLOW_HOME", str(home))
    return home


def _json(capsys):
    out = capsys.readouterr().out
    return json.loads(out)


def test_workflows_list_json_names_both_examples(home, capsys):
    code = cli.main(["workflows", "list", "--json"])

    names = {w["name"]: w for w in _json(capsys)}
    assert code == 0
    assert names["shakespeare-wordcount"]["kind"] == "notebook"
    assert [p["name"] for p in names["shakespeare-wordcount"]["parameters"]] == ["input_path", "top_n"]
    assert names["taxi-tip-trainer"]["kind"] == "pipeline"


def test_run_prints_id_and_warns_without_worker(home, capsys):
    code = cli.main(["run", "shakespeare-wordcount", "--param", "top_n=3", "--user", "ada"])

    captured = capsys.readouterr()
    run_id = captured.out.strip()
    assert code == 0
    assert len(run_id) == 12
    assert "no worker is running" in captured.err


def test_runs_show_json_is_one_document(home, capsys):
    cli.main(["--user", "ada", "run", "shakespeare-wordcount", "--json"])
    run_id = _json(capsys)["id"]

    code = cli.main(["runs", "show", run_id, "--json", "--user", "ada"])

    document = _json(capsys)
    assert code == 0
    assert document["id"] == run_id
    assert document["status"] == "QUEUED"
    assert document["parameters"]["top_n"] == "20"


def test_runs_cancel_cancels_queued_run(home, capsys):
    cli.main(["run", "shakespeare-wordcount", "--json"])
    run_id = _json(capsys)["id"]

    code = cli.main(["runs", "cancel", run_id])

    assert code == 0
    assert capsys.readouterr().out.strip() == f"{run_id} {RunStatus.CANCELED.value}"


def test_runs_list_shows_only_own_runs(home, capsys):
    cli.main(["run", "shakespeare-wordcount", "--user", "ada"])
    capsys.readouterr()

    cli.main(["runs", "list", "--json", "--user", "grace"])

    assert _json(capsys) == []


def test_bad_param_syntax_exits_2_with_fix(home, capsys):
    code = cli.main(["run", "shakespeare-wordcount", "--param", "top_n"])

    assert code == 2
    assert "write it as KEY=VALUE" in capsys.readouterr().err


def test_unknown_parameter_exits_2_and_queues_nothing(home, capsys):
    code = cli.main(["run", "shakespeare-wordcount", "--param", "colour=red"])
    err = capsys.readouterr().err
    cli.main(["runs", "list", "--json"])

    assert code == 2
    assert "Unknown parameter(s) colour for shakespeare-wordcount" in err
    assert _json(capsys) == []


def test_unknown_run_exits_not_permitted(home, capsys):
    code = cli.main(["runs", "show", "0000"])

    assert code == cli.EXIT_NOT_PERMITTED
    assert "not permitted to view run '0000', or it does not exist" in capsys.readouterr().err


def test_json_error_is_one_json_document(home, capsys):
    code = cli.main(["runs", "show", "0000", "--json"])

    document = _json(capsys)
    assert code == cli.EXIT_NOT_PERMITTED
    assert document["error"]["type"] == "PermissionDenied"
    assert "not permitted to view run '0000', or it does not exist" in document["error"]["message"]

