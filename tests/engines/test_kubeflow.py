"""The kubeflow engine, driven by the real kfp.Client 2.17 against the fake server in tests/kfp_fake.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import warnings

import pytest

from operatorflow import errors
from operatorflow.clock import FakeClock
from operatorflow.engines.base import EngineRun
from operatorflow.engines.kubeflow import KubeflowEngine, convert_parameters
from operatorflow.engines.kubeflow_config import resolve_auth, resolve_namespace, resolve_token_file
from operatorflow.factory import build_engines, build_service, configured_engines
from operatorflow.kubeflow_catalog import build_kubeflow_catalog
from operatorflow.registry import Run
from operatorflow.status import RunStatus, status_from_kubeflow
from operatorflow.ui import describe_pending
from operatorflow.worker import Worker
from operatorflow.workflows import Catalog, WorkflowKind
from tests.kfp_fake import TOKEN, FakeKubeflow, RunScript

USER = "ada"
NAMESPACE = "kubeflow-user-ada"
TRAINER = "taxi-tip-trainer"
NO_TOKEN_FILE = "/nonexistent/serviceaccount/token"
PARAMETERS = {"input_path": "s3://trips/chicago.csv", "test_fraction": "0.3", "seed": "7"}
SERVER_SPEC = {
    "pipelineInfo": {"name": "fraud-model"},
    "root": {
        "inputDefinitions": {
            "parameters": {
                "input_path": {"parameterType": "STRING", "defaultValue": "s3://data/in.csv"},
                "epochs": {"parameterType": "NUMBER_INTEGER", "defaultValue": 3, "description": "Training epochs"},
                "output_path": {"parameterType": "STRING"},
            }
        },
        "dag": {"tasks": {}},
    },
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.17.3",
}


@pytest.fixture
def fake():
    server = FakeKubeflow()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kfp_settings(settings, fake):
    return dataclasses.replace(settings, kubeflow_host=fake.host, kubeflow_token=TOKEN,
                               kubeflow_namespace="kubeflow-user-{user}")


@pytest.fixture
def engine(kfp_settings):
    return KubeflowEngine(kfp_settings, clock=FakeClock(), default_token_file=NO_TOKEN_FILE)


def engine_run(settings, run_id: str = "run0001", parameters=None, workflow=None,
               output_location: str = "s3://models/run0001") -> EngineRun:
    workflow = workflow or Catalog(settings.catalog_dir).get_workflow(TRAINER)
    return EngineRun(run_id, workflow, dict(PARAMETERS if parameters is None else parameters), output_location,
                     settings.runs_dir / run_id, owner=USER)


def poll_until_terminal(engine, engine_run_id, run, fake, max_polls=10):
    statuses = []
    for _ in range(max_polls):
        result = engine.get_run_status(engine_run_id, run)
        statuses.append(result.status)
        if result.status.is_terminal:
            return statuses, result
        fake.advance()
    raise AssertionError(f"run {engine_run_id} did not end within {max_polls} polls: {statuses}")


# Status mapping


@pytest.mark.parametrize(("state", "expected"), [
    ("RUNTIME_STATE_UNSPECIFIED", RunStatus.RUNNING),
    (None, RunStatus.RUNNING),
    ("PENDING", RunStatus.RUNNING),
    ("RUNNING", RunStatus.RUNNING),
    ("PAUSED", RunStatus.RUNNING),
    ("CANCELING", RunStatus.CANCELLING),
    ("SUCCEEDED", RunStatus.SUCCEEDED),
    ("SKIPPED", RunStatus.FAILED),
    ("FAILED", RunStatus.FAILED),
    ("CANCELED", RunStatus.CANCELED),
])
def test_status_from_kubeflow_states(state, expected):
    assert status_from_kubeflow(state) is expected


def test_unknown_state_stays_running_and_warns_once(caplog):
    with caplog.at_level(logging.WARNING, logger="operatorflow.status"):
        first = status_from_kubeflow("HIBERNATING")
        second = status_from_kubeflow("HIBERNATING")

    assert first is RunStatus.RUNNING
    assert second is RunStatus.RUNNING
    warnings_logged = [r.getMessage() for r in caplog.records if "HIBERNATING" in r.getMessage()]
    assert warnings_logged == ["Unknown Kubeflow Pipelines run state 'HIBERNATING', treating the run as RUNNING"]


# Settings: credentials and namespace


def test_auth_prefers_token_setting(settings):
    configured = dataclasses.replace(settings, kubeflow_host="http://kfp", kubeflow_token="t1",
                                     kubeflow_token_file="/tmp/token", kubeflow_cookies="a=b")

    auth = resolve_auth(configured, USER, token_provider=lambda user: "stored")

    assert (auth.token, auth.token_file, auth.cookies) == ("t1", "", "a=b")
    assert "t1" not in repr(auth)
    assert "a=b" not in repr(auth)


def test_auth_uses_token_provider_then_file(settings, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file")
    configured = dataclasses.replace(settings, kubeflow_host="http://kfp", kubeflow_token_file=str(token_file))

    stored = resolve_auth(configured, USER, token_provider=lambda user: f"token-of-{user}")
    from_file = resolve_auth(configured, USER, token_provider=lambda user: None)

    assert stored.token == "token-of-ada"
    assert stored.source == "the stored credential kubeflow-token"
    assert (from_file.token, from_file.token_file) == ("", str(token_file))


def test_service_account_token_only_with_host(settings, tmp_path):
    pod_token = tmp_path / "serviceaccount-token"
    pod_token.write_text("pod")

    without_host = resolve_token_file(settings, default_file=str(pod_token))
    with_host = resolve_token_file(dataclasses.replace(settings, kubeflow_host="http://kfp"),
                                   default_file=str(pod_token))
    missing_file = resolve_token_file(dataclasses.replace(settings, kubeflow_host="http://kfp"),
                                      default_file=str(tmp_path / "absent"))

    assert without_host == ""
    assert with_host == str(pod_token)
    assert missing_file == ""


@pytest.mark.parametrize(("template", "user", "expected"), [
    ("", "ada", ""),
    ("team-a", "ada", "team-a"),
    ("kubeflow-user-{user}", "Ada.Lovelace@example.com", "kubeflow-user-ada-lovelace-example-com"),
])
def test_namespace_template(settings, template, user, expected):
    configured = dataclasses.replace(settings, kubeflow_namespace=template)

    assert resolve_namespace(configured, user) == expected


def test_namespace_template_rejects_long_result(settings):
    configured = dataclasses.replace(settings, kubeflow_namespace="kubeflow-user-{user}")

    with pytest.raises(errors.InvalidInput) as caught:
        resolve_namespace(configured, "a" * 60)

    assert "is not a valid Kubernetes namespace" in str(caught.value)


# Authentication against the server


def test_missing_credentials_rejected(kfp_settings):
    engine = KubeflowEngine(dataclasses.replace(kfp_settings, kubeflow_token=""), default_token_file=NO_TOKEN_FILE)

    with pytest.raises(errors.PermissionDenied) as caught:
        engine.list_server_pipelines(USER)

    assert str(caught.value).startswith(f"Kubeflow at {kfp_settings.kubeflow_host} rejected the credentials (none).")
    assert "OPERATORFLOW_KUBEFLOW_TOKEN" in str(caught.value)


def test_load_balancer_cookies_authenticate(settings):
    cookies = {"AWSELBAuthSessionCookie-0": "part0", "AWSELBAuthSessionCookie-1": "part1"}
    server = FakeKubeflow(token=None, cookies=cookies)
    server.start()
    try:
        configured = dataclasses.replace(
            settings, kubeflow_host=server.host, kubeflow_namespace=NAMESPACE,
            kubeflow_cookies="AWSELBAuthSessionCookie-0=part0; AWSELBAuthSessionCookie-1=part1",
        )
        engine = KubeflowEngine(configured, clock=FakeClock(), default_token_file=NO_TOKEN_FILE)

        engine_run_id = engine.submit_run(engine_run(configured))
    finally:
        server.stop()

    assert engine_run_id in server.runs


def test_token_file_read_at_each_request(kfp_settings, fake, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    configured = dataclasses.replace(kfp_settings, kubeflow_token="", kubeflow_token_file=str(token_file))
    engine = KubeflowEngine(configured, clock=FakeClock(), default_token_file=NO_TOKEN_FILE)
    engine.list_server_pipelines(USER)
    token_file.write_text("rotated-and-wrong")

    with pytest.raises(errors.PermissionDenied) as caught:
        engine.list_server_pipelines(USER)

    assert "rejected the credentials when trying to list pipelines" in str(caught.value)


# Submitting


def test_submit_compiles_catalog_pipeline_with_typed_parameters(engine, kfp_settings, fake):
    run = engine_run(kfp_settings)

    engine_run_id = engine.submit_run(run)

    [body] = fake.create_bodies
    assert body["display_name"] == "run0001"
    assert body["runtime_config"] == {
        "parameters": {"input_path": "s3://trips/chicago.csv", "test_fraction": 0.3, "seed": 7},
        "pipeline_root": "s3://models/run0001",
    }
    assert body["pipeline_spec"]["pipelineInfo"]["name"] == "taxi-tip-trainer"
    assert "pipeline_version_reference" not in body
    [experiment] = fake.experiments.values()
    assert (experiment["display_name"], experiment["namespace"]) == ("operatorflow-ada", NAMESPACE)
    assert fake.runs[engine_run_id].body["experiment_id"] == experiment["experiment_id"]
    assert (run.run_dir / "pipeline.yaml").is_file()


def test_submit_reuses_the_users_experiment(engine, kfp_settings, fake):
    engine.submit_run(engine_run(kfp_settings, "run0001"))
    other_engine = KubeflowEngine(kfp_settings, clock=FakeClock(), default_token_file=NO_TOKEN_FILE)

    other_engine.submit_run(engine_run(kfp_settings, "run0002"))

    assert len(fake.experiments) == 1
    assert fake.count("POST", "/experiments") == 1


def test_resubmission_finds_existing_run(engine, kfp_settings, fake):
    first = engine.submit_run(engine_run(kfp_settings))

    again = engine.submit_run(engine_run(kfp_settings))

    assert again == first
    assert len(fake.runs) == 1


def test_lost_create_response_finds_run(engine, kfp_settings, fake, caplog):
    fake.drop_next_create_response()

    with caplog.at_level(logging.WARNING, logger="operatorflow.engines.kubeflow"):
        engine_run_id = engine.submit_run(engine_run(kfp_settings))

    [created] = fake.runs.values()
    assert engine_run_id == created.body["run_id"]
    assert fake.count("POST", "/apis/v2beta1/runs") == 1
    assert any("after the create request failed" in r.getMessage() for r in caplog.records)


def test_bad_parameter_rejected_before_submission(engine, kfp_settings, fake):
    run = engine_run(kfp_settings, parameters={**PARAMETERS, "seed": "seven"})

    with pytest.raises(errors.InvalidInput) as caught:
        engine.submit_run(run)

    assert str(caught.value) == "Invalid value 'seven' for seed of taxi-tip-trainer: expected a whole number, such as 42."
    assert fake.runs == {}


def test_convert_parameters_empty_number_means_default():
    converted = convert_parameters("p", {"seed": "Integer", "name": "String"}, {"seed": " ", "name": ""})

    assert converted == {"name": ""}


def test_submit_pipeline_spec_sends_spec_inline(engine, kfp_settings, fake):
    run = engine_run(kfp_settings, parameters={})

    engine_run_id = engine.submit_pipeline_spec(SERVER_SPEC, {"epochs": 5}, run)

    body = fake.runs[engine_run_id].body
    assert body["pipeline_spec"] == SERVER_SPEC
    assert body["runtime_config"]["parameters"] == {"epochs": 5}


def test_server_rejection_becomes_invalid_input(engine, kfp_settings):
    run = engine_run(kfp_settings, parameters={})

    with pytest.raises(errors.InvalidInput) as caught:
        engine.submit_pipeline_spec(SERVER_SPEC, {"learning_rate": 0.1}, run)

    assert "unrecognized input parameter(s) learning_rate" in str(caught.value)


# Following runs


def test_run_progresses_to_succeeded(engine, kfp_settings, fake):
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)

    statuses, final = poll_until_terminal(engine, engine_run_id, run, fake)

    assert statuses == [RunStatus.RUNNING, RunStatus.RUNNING, RunStatus.SUCCEEDED]
    assert final.error_message is None
    log = (run.run_dir / "run.log").read_text()
    assert f"Kubeflow run {engine_run_id}: PENDING." in log
    assert f"Kubeflow run {engine_run_id} ended SUCCEEDED." in log


def test_pending_run_reports_since_when(engine, kfp_settings, fake):
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)

    pending = engine.get_run_status(engine_run_id, run)
    fake.advance()
    running = engine.get_run_status(engine_run_id, run)

    assert pending.metrics == {"kubeflow_state": "PENDING", "pending_since": "2026-01-01T00:00:00+00:00"}
    assert running.metrics == {"kubeflow_state": "RUNNING"}


def test_failed_run_carries_server_error(engine, kfp_settings, fake):
    fake.script = RunScript(states=("PENDING", "RUNNING", "FAILED"), error_message="clean-trips: pod OOMKilled")
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)

    _statuses, final = poll_until_terminal(engine, engine_run_id, run, fake)

    assert final.status is RunStatus.FAILED
    assert final.error_message == f"Kubeflow run {engine_run_id} failed: clean-trips: pod OOMKilled."


def test_unknown_run_not_found(engine, kfp_settings):
    with pytest.raises(errors.NotFound) as caught:
        engine.get_run_status("no-such-run", engine_run(kfp_settings))

    assert "Failed to get run: run no-such-run not found" in str(caught.value)


def test_cancel_terminates_until_canceled(engine, kfp_settings, fake):
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)

    engine.cancel_run(engine_run_id, run)
    canceling = engine.get_run_status(engine_run_id, run)
    fake.advance()
    canceled = engine.get_run_status(engine_run_id, run)

    assert canceling.status is RunStatus.CANCELLING
    assert canceled.status is RunStatus.CANCELED
    assert fake.count("POST", ":terminate") == 1


def test_unconfirmed_cancel_ends_after_timeout(kfp_settings, fake):
    clock = FakeClock()
    engine = KubeflowEngine(dataclasses.replace(kfp_settings, kubeflow_cancel_timeout_seconds=300), clock=clock,
                            default_token_file=NO_TOKEN_FILE)
    fake.confirm_cancel = False
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)
    engine.cancel_run(engine_run_id, run)

    clock.advance(299)
    still_canceling = engine.get_run_status(engine_run_id, run)
    clock.advance(2)
    given_up = engine.get_run_status(engine_run_id, run)

    assert still_canceling.status is RunStatus.CANCELLING
    assert given_up.status is RunStatus.CANCELED
    assert given_up.error_message.startswith(
        f"Kubeflow had not confirmed the cancellation of run {engine_run_id} after 300 s"
    )


def test_server_errors_keep_run_running_with_backoff(kfp_settings, fake, caplog):
    clock = FakeClock()
    engine = KubeflowEngine(kfp_settings, clock=clock, default_token_file=NO_TOKEN_FILE)
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)
    fake.fail_next(2, status=503, method="GET", path_part="/runs/")
    gets_before = fake.count("GET", f"/runs/{engine_run_id}")

    with caplog.at_level(logging.WARNING, logger="operatorflow.engines.kubeflow"):
        first = engine.get_run_status(engine_run_id, run)
        skipped = engine.get_run_status(engine_run_id, run)
        clock.advance(5)
        second = engine.get_run_status(engine_run_id, run)
        clock.advance(5)
        waiting = engine.get_run_status(engine_run_id, run)
        clock.advance(5)
        recovered = engine.get_run_status(engine_run_id, run)

    assert [s.status for s in (first, skipped, second, waiting, recovered)] == [RunStatus.RUNNING] * 5
    assert recovered.metrics == {"kubeflow_state": "PENDING", "pending_since": "2026-01-01T00:00:00+00:00"}
    # Five status calls, three requests: the second delay is 10 s, so the call after 5 s is skipped.
    assert fake.count("GET", f"/runs/{engine_run_id}") - gets_before == 3
    outage_warnings = [r for r in caplog.records if "keeping it RUNNING" in r.getMessage()]
    assert len(outage_warnings) == 1


def test_long_outage_fails_run(kfp_settings, fake):
    clock = FakeClock()
    engine = KubeflowEngine(dataclasses.replace(kfp_settings, kubeflow_unreachable_timeout_seconds=600),
                            clock=clock, default_token_file=NO_TOKEN_FILE)
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)
    fake.fail_next(100, status=500, method="GET", path_part="/runs/")

    statuses = []
    for _ in range(20):
        status = engine.get_run_status(engine_run_id, run)
        statuses.append(status)
        if status.status.is_terminal:
            break
        clock.advance(60)

    assert statuses[-1].status is RunStatus.FAILED
    assert statuses[-1].error_message.startswith(
        f"The status of Kubeflow run {engine_run_id} could not be read for 600 s"
    )
    assert all(s.status is RunStatus.RUNNING for s in statuses[:-1])


# Listings


def test_runs_listed_in_pages(engine, kfp_settings, fake):
    for index in range(3):
        engine.submit_run(engine_run(kfp_settings, f"run000{index}"))
        fake.advance()

    first = engine.list_server_runs(USER, page_size=2)
    second = engine.list_server_runs(USER, page_token=first.next_page_token, page_size=2)

    assert [r.name for r in first.items] == ["run0002", "run0001"]
    assert [r.name for r in second.items] == ["run0000"]
    assert second.next_page_token == ""
    [(_method, _path, query)] = [r for r in fake.requests if r[0] == "GET" and r[1].endswith("/runs")
                                 and r[2].get("page_token")]
    assert query["namespace"] == [NAMESPACE]


def test_foreign_namespace_not_permitted(kfp_settings, fake):
    engine = KubeflowEngine(dataclasses.replace(kfp_settings, kubeflow_namespace="team-secret"),
                            clock=FakeClock(), default_token_file=NO_TOKEN_FILE)

    with pytest.raises(errors.PermissionDenied) as caught:
        engine.list_server_runs(USER)

    assert str(caught.value) == (
        f"Kubeflow at {fake.host}: not permitted to list runs in namespace team-secret. Ask the Kubeflow "
        "administrator for access, or set OPERATORFLOW_KUBEFLOW_NAMESPACE to a namespace you may use."
    )


def upload(fake, tmp_path, name: str, spec: dict) -> str:
    """Upload a pipeline through kfp.Client's own multipart upload, as a data scientist would."""
    import kfp
    import yaml

    package = tmp_path / f"{name}.yaml"
    package.write_text(yaml.safe_dump(spec))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client = kfp.Client(host=fake.host, existing_token=TOKEN, namespace=NAMESPACE, cookies="")
    return client.upload_pipeline(str(package), pipeline_name=name, namespace=NAMESPACE).pipeline_id


