import pytest

from operatorflow.errors import InvalidInput, NotFound, PermissionDenied
from operatorflow.status import RunStatus

NOTEBOOK = "shakespeare-wordcount"


def test_submit_fills_defaults_and_output_location(service):
    run = service.submit_run("ada", NOTEBOOK, {"top_n": "7"})

    assert run.status is RunStatus.QUEUED
    assert run.parameters["top_n"] == "7"
    assert run.parameters["input_path"] == "examples/data/tinyshakespeare.txt"
    assert run.output_location.endswith(f"/{NOTEBOOK}/{run.id}")


def test_submit_unknown_parameter_is_rejected_before_queueing(service):
    with pytest.raises(InvalidInput, match="Unknown parameter.*topn.*accepts: input_path, top_n"):
        service.submit_run("ada", NOTEBOOK, {"topn": "7"})

    assert service.list_runs("ada") == []


def test_submit_unknown_workflow_names_known_ones(service):
    with pytest.raises(NotFound, match="No workflow named 'nope'.*shakespeare-wordcount"):
        service.submit_run("ada", "nope")


def test_output_location_placeholder_takes_run_id(service, tmp_path):
    run = service.submit_run("ada", NOTEBOOK, output_location=str(tmp_path / "out" / "{run_id}"))

    assert run.output_location == str(tmp_path / "out" / run.id)


def test_output_location_that_is_a_file_is_rejected(service, tmp_path):
    existing = tmp_path / "file.txt"
    existing.write_text("x")

    with pytest.raises(InvalidInput, match="is an existing file"):
        service.submit_run("ada", NOTEBOOK, output_location=str(existing))


def test_other_users_run_is_not_permitted(service):
    run = service.submit_run("ada", NOTEBOOK)

    with pytest.raises(PermissionDenied, match=f"You are not permitted to view run '{run.id}', or it does not exist"):
        service.get_run("grace", run.id)
    with pytest.raises(PermissionDenied, match=f"not permitted to cancel run '{run.id}'"):
        service.cancel_run("grace", run.id)
    assert service.list_runs("grace") == []


def test_invalid_user_name_is_rejected(service):
    with pytest.raises(InvalidInput, match="Invalid user name"):
        service.list_runs("../etc")


def test_workflow_status_running_while_users_run_active(service):
    service.submit_run("ada", NOTEBOOK)

    ada = {s.workflow.name: s.status for s in service.list_workflow_statuses("ada")}
    grace = {s.workflow.name: s.status for s in service.list_workflow_statuses("grace")}

    assert ada[NOTEBOOK] == "RUNNING"
    assert grace[NOTEBOOK] == "AVAILABLE"


def test_cancel_finished_run_says_nothing_to_cancel(service):
    run = service.submit_run("ada", NOTEBOOK)
    service.cancel_run("ada", run.id)

    with pytest.raises(InvalidInput, match="already ended CANCELED"):
        service.cancel_run("ada", run.id)


def test_read_output_outside_run_is_not_found(service):
    run = service.submit_run("ada", NOTEBOOK)

    with pytest.raises(NotFound):
        service.read_output_object("ada", run.id, "/etc/passwd")


def test_malformed_catalog_file_is_listed_as_problem(settings, tmp_path):
    from operatorflow.factory import build_service
    from operatorflow.settings import load_settings

    catalog = tmp_path / "catalog"
    (catalog / "notebooks").mkdir(parents=True)
    (catalog / "notebooks" / "broken_notebook.py").write_text("print('no Databricks header')\n")
    service = build_service(load_settings(home=tmp_path / "home", catalog_dir=catalog, worker="none"))

    problems = service.list_catalog_problems()

    # Only the built-in container-image workflow, which needs no catalog file, is left.
    assert [w.name for w in service.list_workflows()] == ["container-image"]
    assert [name for name, _ in problems] == ["broken-notebook"]
    assert "broken_notebook.py" in problems[0][1]


def test_submit_on_unconfigured_engine_is_rejected(service):
    with pytest.raises(InvalidInput, match="Engine 'databricks' cannot run shakespeare-wordcount; available: local-spark"):
        service.submit_run("ada", NOTEBOOK, engine="databricks")


def test_list_engines_puts_default_first(service):
    assert service.list_engines(NOTEBOOK)[0] == "local-spark"


def test_wrong_typed_pipeline_parameter_rejected(service):
    with pytest.raises(InvalidInput, match="Invalid value 'abc' for test_fraction: expected a number, such as 0.2"):
        service.submit_run("ada", "taxi-tip-trainer", {"test_fraction": "abc"})

    assert service.list_runs("ada") == []
