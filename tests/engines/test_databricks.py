"""The databricks engine, driven by the real databricks-sdk against the fake workspace in tests/databricks_fake.py."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from databricks.sdk import WorkspaceClient

from operatorflow import errors, status
from operatorflow.clock import FakeClock
from operatorflow.databricks_catalog import build_databricks_catalog
from operatorflow.engines.base import EngineRun
from operatorflow.engines.databricks import DatabricksEngine, make_databricks_config, quartz_cron
from operatorflow.engines.databricks_config import resolve_databricks_host
from operatorflow.factory import build_engines, build_service, configured_engines
from operatorflow.status import RunStatus, status_from_databricks
from operatorflow.worker import Worker
from operatorflow.workflows import WorkflowKind
from tests.databricks_fake import MULTI_TASK_OUTPUT_MESSAGE, FakeSdkClock, FakeWorkspace, RunScript

WORD_COUNT = "shakespeare-wordcount"
NOTEBOOK_PATH = "/Shared/operatorflow/shakespeare-wordcount"
TOKEN_FIX = "Set OPERATORFLOW_DATABRICKS_TOKEN or DATABRICKS_TOKEN"
MAX_WORKER_PASSES = 20


@pytest.fixture
def fake():
    workspace = FakeWorkspace()
    workspace.host = workspace.start()
    yield workspace
    workspace.stop()


@pytest.fixture
def dbx_settings(settings, fake):
    return dataclasses.replace(settings, databricks_host=fake.host, databricks_token="fake")


@pytest.fixture
def sdk_clock():
    return FakeSdkClock()


@pytest.fixture
def engine(dbx_settings, sdk_clock):
    return make_engine(dbx_settings, sdk_clock)


def make_engine(settings, sdk_clock=None, clock=None) -> DatabricksEngine:
    config = make_databricks_config(settings, retry_timeout_seconds=60, clock=sdk_clock or FakeSdkClock())
    return DatabricksEngine(settings, config=config, clock=clock or FakeClock())


def engine_run(settings, run_id: str = "run0001", parameters=None,
               output_location: str = "s3://bucket/runs/run0001") -> EngineRun:
    from operatorflow.workflows import Catalog

    workflow = Catalog(settings.catalog_dir).get_workflow(WORD_COUNT)
    return EngineRun(run_id, workflow, parameters or {"top_n": "3"}, output_location, settings.runs_dir / run_id)


def poll_until_terminal(engine, engine_run_id, run, max_polls=10):
    statuses = []
    for _ in range(max_polls):
        result = engine.get_run_status(engine_run_id, run)
        statuses.append(result.status)
        if result.status.is_terminal:
            return statuses, result
    raise AssertionError(f"run {engine_run_id} did not end within {max_polls} polls: {statuses}")


# Status mapping


@pytest.mark.parametrize(
    ("life_cycle", "result", "expected"),
    [
        ("QUEUED", None, RunStatus.RUNNING),
        ("PENDING", None, RunStatus.RUNNING),
        ("RUNNING", None, RunStatus.RUNNING),
        ("TERMINATING", None, RunStatus.RUNNING),
        ("TERMINATED", "SUCCESS", RunStatus.SUCCEEDED),
        ("TERMINATED", "FAILED", RunStatus.FAILED),
        ("TERMINATED", "TIMEDOUT", RunStatus.FAILED),
        ("TERMINATED", "CANCELED", RunStatus.CANCELED),
        ("TERMINATED", "CANCELLED", RunStatus.CANCELED),
        ("SKIPPED", None, RunStatus.FAILED),
        ("INTERNAL_ERROR", "FAILED", RunStatus.FAILED),
    ],
)
def test_status_from_life_cycle_and_result(life_cycle, result, expected):
    assert status_from_databricks(life_cycle, result) is expected


@pytest.mark.parametrize(
    ("state", "code", "expected"),
    [
        ("QUEUED", None, RunStatus.RUNNING),
        ("BLOCKED", None, RunStatus.RUNNING),
        ("WAITING", None, RunStatus.RUNNING),
        ("TERMINATED", "SUCCESS", RunStatus.SUCCEEDED),
        ("TERMINATED", "USER_CANCELED", RunStatus.CANCELED),
        ("TERMINATED", "CANCELED", RunStatus.FAILED),
        ("TERMINATED", "RUN_EXECUTION_ERROR", RunStatus.FAILED),
        ("TERMINATED", "INTERNAL_ERROR", RunStatus.FAILED),
    ],
)
def test_status_object_wins_over_life_cycle(state, code, expected):
    # The older fields contain RUNNING, so a status mapped from them would differ in every terminal case.
    assert status_from_databricks("RUNNING", None, status_state=state, termination_code=code) is expected


def test_unknown_state_stays_running_and_warns_once(caplog, monkeypatch):
    monkeypatch.setattr(status, "_warned_databricks_states", set())
    caplog.set_level(logging.WARNING, logger="operatorflow.status")

    first = status_from_databricks("HIBERNATING")
    second = status_from_databricks("HIBERNATING")

    assert first is RunStatus.RUNNING
    assert second is RunStatus.RUNNING
    assert [r.getMessage() for r in caplog.records] == [
        "Unknown Databricks run state 'HIBERNATING' (None), treating the run as RUNNING"
    ]


def test_unknown_result_of_terminated_run_is_failed(caplog, monkeypatch):
    monkeypatch.setattr(status, "_warned_databricks_states", set())
    caplog.set_level(logging.WARNING, logger="operatorflow.status")

    mapped = status_from_databricks("TERMINATED", "PARTIALLY_DONE")

    assert mapped is RunStatus.FAILED
    assert "Unknown Databricks run result state 'TERMINATED' ('PARTIALLY_DONE')" in caplog.text


# Settings and credentials


def test_settings_repr_hides_token(dbx_settings):
    assert "fake" not in repr(dataclasses.replace(dbx_settings, databricks_token="fake"))
    assert "databricks_token" not in repr(dbx_settings)


def test_engine_enabled_only_when_host_resolves(settings, dbx_settings):
    assert configured_engines(settings, WorkflowKind.NOTEBOOK) == ["local-spark"]
    assert configured_engines(dbx_settings, WorkflowKind.NOTEBOOK) == ["local-spark", "databricks"]
    assert configured_engines(dbx_settings, WorkflowKind.PIPELINE) == ["local-pipeline"]
    assert "databricks" in build_engines(dbx_settings)
    assert "databricks" not in build_engines(settings)


def test_host_resolves_from_environment_then_profile(settings, tmp_path, monkeypatch):
    profile_file = tmp_path / "databrickscfg"
    profile_file.write_text("[DEFAULT]\nhost = https://default.example\n\n[team]\nhost = https://team.example\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(profile_file))

    from_default = resolve_databricks_host(settings)
    from_profile = resolve_databricks_host(dataclasses.replace(settings, databricks_profile="team"))
    monkeypatch.setenv("DATABRICKS_HOST", "https://env.example")
    from_environment = resolve_databricks_host(settings)
    from_settings = resolve_databricks_host(dataclasses.replace(settings, databricks_host="https://set.example"))

    assert from_default == "https://default.example"
    assert from_profile == "https://team.example"
    assert from_environment == "https://env.example"
    assert from_settings == "https://set.example"


def test_token_resolves_from_environment(dbx_settings, fake, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", "fake")
    engine = make_engine(dataclasses.replace(dbx_settings, databricks_token=""))

    clusters = engine.list_clusters()

    assert clusters == []


def test_missing_token_names_what_to_set(dbx_settings):
    settings = dataclasses.replace(dbx_settings, databricks_token="")

    with pytest.raises(errors.BackendUnavailable) as raised:
        make_engine(settings)

    assert f"No Databricks credentials for {settings.databricks_host}" in str(raised.value)
    assert TOKEN_FIX in str(raised.value)


def test_missing_host_names_what_to_set(settings):
    with pytest.raises(errors.BackendUnavailable) as raised:
        make_databricks_config(settings)

    assert str(raised.value).startswith(
        "Databricks is not configured: set OPERATORFLOW_DATABRICKS_HOST or DATABRICKS_HOST to the workspace URL"
    )


def test_rejected_token_is_permission_denied(dbx_settings):
    engine = make_engine(dataclasses.replace(dbx_settings, databricks_token="expired"))

    with pytest.raises(errors.PermissionDenied) as raised:
        engine.list_clusters()

    assert "denied the request to list clusters of" in str(raised.value)
    assert "Invalid access token." in str(raised.value)
    assert "OPERATORFLOW_DATABRICKS_TOKEN or DATABRICKS_TOKEN" in str(raised.value)
    assert "expired" not in str(raised.value)


# Submission


def test_submit_sends_notebook_task_on_autoscaling_cluster(engine, dbx_settings, fake):
    run = engine_run(dbx_settings)

    engine_run_id = engine.submit_run(run)

    [body] = fake.submit_bodies
    assert engine_run_id == str(fake.idempotency_tokens["run0001"])
    assert body["idempotency_token"] == "run0001"
    [task] = body["tasks"]
    assert task["task_key"] == "notebook"
    assert task["notebook_task"] == {
        "notebook_path": NOTEBOOK_PATH,
        "base_parameters": {"top_n": "3", "output_path": "s3://bucket/runs/run0001"},
    }
    # The latest LTS runtime and the smallest node type with 16 GB of the fake's lists.
    assert task["new_cluster"] == {
        "autoscale": {"min_workers": 1, "max_workers": 4},
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "m5.xlarge",
    }
    assert "existing_cluster_id" not in task


def test_submit_uses_existing_cluster_when_set(dbx_settings, fake):
    engine = make_engine(dataclasses.replace(dbx_settings, databricks_cluster_id="0101-abc"))

    engine.submit_run(engine_run(dbx_settings))

    [task] = fake.submit_bodies[0]["tasks"]
    assert task["existing_cluster_id"] == "0101-abc"
    assert "new_cluster" not in task
    assert fake.count("GET", "/api/2.1/clusters/spark-versions") == 0


def test_submit_uses_cluster_settings(dbx_settings, fake):
    settings = dataclasses.replace(dbx_settings, databricks_min_workers=2, databricks_max_workers=8,
                                   databricks_spark_version="14.3.x-scala2.12", databricks_node_type="m5.2xlarge")

    make_engine(settings).submit_run(engine_run(settings))

    [task] = fake.submit_bodies[0]["tasks"]
    assert task["new_cluster"] == {
        "autoscale": {"min_workers": 2, "max_workers": 8},
        "spark_version": "14.3.x-scala2.12",
        "node_type_id": "m5.2xlarge",
    }


def test_inverted_worker_range_is_invalid(dbx_settings, fake):
    settings = dataclasses.replace(dbx_settings, databricks_min_workers=5, databricks_max_workers=2)

    with pytest.raises(errors.InvalidInput) as raised:
        make_engine(settings).submit_run(engine_run(settings))

    assert str(raised.value).startswith("Invalid Databricks autoscaling range 5 to 2 workers")
    assert fake.submit_bodies == []


def test_submit_imports_notebook_source(engine, dbx_settings, fake):
    engine.submit_run(engine_run(dbx_settings))

    notebook = fake.notebooks[NOTEBOOK_PATH]
    local = (dbx_settings.catalog_dir / "notebooks" / "shakespeare_wordcount.py").read_bytes()
    assert notebook["content"] == local
    assert notebook["language"] == "PYTHON"


def test_import_skipped_when_notebook_unchanged(engine, dbx_settings, fake):
    engine.submit_run(engine_run(dbx_settings, run_id="run0001"))
    engine.submit_run(engine_run(dbx_settings, run_id="run0002"))
    restarted = make_engine(dbx_settings)
    restarted.submit_run(engine_run(dbx_settings, run_id="run0003"))

    assert fake.count("POST", "/api/2.0/workspace/import") == 1
    # The restarted engine has no memory of the import, so it compares with an export.
    assert fake.count("GET", "/api/2.0/workspace/export") == 2
    assert len(fake.runs) == 3


def test_import_repeated_when_workspace_copy_differs(engine, dbx_settings, fake):
    fake.put_notebook(NOTEBOOK_PATH, "# Databricks notebook source\nprint('an older version')\n")

    engine.submit_run(engine_run(dbx_settings))

    assert fake.count("POST", "/api/2.0/workspace/import") == 1
    assert b"dbutils.notebook.exit" in fake.notebooks[NOTEBOOK_PATH]["content"]


def test_burst_of_429_on_submit_yields_one_run(engine, dbx_settings, fake, sdk_clock):
    fake.throttle("POST", "/api/2.2/jobs/runs/submit", 3, retry_after=2)

    engine_run_id = engine.submit_run(engine_run(dbx_settings))

    assert fake.count("POST", "/api/2.2/jobs/runs/submit") == 4
    assert list(fake.runs) == [int(engine_run_id)]
    assert len(sdk_clock.slept) == 3
    assert all(seconds >= 2 for seconds in sdk_clock.slept)


def test_lost_answers_on_submit_still_yield_one_run(engine, dbx_settings, fake):
    # The service creates the run, then responds 503, and the SDK sends the request again.
    fake.throttle("POST", "/api/2.2/jobs/runs/submit", 2, status=503, error_code="TEMPORARILY_UNAVAILABLE",
                  after_processing=True)

    engine_run_id = engine.submit_run(engine_run(dbx_settings))

    assert fake.count("POST", "/api/2.2/jobs/runs/submit") == 3
    assert list(fake.runs) == [int(engine_run_id)]


def test_local_output_location_is_warned_about(engine, dbx_settings, caplog):
    run = engine_run(dbx_settings, output_location="/srv/outputs/run0001")

    engine.submit_run(run)

    assert "writes to /srv/outputs/run0001, a path on the cluster's own disk" in caplog.text
    assert "Warning: the output location /srv/outputs/run0001" in (run.run_dir / "run.log").read_text()


def test_request_limit_exceeded_without_429_is_retried(engine, dbx_settings, fake):
    fake.throttle("GET", "/api/2.1/clusters/list", 2, status=400, retry_after=None)
    fake.add_cluster("0101-abc", "shared")

    clusters = engine.list_clusters()

    assert [c.cluster_id for c in clusters] == ["0101-abc"]
    assert fake.count("GET", "/api/2.1/clusters/list") == 3
    assert engine.clock.monotonic() == 3.0


def test_endless_rate_limit_is_backend_unavailable(engine, dbx_settings, fake):
    fake.throttle("GET", "/api/2.1/clusters/list", 100, retry_after=30)

    with pytest.raises(errors.BackendUnavailable) as raised:
        engine.list_clusters()

    assert str(raised.value).startswith(f"Databricks at {fake.host} did not respond to the request to list clusters of")


# Status, output and cancel


def test_run_progresses_to_success_with_exit_value(engine, dbx_settings, fake):
    fake.script = RunScript(notebook_result=json.dumps({"total_words": 7}))
    run = engine_run(dbx_settings)
    engine_run_id = engine.submit_run(run)

    statuses, final = poll_until_terminal(engine, engine_run_id, run)

    assert statuses == [RunStatus.RUNNING] * 3 + [RunStatus.SUCCEEDED]
    assert final.result == '{"total_words": 7}'
    assert final.error_message is None
    log = (run.run_dir / "run.log").read_text()
    assert f"Databricks run {engine_run_id}: PENDING." in log
    assert f"Databricks run {engine_run_id}: TERMINATED SUCCESS." in log


@pytest.mark.parametrize("status_object", [True, False], ids=["status-object", "life-cycle-only"])
@pytest.mark.parametrize(
    ("result_state", "expected", "message"),
    [
        ("FAILED", RunStatus.FAILED, "ValueError: top_n must be a positive integer"),
        ("TIMEDOUT", RunStatus.FAILED, "Run timed out after 3600 seconds."),
        ("INTERNAL_ERROR", RunStatus.FAILED, "The cluster was lost."),
        ("CANCELED", RunStatus.CANCELED, "Run cancelled."),
    ],
)
def test_terminal_result_states(engine, dbx_settings, fake, status_object, result_state, expected, message):
    error = message if result_state == "FAILED" else None
    fake.script = RunScript(result_state=result_state, error=error, error_trace="Traceback: line 12",
                            state_message=message if error is None else "Task notebook failed.",
                            status_object=status_object)
    run = engine_run(dbx_settings)
    engine_run_id = engine.submit_run(run)

    _statuses, final = poll_until_terminal(engine, engine_run_id, run)

    assert final.status is expected
    assert final.error_message == message
    assert final.result is None


def test_failed_run_trace_goes_to_log(engine, dbx_settings, fake):
    fake.script = RunScript(result_state="FAILED", error="ZeroDivisionError: division by zero",
                            error_trace="Traceback (most recent call last):\n  cell 3\nZeroDivisionError")
    run = engine_run(dbx_settings)
    engine_run_id = engine.submit_run(run)

    _statuses, final = poll_until_terminal(engine, engine_run_id, run)

    assert final.error_message == "ZeroDivisionError: division by zero"
    log = (run.run_dir / "run.log").read_text()
    assert "Traceback (most recent call last):\n  cell 3\nZeroDivisionError" in log


def test_output_of_parent_run_is_rejected_by_fake(dbx_settings, fake, engine):
    engine_run_id = engine.submit_run(engine_run(dbx_settings))

    with pytest.raises(Exception) as raised:
        engine.client.jobs.get_run_output(int(engine_run_id))

    assert type(raised.value).__name__ == "InvalidParameterValue"
    assert str(raised.value) == MULTI_TASK_OUTPUT_MESSAGE


def test_cancel_ends_run_canceled(engine, dbx_settings, fake):
    run = engine_run(dbx_settings)
    engine_run_id = engine.submit_run(run)
    engine.get_run_status(engine_run_id, run)

    engine.cancel_run(engine_run_id, run)
    statuses, final = poll_until_terminal(engine, engine_run_id, run)

    assert statuses == [RunStatus.RUNNING, RunStatus.CANCELED]
    assert final.status is RunStatus.CANCELED
    assert fake.count("POST", "/api/2.2/jobs/runs/cancel") == 1


def test_unknown_run_is_not_found(engine, dbx_settings):
    with pytest.raises(errors.NotFound) as raised:
        engine.get_run_status("424242", engine_run(dbx_settings))

    assert str(raised.value) == "Databricks found nothing to read the status of run 424242: Run 424242 does not exist."


def test_unknown_life_cycle_state_keeps_running(engine, dbx_settings, fake):
    fake.script = RunScript(active_states=("PENDING", "HIBERNATING"), status_object=False)
    run = engine_run(dbx_settings)
    engine_run_id = engine.submit_run(run)

    statuses, _final = poll_until_terminal(engine, engine_run_id, run)

    assert statuses == [RunStatus.RUNNING, RunStatus.RUNNING, RunStatus.SUCCEEDED]


# Workspace listing


def test_workspace_listing_covers_one_level_of_folders(engine, fake):
    fake.put_notebook("/Shared/operatorflow/etl", "print(1)\n")
    fake.put_notebook("/Shared/operatorflow/team/report", "SELECT 1", language="SQL")
    fake.put_notebook("/Shared/operatorflow/team/deep/hidden", "print(2)\n")
    fake.put_notebook("/Shared/elsewhere", "print(3)\n")

    notebooks = engine.list_workspace_notebooks()

    assert [(n.path, n.name, n.language) for n in notebooks] == [
        ("/Shared/operatorflow/etl", "etl", "PYTHON"),
        ("/Shared/operatorflow/team/report", "team/report", "SQL"),
    ]


def test_workspace_listing_of_missing_folder_is_empty(engine, fake):
    assert engine.list_workspace_notebooks() == []
    assert fake.count("GET", "/api/2.0/workspace/list") == 1


def test_cluster_listing_follows_pages(engine, fake):
    for number in range(5):
        fake.add_cluster(f"0101-{number}", f"cluster {number}", state="TERMINATED" if number % 2 else "RUNNING")

    clusters = engine.list_clusters()

    assert [(c.cluster_id, c.state) for c in clusters] == [
        ("0101-0", "RUNNING"), ("0101-1", "TERMINATED"), ("0101-2", "RUNNING"),
        ("0101-3", "TERMINATED"), ("0101-4", "RUNNING"),
    ]
    assert fake.count("GET", "/api/2.1/clusters/list") == 3


def test_fake_run_listing_follows_pages(engine, dbx_settings, fake):
    for number in range(5):
        engine.submit_run(engine_run(dbx_settings, run_id=f"run000{number}"))

    listed = list(engine.client.jobs.list_runs())

    assert sorted(r.run_id for r in listed) == sorted(fake.runs)
    assert fake.count("GET", "/api/2.2/jobs/runs/list") == 3


def test_fake_rejects_unknown_workspace_path(engine):
    client: WorkspaceClient = engine.client

    with pytest.raises(Exception) as raised:
        client.workspace.get_status("/Shared/missing")

    assert type(raised.value).__name__ == "ResourceDoesNotExist"
    assert str(raised.value) == "Path (/Shared/missing) doesn't exist."


def test_catalog_marks_notebook_running_while_run_active(service, dbx_settings, fake, engine):
    fake.put_notebook(NOTEBOOK_PATH, "print(1)\n")
    fake.put_notebook("/Shared/operatorflow/etl", "print(2)\n")
    service.settings = dbx_settings
    catalog = build_databricks_catalog(service, engine)
    service.submit_run("ada", WORD_COUNT, {}, engine="databricks")

    listed = catalog.list_databricks_notebooks("ada")
    other_user = catalog.list_databricks_notebooks("grace")

    assert [(n.notebook.name, n.status, n.in_catalog) for n in listed] == [
        ("etl", "AVAILABLE", False),
        (WORD_COUNT, "RUNNING", True),
    ]
    assert [n.status for n in other_user] == ["AVAILABLE", "AVAILABLE"]
    assert fake.count("GET", "/api/2.0/workspace/list") == 1


def test_catalog_is_none_without_host(service):
    assert build_databricks_catalog(service) is None


# Scheduled jobs


def test_scheduled_job_create_update_delete(engine, dbx_settings, fake):
    from operatorflow.workflows import Catalog

    workflow = Catalog(dbx_settings.catalog_dir).get_workflow(WORD_COUNT)

    job_id = engine.create_scheduled_job(name="nightly word count", workflow=workflow, parameters={"top_n": "5"},
                                         cron_expression="30 6 * * 1-5", time_zone="Europe/Paris")
    created = dict(fake.jobs[int(job_id)])
    engine.update_job_schedule(job_id, cron_expression="0 7 1 * *", time_zone="UTC", paused=True)
    updated = dict(fake.jobs[int(job_id)])
    engine.delete_job(job_id)

    assert created["schedule"] == {"quartz_cron_expression": "0 30 6 ? * 2-6", "timezone_id": "Europe/Paris",
                                   "pause_status": "UNPAUSED"}
    assert created["tasks"][0]["notebook_task"] == {"notebook_path": NOTEBOOK_PATH, "base_parameters": {"top_n": "5"}}
    assert updated["schedule"] == {"quartz_cron_expression": "0 0 7 1 * ?", "timezone_id": "UTC",
                                   "pause_status": "PAUSED"}
    assert int(job_id) not in fake.jobs


def test_deleting_unknown_job_is_invalid_input(engine):
    with pytest.raises(errors.InvalidInput) as raised:
        engine.delete_job("999")

    assert str(raised.value) == "Databricks rejected the request to delete job 999: Job 999 does not exist."


@pytest.mark.parametrize(
    ("cron", "quartz"),
    [
        ("*/15 * * * *", "0 */15 * * * ?"),
        ("0 6 * * 0", "0 0 6 ? * 1"),
        ("0 6 * * 7", "0 0 6 ? * 1"),
        ("0 6 * * MON-FRI", "0 0 6 ? * MON-FRI"),
        ("0 6 * * 1,3,5", "0 0 6 ? * 2,4,6"),
        ("0 6 * * 5-7", "0 0 6 ? * 6-7,1"),
        ("0 6 * * 6-7", "0 0 6 ? * 7,1"),
        ("0 6 * * 1-5/2", "0 0 6 ? * 2-6/2"),
        ("0 0 1 1 *", "0 0 0 1 1 ?"),
    ],
)
def test_quartz_cron_conversion(cron, quartz):
    assert quartz_cron(cron) == quartz


def test_quartz_cron_rejects_both_day_fields():
    with pytest.raises(errors.InvalidInput) as raised:
        quartz_cron("0 6 1 * 1")

    assert "restricts both the day of month and the day of week" in str(raised.value)


# Through the worker


def test_worker_runs_notebook_on_databricks_end_to_end(dbx_settings, fake, sdk_clock):
    service = build_service(dbx_settings)
    engine = make_engine(dbx_settings, sdk_clock)
    worker = Worker(service, {"databricks": engine})
    fake.script = RunScript(notebook_result=json.dumps({"top_words": [{"word": "the", "count": 3}]}))

    submitted = service.submit_run("ada", WORD_COUNT, {"top_n": "1"}, engine="databricks")
    passes = 0
    while passes < MAX_WORKER_PASSES and not service.get_run("ada", submitted.id).status.is_terminal:
        worker.run_once()
        for _viewer in range(3):
            service.get_run("ada", submitted.id)
        passes += 1
    finished = service.get_run("ada", submitted.id)
    service.registry.dispose()

    assert finished.status is RunStatus.SUCCEEDED
    assert json.loads(finished.result) == {
        "top_words": [{"word": "the", "count": 3}]
    }
    assert finished.engine_run_id == str(fake.idempotency_tokens[submitted.id])
    # One pass starts the run, then each pass polls it once, however many viewers read the registry.
    assert fake.count("GET", "/api/2.2/jobs/runs/get") == passes - 1
    [body] = fake.submit_bodies
    assert body["tasks"][0]["notebook_task"]["base_parameters"] == {
        "input_path": "examples/data/tinyshakespeare.txt", "top_n": "1", "output_path": finished.output_location,
    }