def test_server_pipelines_listed_across_pages(engine, fake, tmp_path):
    for name in ("c-model", "a-model", "b-model"):
        upload(fake, tmp_path, name, SERVER_SPEC)
    lists_before = fake.count("GET", "/apis/v2beta1/pipelines")

    pipelines = engine.list_all_server_pipelines(USER, page_size=2)

    assert [p.name for p in pipelines] == ["a-model", "b-model", "c-model"]
    assert fake.count("GET", "/apis/v2beta1/pipelines") - lists_before == 2


def test_server_workflow_has_latest_version_parameters(engine, fake, tmp_path):
    pipeline_id = upload(fake, tmp_path, "fraud-model", SERVER_SPEC)
    newer = {**SERVER_SPEC, "root": {**SERVER_SPEC["root"], "inputDefinitions": {"parameters": {
        "input_path": {"parameterType": "STRING"}, "rate": {"parameterType": "NUMBER_DOUBLE", "defaultValue": 0.5}}}}}
    fake.add_version(pipeline_id, newer)

    workflow = engine.get_server_workflow(USER, "kubeflow:fraud-model")

    assert workflow.name == "kubeflow:fraud-model"
    assert workflow.engine == "kubeflow"
    assert [(p.name, p.type, p.default) for p in workflow.parameters] == [
        ("input_path", "String", ""), ("rate", "Float", "0.5")
    ]


