import logging

import pytest

from operatorflow.errors import BackendUnavailable
from operatorflow.status import RunStatus
from operatorflow.worker import Worker
from tests.fakes import InMemoryEngine

NOTEBOOK = "shakespeare-wordcount"


@pytest.fixture
def engine():
    return InMemoryEngine("local-spark")


@pytest.fixture
def worker(service, engine):
    return Worker(service, {engine.name: engine}, worker_id="worker-a")


def test_worker_starts_queued_run_on_its_engine(service, worker, engine):
    run = service.submit_run("ada", NOTEBOOK, {"top_n": "3"})

    worker.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.RUNNING
    assert stored.engine_run_id == f"mem-{run.id}"
    assert engine.submitted[0].parameters["top_n"] == "3"
    assert stored.log_location.endswith(f"{run.id}/run.log")


def test_worker_records_success_with_result_and_metrics(service, worker, engine):
    run = service.submit_run("ada", NOTEBOOK)
    worker.run_once()
    engine.finish(run.id, RunStatus.SUCCEEDED, result='{"top_words": []}', metrics={"rows": 3})

    worker.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.result == '{"top_words": []}'
    assert stored.metrics == {"rows": 3}
    assert stored.finished_at is not None


def test_worker_records_failure_message(service, worker, engine, caplog):
    run = service.submit_run("ada", NOTEBOOK)
    worker.run_once()
    engine.finish(run.id, RunStatus.FAILED, error_message="Input not found: /nope")

    with caplog.at_level(logging.WARNING, logger="operatorflow.worker"):
        worker.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.error_message == "Input not found: /nope"
    assert f"run {run.id} ended FAILED: Input not found: /nope" in caplog.text


def test_worker_keeps_to_max_running(service, settings, engine):
    worker = Worker(service, {engine.name: engine}, worker_id="worker-a")
    runs = [service.submit_run("ada", NOTEBOOK) for _ in range(settings.max_running + 1)]

    worker.run_once()

    statuses = [service.get_run("ada", r.id).status for r in runs]
    assert statuses.count(RunStatus.RUNNING) == settings.max_running
    assert statuses.count(RunStatus.QUEUED) == 1


def test_engine_submit_failure_fails_run_with_reason(service, worker, engine):
    engine.fail_submit = BackendUnavailable("Could not start the local-spark process")
    run = service.submit_run("ada", NOTEBOOK)

    worker.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.FAILED
    assert "Could not start the local-spark process" in stored.error_message


def test_unreachable_engine_leaves_run_running(service, worker, engine):
    run = service.submit_run("ada", NOTEBOOK)
    worker.run_once()
    engine.unavailable = True

    worker.run_once()

    assert service.get_run("ada", run.id).status is RunStatus.RUNNING


def test_cancel_of_running_run_reaches_engine(service, worker, engine):
    run = service.submit_run("ada", NOTEBOOK)
    worker.run_once()

    service.cancel_run("ada", run.id)
    worker.run_once()

    assert engine.cancelled == [f"mem-{run.id}"]
    assert service.get_run("ada", run.id).status is RunStatus.CANCELED


def test_each_run_polled_once_per_pass_whoever_watches(service, engine):
    first = Worker(service, {engine.name: engine}, worker_id="worker-a")
    second = Worker(service, {engine.name: engine}, worker_id="worker-b")
    run = service.submit_run("ada", NOTEBOOK)
    first.run_once()

    for _ in range(3):
        first.run_once()
        second.run_once()
        service.get_run("ada", run.id)

    assert engine.status_calls[f"mem-{run.id}"] == 3


def test_new_worker_adopts_runs_of_stopped_worker(service, engine):
    old = Worker(service, {engine.name: engine}, worker_id="worker-old")
    run = service.submit_run("ada", NOTEBOOK)
    old.run_once()
    service.registry.remove_worker("worker-old")
    new = Worker(service, {engine.name: engine}, worker_id="worker-new")
    engine.finish(run.id, RunStatus.SUCCEEDED, result="done")

    new.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.worker_id == "worker-new"


def test_claimed_but_unstarted_run_is_requeued_and_started(service, engine):
    run = service.submit_run("ada", NOTEBOOK)
    service.registry.claim_next_queued("worker-gone", 30)
    worker = Worker(service, {engine.name: engine}, worker_id="worker-new")

    worker.run_once()
    worker.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.RUNNING
    assert stored.engine_run_id == f"mem-{run.id}"


def test_run_of_unknown_engine_fails_with_reason(service, engine):
    worker = Worker(service, {"other": InMemoryEngine("other")}, worker_id="worker-a")
    run = service.submit_run("ada", NOTEBOOK)

    worker.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.FAILED
    assert "needs engine 'local-spark'" in stored.error_message


def test_run_unknown_to_engine_fails_instead_of_retrying(service, worker, engine):
    from operatorflow.errors import NotFound

    run = service.submit_run("ada", NOTEBOOK)
    worker.run_once()
    engine.get_run_status = lambda *_: (_ for _ in ()).throw(NotFound("run 42 does not exist"))

    worker.run_once()

    stored = service.get_run("ada", run.id)
    assert stored.status is RunStatus.FAILED
    assert "no longer knows run" in stored.error_message
    assert "run 42 does not exist" in stored.error_message
