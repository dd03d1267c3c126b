"""Schedules: cron slots in a time zone, firing once per slot, missed slots, pause, resume, delete, CLI."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading

import pytest

from operatorflow import cli
from operatorflow.clock import FakeClock
from operatorflow.errors import InvalidInput, PermissionDenied
from operatorflow.factory import build_service
from operatorflow.registry.schema import users
from operatorflow.schedules import next_run_times
from operatorflow.settings import load_settings
from operatorflow.status import RunStatus
from operatorflow.worker import Worker
from tests.fakes import InMemoryEngine

NOTEBOOK = "shakespeare-wordcount"
UTC = dt.timezone.utc
# The FakeClock starts at 2026-01-01 00:00 UTC, so a daily 03:00 UTC schedule is first due three hours later.
DAILY_3AM = "0 3 * * *"
HOUR = 3600


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def clock():
    return FakeClock(at(2026, 1, 1))


@pytest.fixture
def db_settings(tmp_path, database_url):
    return load_settings(home=tmp_path / "home", worker="none", poll_seconds=0.05, database_url=database_url)


@pytest.fixture
def flow(db_settings, clock):
    """A service on SQLite or PostgreSQL with the fake clock."""
    service = build_service(db_settings, clock)
    yield service
    service.registry.dispose()


@pytest.fixture
def second_flow(db_settings, clock):
    """Another service on the same database, as a second worker process or a restarted one has."""
    service = build_service(db_settings, clock)
    yield service
    service.registry.dispose()


def _daily(flow, user="ada", **kwargs):
    return flow.schedules.create_schedule(user, NOTEBOOK, DAILY_3AM, "UTC", **kwargs)


# Next run times


def test_next_run_times_in_time_zone():
    after = at(2026, 1, 5, 12)

    times = next_run_times(DAILY_3AM, "Europe/Berlin", after, 2)

    assert times == [at(2026, 1, 6, 2), at(2026, 1, 7, 2)]


def test_spring_forward_skipped_slot_runs_later():
    # Europe/Berlin skips 02:00-03:00 on 2026-03-29: 02:30 that day runs at 03:30 CEST (01:30 UTC).
    after = at(2026, 3, 27, 12)

    times = next_run_times("30 2 * * *", "Europe/Berlin", after, 3)

    assert times == [at(2026, 3, 28, 1, 30), at(2026, 3, 29, 1, 30), at(2026, 3, 30, 0, 30)]


def test_fall_back_repeated_slot_runs_once():
    # Europe/Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 runs at its first occurrence (CEST) only.
    after = at(2026, 10, 24, 12)

    times = next_run_times("30 2 * * *", "Europe/Berlin", after, 2)

    assert times == [at(2026, 10, 25, 0, 30), at(2026, 10, 26, 1, 30)]


def test_hourly_spring_forward_has_no_duplicate():
    after = at(2026, 3, 28, 23, 30)

    times = next_run_times("0 * * * *", "Europe/Berlin", after, 3)

    assert times == [at(2026, 3, 29, 0), at(2026, 3, 29, 1), at(2026, 3, 29, 2)]


# Creating and validating


def test_create_schedule_resolves_parameters_and_lists_next_runs(flow):
    schedule = _daily(flow, parameters={"top_n": "5"})

    [view] = flow.schedules.list_schedules("ada")

    assert view.schedule.id == schedule.id
    assert view.schedule.parameters == {"input_path": "examples/data/tinyshakespeare.txt", "top_n": "5"}
    assert view.schedule.engine == "local-spark"
    assert view.schedule.paused is False
    assert view.next_run_times == [at(2026, 1, 1, 3), at(2026, 1, 2, 3), at(2026, 1, 3, 3)]


def test_create_schedule_rejects_bad_cron(flow):
    with pytest.raises(InvalidInput) as error:
        flow.schedules.create_schedule("ada", NOTEBOOK, "0 3 * *", "UTC")

    assert str(error.value) == (
        "Invalid cron expression '0 3 * *': give five fields (minute hour day-of-month month day-of-week), "
        "for example '0 3 * * *' (every day at 03:00) or '*/15 * * * *' (every 15 minutes)."
    )


@pytest.mark.parametrize("cron", ["61 * * * *", "0 3 * * * *", "", "every day", "0 0 31 2 *", "@reboot"])
def test_create_schedule_rejects_each_invalid_cron(flow, cron):
    with pytest.raises(InvalidInput, match="Invalid cron expression"):
        flow.schedules.create_schedule("ada", NOTEBOOK, cron, "UTC")


def test_create_schedule_rejects_bad_timezone(flow):
    with pytest.raises(InvalidInput) as error:
        flow.schedules.create_schedule("ada", NOTEBOOK, DAILY_3AM, "Mars/Olympus")

    assert str(error.value) == (
        "Unknown time zone 'Mars/Olympus': give an IANA time zone name such as Europe/Berlin, "
        "America/New_York or UTC."
    )


def test_create_schedule_rejects_unknown_parameter(flow):
    with pytest.raises(InvalidInput, match=r"Unknown parameter\(s\) colour for shakespeare-wordcount"):
        _daily(flow, parameters={"colour": "red"})

    assert flow.schedules.list_schedules("ada") == []


def test_create_schedule_rejects_unavailable_engine(flow):
    with pytest.raises(InvalidInput, match="Engine 'databricks' cannot run shakespeare-wordcount; available: local-spark"):
        _daily(flow, engine="databricks")


# Firing


def test_due_slot_fires_one_run_with_schedule_parameters(flow, clock):
    schedule = _daily(flow, parameters={"top_n": "7"}, output_location=str(flow.settings.home / "out" / "{run_id}"))
    clock.advance(3 * HOUR)

    [run_id] = flow.schedules.fire_due_schedules()

    run = flow.get_run("ada", run_id)
    assert run.status is RunStatus.QUEUED
    assert run.parameters["top_n"] == "7"
    assert run.output_location == str(flow.settings.home / "out" / run_id)
    stored = flow.schedules.get_schedule("ada", schedule.id)
    assert stored.last_slot_at == at(2026, 1, 1, 3)
    assert stored.last_run_id == run_id
    assert flow.schedules.store.list_fires(schedule.id)[0]["slot_at"] == at(2026, 1, 1, 3)


def test_slot_not_due_before_its_time(flow, clock):
    _daily(flow)
    clock.advance(3 * HOUR - 1)

    fired = flow.schedules.fire_due_schedules()

    assert fired == []
    assert flow.list_runs("ada") == []


def test_worker_pass_fires_and_starts_scheduled_run(flow, clock):
    engine = InMemoryEngine("local-spark")
    worker = Worker(flow, {engine.name: engine}, worker_id="worker-a")
    _daily(flow, parameters={"top_n": "4"})
    clock.advance(3 * HOUR)

    worker.run_once()

    [run] = flow.list_runs("ada")
    assert run.status is RunStatus.RUNNING
    assert engine.submitted[0].parameters["top_n"] == "4"


def test_racing_workers_fire_slot_exactly_once(flow, second_flow, clock):
    schedule = _daily(flow)
    clock.advance(3 * HOUR)
    barrier = threading.Barrier(2, timeout=30)
    fired: list[list[str]] = []

    def fire(service) -> None:
        barrier.wait()
        fired.append(service.schedules.fire_due_schedules())

    threads = [threading.Thread(target=fire, args=(s,)) for s in (flow, second_flow)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(len(ids) for ids in fired) == [0, 1]
    assert len(flow.list_runs("ada")) == 1
    assert len(flow.schedules.store.list_fires(schedule.id)) == 1


def test_stale_worker_cannot_fire_slot_again(flow, second_flow, clock):
    # The second worker read the schedule before the first one fired; the unique slot row stops it.
    schedule = _daily(flow)
    stale = second_flow.schedules.store.get_schedule(schedule.id)
    clock.advance(3 * HOUR)
    flow.schedules.fire_due_schedules()

    again = second_flow.schedules.store.fire_slot(stale, at(2026, 1, 1, 3), 0, "/tmp/unused", "run-again01")

    assert again is False
    assert len(flow.list_runs("ada")) == 1


def test_slot_row_rejects_second_fire_of_same_slot(flow, second_flow, clock):
    # Even with an up-to-date schedule record, the unique (schedule_id, slot_at) row rejects the slot.
    schedule = _daily(flow)
    clock.advance(3 * HOUR)
    flow.schedules.fire_due_schedules()
    current = second_flow.schedules.store.get_schedule(schedule.id)

    again = second_flow.schedules.store.fire_slot(current, at(2026, 1, 1, 3), 0, "/tmp/unused", "run-again02")

    assert again is False
    assert len(flow.list_runs("ada")) == 1
    assert second_flow.schedules.store.get_schedule(schedule.id).last_run_id == current.last_run_id


def test_restarted_worker_does_not_fire_slot_again(flow, second_flow, clock):
    schedule = _daily(flow)
    clock.advance(3 * HOUR)
    flow.schedules.fire_due_schedules()
    clock.advance(60)

    after_restart = second_flow.schedules.fire_due_schedules()
    clock.advance(HOUR * 24)
    next_day = second_flow.schedules.fire_due_schedules()

    assert after_restart == []
    assert len(next_day) == 1
    assert [f["slot_at"] for f in flow.schedules.store.list_fires(schedule.id)] == [
        at(2026, 1, 1, 3), at(2026, 1, 2, 3)]


def test_missed_slots_catch_up_once(flow, clock, caplog):
    schedule = _daily(flow)
    clock.advance(3 * 24 * HOUR + 10 * HOUR)

    with caplog.at_level(logging.WARNING, logger="operatorflow.schedules"):
        fired = flow.schedules.fire_due_schedules()
    again = flow.schedules.fire_due_schedules()

    assert len(fired) == 1
    assert again == []
    stored = flow.schedules.get_schedule("ada", schedule.id)
    assert stored.last_slot_at == at(2026, 1, 4, 3)
    assert stored.missed_slots == 3
    assert (f"schedule {schedule.id} skipped 3 missed slot(s) before 2026-01-04T03:00:00+00:00 "
            "and ran only that one") in caplog.text


def test_paused_schedule_does_not_fire(flow, clock):
    schedule = _daily(flow)
    flow.schedules.pause_schedule("ada", schedule.id)
    clock.advance(3 * HOUR)

    fired = flow.schedules.fire_due_schedules()

    [view] = flow.schedules.list_schedules("ada")
    assert fired == []
    assert view.schedule.paused is True
    assert view.next_run_times == []


def test_resume_continues_from_next_slot(flow, clock):
    schedule = _daily(flow)
    flow.schedules.pause_schedule("ada", schedule.id)
    clock.advance(2 * 24 * HOUR + 5 * HOUR)

    flow.schedules.resume_schedule("ada", schedule.id)
    right_after = flow.schedules.fire_due_schedules()
    clock.advance(22 * HOUR)
    next_slot = flow.schedules.fire_due_schedules()

    assert right_after == []
    assert len(next_slot) == 1
    stored = flow.schedules.get_schedule("ada", schedule.id)
    assert stored.last_slot_at == at(2026, 1, 4, 3)
    assert stored.missed_slots == 0


def test_delete_schedule_keeps_its_runs(flow, clock):
    schedule = _daily(flow)
    clock.advance(3 * HOUR)
    [run_id] = flow.schedules.fire_due_schedules()

    flow.schedules.delete_schedule("ada", schedule.id)

    assert flow.schedules.list_schedules("ada") == []
    assert flow.get_run("ada", run_id).id == run_id
    with pytest.raises(PermissionDenied):
        flow.schedules.get_schedule("ada", schedule.id)
    clock.advance(24 * HOUR)
    assert flow.schedules.fire_due_schedules() == []


@pytest.mark.parametrize("action, verb", [("get_schedule", "view"), ("pause_schedule", "change"),
                                          ("resume_schedule", "change"), ("delete_schedule", "change")])
def test_other_users_schedule_is_not_permitted(flow, action, verb):
    schedule = _daily(flow, user="ada")

    with pytest.raises(PermissionDenied) as error:
        getattr(flow.schedules, action)("bob", schedule.id)

    assert str(error.value) == (
        f"You are not permitted to {verb} schedule {schedule.id!r}, or it does not exist. "
        "Check the id with `operatorflow schedules list`, or ask its owner to share it with you."
    )
    assert flow.schedules.list_schedules("bob") == []
    assert flow.schedules.get_schedule("ada", schedule.id).paused is False


def test_disabled_owner_schedule_does_not_fire(flow, clock, caplog):
    schedule = _daily(flow, user="ada")
    with flow.registry.begin() as conn:
        conn.execute(users.insert().values(name="ada", source="local", is_admin=False, disabled=True,
                                           created_at=clock.now(), updated_at=clock.now(), failed_sign_ins=0))
    clock.advance(3 * HOUR)

    with caplog.at_level(logging.WARNING, logger="operatorflow.schedules"):
        fired = flow.schedules.fire_due_schedules()
        fired_again = flow.schedules.fire_due_schedules()

    assert fired == []
    assert fired_again == []
    assert flow.registry.list_runs() == []
    # Filtered by logger: a page test earlier in the session may have set the root logger to INFO.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"schedules skipped schedule {schedule.id} of {NOTEBOOK}: its owner ada is disabled"]


def test_broken_output_location_skips_slot_with_error(flow, clock, caplog):
    target = flow.settings.home / "taken"
    target.mkdir(parents=True)
    schedule = _daily(flow, output_location=str(target))
    target.rmdir()
    target.write_text("a file now", encoding="utf-8")
    clock.advance(3 * HOUR)

    with caplog.at_level(logging.WARNING, logger="operatorflow.schedules"):
        fired = flow.schedules.fire_due_schedules()

    stored = flow.schedules.get_schedule("ada", schedule.id)
    assert fired == []
    assert stored.last_slot_at == at(2026, 1, 1, 3)
    assert "did not run" in stored.last_error
    assert f"schedule {schedule.id} skipped slot 2026-01-01T03:00:00+00:00" in caplog.text


# Command line


@pytest.fixture
def cli_home(tmp_path, monkeypatch):
    home = tmp_path / "cli-home"
    monkeypatch.setenv("OPERATORFLOW_HOME", str(home))
    return home


def test_cli_schedules_add_and_list(cli_home, capsys):
    code = cli.main(["schedules", "add", NOTEBOOK, "--cron", DAILY_3AM, "--timezone", "Europe/Berlin",
                     "--param", "top_n=3", "--user", "ada"])
    schedule_id = capsys.readouterr().out.strip()

    listed = cli.main(["schedules", "list", "--json", "--user", "ada"])

    [document] = json.loads(capsys.readouterr().out)
    assert code == 0
    assert listed == 0
    assert document["id"] == schedule_id
    assert document["timezone"] == "Europe/Berlin"
    assert document["parameters"]["top_n"] == "3"
    assert len(document["next_run_times"]) == 3


def test_cli_schedules_pause_resume_delete(cli_home, capsys):
    cli.main(["schedules", "add", NOTEBOOK, "--cron", DAILY_3AM, "--json"])
    schedule_id = json.loads(capsys.readouterr().out)["id"]

    codes = [cli.main(["schedules", action, schedule_id]) for action in ("pause", "resume", "delete")]

    assert codes == [0, 0, 0]
    assert capsys.readouterr().out.splitlines() == [
        f"{schedule_id} paused", f"{schedule_id} resumed", f"{schedule_id} deleted"]
    cli.main(["schedules", "list"])
    assert capsys.readouterr().out.startswith("No schedules yet.")


def test_cli_schedules_table_shows_state(cli_home, capsys):
    cli.main(["schedules", "add", NOTEBOOK, "--cron", "*/15 * * * *", "--json"])
    schedule_id = json.loads(capsys.readouterr().out)["id"]
    cli.main(["schedules", "pause", schedule_id])
    capsys.readouterr()

    cli.main(["schedules", "list"])

    [_header, row] = capsys.readouterr().out.splitlines()
    assert row.split()[:5] == [schedule_id, NOTEBOOK, "*/15", "*", "*"]
    assert "paused" in row


def test_cli_schedules_add_bad_cron_exits_2(cli_home, capsys):
    code = cli.main(["schedules", "add", NOTEBOOK, "--cron", "0 3 * *"])

    assert code == 2
    assert "error: Invalid cron expression '0 3 * *'" in capsys.readouterr().err


def test_cli_schedules_delete_unknown_exits_not_permitted(cli_home, capsys):
    code = cli.main(["schedules", "delete", "nope"])

    assert code == cli.EXIT_NOT_PERMITTED
    assert capsys.readouterr().err.strip() == (
        "error: You are not permitted to change schedule 'nope', or it does not exist. "
        "Check the id with `operatorflow schedules list`, or ask its owner to share it with you.")


# Databricks: the workspace's own job schedule runs these, not the worker.


@pytest.fixture
def served_workspace():
    """The fake Databricks workspace and its host URL."""
    from tests.databricks_fake import FakeWorkspace

    workspace = FakeWorkspace()
    host = workspace.start()
    yield workspace, host
    workspace.stop()


@pytest.fixture
def workspace(served_workspace):
    return served_workspace[0]


@pytest.fixture
def databricks_flow(tmp_path, clock, served_workspace, monkeypatch):
    from tests.databricks_fake import TOKEN

    _workspace, host = served_workspace

    for name in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    settings = load_settings(home=tmp_path / "home", worker="none", databricks_host=host,
                             databricks_token=TOKEN)
    service = build_service(settings, clock)
    yield service
    service.registry.dispose()


def test_databricks_schedule_becomes_job_with_schedule(databricks_flow, workspace):
    schedule = databricks_flow.schedules.create_schedule("ada", NOTEBOOK, "30 6 * * 1-5", "Europe/Berlin",
                                                         {"top_n": "3"}, engine="databricks")

    job = workspace.jobs[int(schedule.engine_job_id)]
    assert job["schedule"]["quartz_cron_expression"] == "0 30 6 ? * 2-6"
    assert job["schedule"]["timezone_id"] == "Europe/Berlin"
    assert job["schedule"]["pause_status"] == "UNPAUSED"
    assert job["tasks"][0]["notebook_task"]["base_parameters"]["top_n"] == "3"
    assert schedule.id in job["name"]


def test_databricks_schedule_pause_resume_delete_job(databricks_flow, workspace):
    schedule = databricks_flow.schedules.create_schedule("ada", NOTEBOOK, DAILY_3AM, "UTC", engine="databricks")
    job_id = int(schedule.engine_job_id)

    databricks_flow.schedules.pause_schedule("ada", schedule.id)
    paused = workspace.jobs[job_id]["schedule"]["pause_status"]
    databricks_flow.schedules.resume_schedule("ada", schedule.id)
    resumed = workspace.jobs[job_id]["schedule"]["pause_status"]
    databricks_flow.schedules.delete_schedule("ada", schedule.id)

    assert paused == "PAUSED"
    assert resumed == "UNPAUSED"
    assert job_id not in workspace.jobs
    assert databricks_flow.schedules.list_schedules("ada") == []


def test_databricks_schedule_is_not_fired_by_worker(databricks_flow, clock):
    databricks_flow.schedules.create_schedule("ada", NOTEBOOK, DAILY_3AM, "UTC", engine="databricks")
    clock.advance(3 * HOUR)

    fired = databricks_flow.schedules.fire_due_schedules()

    assert fired == []
    assert databricks_flow.list_runs("ada") == []


def test_databricks_schedule_rejects_both_day_fields(databricks_flow, workspace):
    with pytest.raises(InvalidInput, match="restricts both the day of month and the day of week"):
        databricks_flow.schedules.create_schedule("ada", NOTEBOOK, "0 3 1 * 1", "UTC", engine="databricks")

    assert workspace.jobs == {}