def test_unknown_server_pipeline_not_found(engine, fake):
    with pytest.raises(errors.NotFound) as caught:
        engine.get_server_workflow(USER, "kubeflow:missing")

    assert str(caught.value) == (
        f"Kubeflow at {fake.host} has no pipeline named 'missing'; list them with `operatorflow kubeflow pipelines`."
    )


# Through the service and the worker


@pytest.fixture
def kfp_service(kfp_settings):
    service = build_service(kfp_settings, clock=FakeClock(dt.datetime(2026, 1, 1, 0, 4, tzinfo=dt.timezone.utc)))
    yield service
    service.registry.dispose()


def test_factory_enables_engine_with_host(settings, kfp_settings):
    assert configured_engines(settings, WorkflowKind.PIPELINE) == ["local-pipeline"]
    assert configured_engines(kfp_settings, WorkflowKind.PIPELINE) == ["local-pipeline", "kubeflow"]
    assert "kubeflow" not in build_engines(settings)
    assert build_engines(kfp_settings)["kubeflow"].host == kfp_settings.kubeflow_host


def test_worker_follows_catalog_run_to_success(kfp_service, engine, fake, tmp_path):
    worker = Worker(kfp_service, {"kubeflow": engine}, clock=kfp_service.clock)
    # Local output folders only: the worker copies the run log there, and no test may reach a real S3.
    queued = kfp_service.submit_run(USER, TRAINER, PARAMETERS, str(tmp_path / "out" / "{run_id}"), engine="kubeflow")

    worker.run_once()
    worker.run_once()
    pending = kfp_service.get_run(USER, queued.id)
    fake.advance()
    worker.run_once()
    running = kfp_service.get_run(USER, queued.id)
    fake.advance()
    worker.run_once()
    finished = kfp_service.get_run(USER, queued.id)

    assert pending.status is RunStatus.RUNNING
    assert pending.metrics == {"kubeflow_state": "PENDING", "pending_since": "2026-01-01T00:00:00+00:00"}
    assert running.metrics == {"kubeflow_state": "RUNNING"}
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.engine_run_id == fake.run_named(queued.id).body["run_id"]
    assert (tmp_path / "out" / queued.id / "logs" / "run.log").is_file()


