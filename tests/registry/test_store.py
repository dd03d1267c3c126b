import threading

import pytest
import sqlalchemy as sa

from operatorflow.errors import NotFound
from operatorflow.registry import RunRegistry
from operatorflow.status import RunStatus


def _queue(registry, owner="ada", workflow="shakespeare-wordcount"):
    return registry.create_run(owner=owner, workflow=workflow, kind="notebook", engine="local-spark",
                               parameters={"top_n": "5"}, output_location="/tmp/out")


def test_create_run_records_every_field(registry):
    run = _queue(registry)

    stored = registry.get_run(run.id)

    assert stored.status is RunStatus.QUEUED
    assert stored.owner == "ada"
    assert stored.workflow == "shakespeare-wordcount"
    assert stored.kind == "notebook"
    assert stored.engine == "local-spark"
    assert stored.parameters == {"top_n": "5"}
    assert stored.output_location == "/tmp/out"
    assert stored.created_at.tzinfo is not None
    assert stored.started_at is None


def test_get_run_unknown_id_raises_not_found(registry):
    with pytest.raises(NotFound, match="No run 'nope'"):
        registry.get_run("nope")


def test_list_runs_filters_by_owner_newest_first(registry, clock):
    first = _queue(registry, owner="ada")
    clock.advance(1)
    second = _queue(registry, owner="ada")
    _queue(registry, owner="grace")

    runs = registry.list_runs(owner="ada")

    assert [r.id for r in runs] == [second.id, first.id]


def test_claim_takes_oldest_queued_run_once(registry, clock):
    first = _queue(registry)
    clock.advance(1)
    second = _queue(registry)

    claimed = registry.claim_next_queued("w1", lease_seconds=30)
    claimed_again = registry.claim_next_queued("w2", lease_seconds=30)
    nothing = registry.claim_next_queued("w3", lease_seconds=30)

    assert claimed.id == first.id
    assert claimed.status is RunStatus.RUNNING
    assert claimed.worker_id == "w1"
    assert claimed_again.id == second.id
    assert nothing is None


def test_concurrent_claims_never_share_run(database_url, clock):
    registries = [RunRegistry(database_url, clock) for _ in range(4)]
    for _ in range(20):
        _queue(registries[0])
    claims: dict[str, list[str]] = {f"w{i}": [] for i in range(4)}

    def claim_all(worker_id, registry):
        while (run := registry.claim_next_queued(worker_id, 30)) is not None:
            claims[worker_id].append(run.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}", r)) for i, r in enumerate(registries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    claimed = [run_id for ids in claims.values() for run_id in ids]
    assert len(claimed) == 20
    assert len(set(claimed)) == 20
    for registry in registries:
        registry.dispose()


def test_finish_run_keeps_first_terminal_status(registry):
    run = _queue(registry)
    registry.claim_next_queued("w1", 30)

    first = registry.finish_run(run.id, RunStatus.SUCCEEDED, result='{"ok": 1}', metrics={"accuracy": 0.9})
    second = registry.finish_run(run.id, RunStatus.FAILED, error_message="late")

    stored = registry.get_run(run.id)
    assert first is True
    assert second is False
    assert stored.status is RunStatus.SUCCEEDED
    assert stored.result == '{"ok": 1}'
    assert stored.metrics == {"accuracy": 0.9}
    assert stored.error_message is None
    assert stored.finished_at is not None


def test_cancel_queued_run_ends_it_at_once(registry):
    run = _queue(registry)

    cancelled = registry.request_cancel(run.id)

    assert cancelled.status is RunStatus.CANCELED
    assert registry.claim_next_queued("w1", 30) is None


def test_cancel_running_run_marks_it_cancelling(registry):
    run = _queue(registry)
    registry.claim_next_queued("w1", 30)

    cancelled = registry.request_cancel(run.id)

    assert cancelled.status is RunStatus.CANCELLING


def test_requeue_returns_unstarted_claim_to_queue(registry):
    run = _queue(registry)
    registry.claim_next_queued("w1", 30)

    requeued = registry.requeue(run.id, "w1")

    assert requeued is True
    assert registry.get_run(run.id).status is RunStatus.QUEUED
    assert registry.claim_next_queued("w2", 30).id == run.id


def test_adopt_takes_runs_of_workers_not_live(registry):
    run = _queue(registry)
    registry.claim_next_queued("old", 30)
    registry.set_engine_run(run.id, "123", "/tmp/log")

    kept = registry.adopt_orphaned_runs("new", 30, live_workers={"old", "new"})
    adopted = registry.adopt_orphaned_runs("new", 30, live_workers={"new"})

    assert kept == []
    assert [r.id for r in adopted] == [run.id]
    assert registry.get_run(run.id).worker_id == "new"


def test_adopt_takes_runs_whose_lease_expired(registry, clock):
    run = _queue(registry)
    registry.claim_next_queued("old", 30)
    clock.advance(31)

    adopted = registry.adopt_orphaned_runs("new", 30, live_workers={"old", "new"})

    assert [r.id for r in adopted] == [run.id]


def test_migrate_creates_versioned_schema(database_url):
    registry = RunRegistry(database_url)

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        tables = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    registry.migrate()
    registry.dispose()

    assert version == "0003"
    assert {"runs", "workers", "schedules", "schedule_fires", "alembic_version"} <= tables
    assert {"users", "account_tokens", "sessions", "grants", "credentials"} <= tables


def test_heartbeat_records_and_removes_worker(registry):
    registry.record_heartbeat("w1", "host", 42)
    registry.record_heartbeat("w1", "host", 42)

    listed = registry.list_workers()
    registry.remove_worker("w1")

    assert [w["id"] for w in listed] == ["w1"]
    assert registry.list_workers() == []


def test_active_metrics_only_for_active_runs(registry):
    active = _queue(registry)
    finished = _queue(registry)
    registry.finish_run(finished.id, RunStatus.SUCCEEDED, metrics={"accuracy": 0.9})

    updated = registry.set_active_metrics(active.id, {"pending_since": "2026-01-01T00:00:00+00:00"})
    ignored = registry.set_active_metrics(finished.id, {"pending_since": "2026-01-01T00:00:00+00:00"})

    assert updated is True
    assert ignored is False
    assert registry.get_run(active.id).metrics == {"pending_since": "2026-01-01T00:00:00+00:00"}
    assert registry.get_run(finished.id).metrics == {"accuracy": 0.9}