def test_worker_runs_latest_server_version(kfp_service, engine, fake, tmp_path):
    pipeline_id = upload(fake, tmp_path, "fraud-model", SERVER_SPEC)
    latest = fake.add_version(pipeline_id, SERVER_SPEC)
    catalog = build_kubeflow_catalog(kfp_service, engine)
    worker = Worker(kfp_service, {"kubeflow": engine}, clock=kfp_service.clock)

    output = str(tmp_path / "out" / "{run_id}")
    queued = catalog.submit_server_pipeline_run(USER, "kubeflow:fraud-model", {"epochs": "9"}, output)
    worker.run_once()

    body = fake.run_named(queued.id).body
    assert queued.engine == "kubeflow"
    assert body["pipeline_version_reference"] == {"pipeline_id": pipeline_id,
                                                  "pipeline_version_id": latest["pipeline_version_id"]}
    assert body["runtime_config"]["parameters"] == {
        "input_path": "s3://data/in.csv", "epochs": 9, "output_path": str(tmp_path / "out" / queued.id)
    }


def test_worker_cancel_reaches_server(kfp_service, engine, fake, tmp_path):
    worker = Worker(kfp_service, {"kubeflow": engine}, clock=kfp_service.clock)
    queued = kfp_service.submit_run(USER, TRAINER, PARAMETERS, str(tmp_path / "out" / "{run_id}"), engine="kubeflow")
    worker.run_once()

    kfp_service.cancel_run(USER, queued.id)
    worker.run_once()
    fake.advance()
    worker.run_once()

    finished = kfp_service.get_run(USER, queued.id)
    assert finished.status is RunStatus.CANCELED
    assert fake.run_named(queued.id).body["state"] == "CANCELED"


def test_pending_note_shows_wait():
    now = dt.datetime(2026, 1, 1, 0, 4, tzinfo=dt.timezone.utc)
    run = Run(id="run0001", owner=USER, workflow=TRAINER, kind="pipeline", engine="kubeflow", parameters={},
              status=RunStatus.RUNNING, created_at=now, started_at=now, finished_at=None, updated_at=now,
              engine_run_id="k1", output_location="s3://m", log_location=None, error_message=None, result=None,
              metrics={"pending_since": "2026-01-01T00:00:00+00:00"}, worker_id=None, lease_expires_at=None)

    note = describe_pending(run, now)

    assert note == ("Run run0001 has been pending on kubeflow for 4 min 0 s: the server is waiting for resources "
                    "(a node, a free slot or an image pull) before its first step starts.")


def test_catalog_caches_listing_and_failure(kfp_service, engine, fake, tmp_path):
    upload(fake, tmp_path, "fraud-model", SERVER_SPEC)
    catalog = build_kubeflow_catalog(kfp_service, engine)
    first = catalog.list_server_pipelines(USER)
    lists_after_first = fake.count("GET", "/apis/v2beta1/pipelines")

    cached = catalog.list_server_pipelines(USER)
    kfp_service.clock.advance(31)
    fake.fail_next(1, status=503, method="GET", path_part="/pipelines")
    with pytest.raises(errors.BackendUnavailable) as failed:
        catalog.list_server_pipelines(USER)
    with pytest.raises(errors.BackendUnavailable) as failed_again:
        catalog.list_server_pipelines(USER)
    kfp_service.clock.advance(11)
    recovered = catalog.list_server_pipelines(USER)

    assert [p.name for p in first] == ["fraud-model"]
    assert cached == first
    assert failed_again.value is failed.value
    assert recovered == first
    assert fake.count("GET", "/apis/v2beta1/pipelines") - lists_after_first == 2


def test_failed_terminate_is_sent_again(engine, kfp_settings, fake):
    run = engine_run(kfp_settings)
    engine_run_id = engine.submit_run(run)
    fake.fail_next(1, status=503, method="POST", path_part=":terminate")

    engine.cancel_run(engine_run_id, run)
    retried = engine.get_run_status(engine_run_id, run)
    fake.advance()
    canceled = engine.get_run_status(engine_run_id, run)

    assert fake.count("POST", ":terminate") == 2
    assert retried.status is RunStatus.CANCELLING
    assert canceled.status is RunStatus.CANCELED
    assert "Could not ask Kubeflow to terminate run" in (run.run_dir / "run.log").read_text()


def test_token_provider_builds_client_per_user(kfp_settings, fake):
    tokens = {"ada": TOKEN}
    engine = KubeflowEngine(dataclasses.replace(kfp_settings, kubeflow_token=""), clock=FakeClock(),
                            token_provider=tokens.get, default_token_file=NO_TOKEN_FILE)
    first = engine.client_for("ada")

    same = engine.client_for("ada")
    tokens["ada"] = fake.token = "rotated"
    rebuilt = engine.client_for("ada")

    assert same is first
    assert rebuilt is not first
    assert fake.count("GET", "/healthz") == 2


def test_rejected_stored_token_names_the_credential(kfp_settings):
    engine = KubeflowEngine(dataclasses.replace(kfp_settings, kubeflow_token=""), clock=FakeClock(),
                            token_provider=lambda user: "expired", default_token_file=NO_TOKEN_FILE)

    with pytest.raises(errors.PermissionDenied) as caught:
        engine.list_server_runs(USER)

    assert str(caught.value).startswith(
        f"Kubeflow at {kfp_settings.kubeflow_host} rejected the credentials (the stored credential kubeflow-token). "
        "Store a valid token as your credential kubeflow-token, or ask an administrator to. Set OPERATORFLOW_KUBEFLOW_TOKEN"
    )


# Container workflows and stored tokens


def test_container_run_submits_one_step_pipeline(engine, kfp_settings, fake):
    workflow = Catalog(kfp_settings.catalog_dir).get_workflow("container-image")
    parameters = {"image": "registry.example/team/trainer:1", "command": "python train.py",
                  "args": "--out {output}", "memory": "4Gi", "cpu": "2"}
    run = engine_run(kfp_settings, parameters=parameters, workflow=workflow,
                     output_location="s3://models/run0001")

    engine_run_id = engine.submit_run(run)

    body = fake.runs[engine_run_id].body
    [executor] = body["pipeline_spec"]["pipeline_spec"]["deploymentSpec"]["executors"].values()
    container = executor["container"]
    assert container["image"] == "registry.example/team/trainer:1"
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == ["--out", "s3://models/run0001"]
    assert container["resources"]["memoryLimit"] == pytest.approx(4 * 2**30 / 1e9)
    assert container["resources"]["cpuLimit"] == 2.0
    assert "platform_spec" in body["pipeline_spec"]
    assert body["runtime_config"].get("parameters", {}) == {}


def test_factory_engine_reads_stored_token(kfp_settings, fake):
    from operatorflow.credentials import KUBEFLOW_TOKEN
    from operatorflow.credentials.service import build_credential_service, clear_cached_services

    settings = dataclasses.replace(kfp_settings, kubeflow_token="")
    service = build_service(settings)
    try:
        build_credential_service(settings, service.registry).store.put_credential(
            "user:" + USER, KUBEFLOW_TOKEN, TOKEN, updated_by=USER)
        engine = build_engines(settings)["kubeflow"]

        page = engine.list_server_runs(USER)
    finally:
        clear_cached_services()
        service.registry.dispose()

    assert page.items == []
