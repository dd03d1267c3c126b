"""Access control through the service and the command line: owners, grantees, strangers and administrators."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from operatorflow import cli
from operatorflow.errors import InvalidInput, NotFound, PermissionDenied
from operatorflow.factory import build_service
from operatorflow.registry.schema import users
from operatorflow.settings import load_settings
from operatorflow.status import RunStatus

NOTEBOOK = "shakespeare-wordcount"
PIPELINE = "taxi-tip-trainer"
OWNER, VIEWER, RUNNER, STRANGER, ADMIN, DISABLED, OTHER = "olga", "vera", "rudi", "sam", "ada", "dora", "gus"
ROLES = {"owner": OWNER, "viewer": VIEWER, "runner": RUNNER, "stranger": STRANGER, "admin": ADMIN}
ACTIONS = ["list", "view", "logs", "outputs", "run", "cancel", "grant"]
OBJECTS = ["run", "workflow", "model"]

# Who may do each action, the same for runs, workflow-shared runs and models. Cancelling a finished
# model run is permitted to the owner and administrators but raises InvalidInput, as the tests check.
ALLOWED = {
    "list": {"owner", "viewer", "runner", "admin"},
    "view": {"owner", "viewer", "runner", "admin"},
    "logs": {"owner", "viewer", "runner", "admin"},
    "outputs": {"owner", "viewer", "runner", "admin"},
    "run": {"owner", "runner", "admin"},
    "cancel": {"owner", "admin"},
    "grant": {"owner", "admin"},
}
LOG_TEXT = "step 1 of 2\nstep 2 of 2\n"


def _add_user(service, name: str, *, is_admin: bool = False, disabled: bool = False) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with service.registry.begin() as conn:
        conn.execute(users.insert().values(
            name=name, source="local", is_admin=is_admin, disabled=disabled, created_at=now, updated_at=now,
            failed_sign_ins=0,
        ))


def _make_service(database_url: str, home: Path):
    service = build_service(load_settings(home=home, worker="none", database_url=database_url))
    for name in (OWNER, VIEWER, RUNNER, STRANGER, OTHER):
        _add_user(service, name)
    _add_user(service, ADMIN, is_admin=True)
    _add_user(service, DISABLED, disabled=True)
    return service


def _make_run(service, workflow: str, *, succeeded: bool = False) -> str:
    """Queue a run of OWNER with a log and one output object; a succeeded pipeline run also gets a model file."""
    run = service.submit_run(OWNER, workflow)
    log = service.settings.home / "logs" / f"{run.id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(LOG_TEXT, encoding="utf-8")
    service.registry.set_engine_run(run.id, f"engine-{run.id}", str(log))
    store = service.stores.for_location(run.output_location)
    store.write_bytes(f"{run.output_location}/result.json", b'{"rows": 3}')
    if succeeded:
        store.write_bytes(f"{run.output_location}/model/model.joblib", b"not read by these tests")
        service.registry.claim_next_queued("worker-1", 30)
        service.registry.finish_run(run.id, RunStatus.SUCCEEDED, result='{"accuracy": 0.9}')
    return run.id


def _share(service, object_type: str) -> str:
    """Create OWNER's target run for `object_type`, share it with VIEWER (view) and RUNNER (run); return its id."""
    if object_type == "model":
        run_id = _make_run(service, PIPELINE, succeeded=True)
    else:
        run_id = _make_run(service, NOTEBOOK)
    grant_type, grant_id = ("workflow", NOTEBOOK) if object_type == "workflow" else ("run", run_id)
    service.grant_access(OWNER, grant_type, grant_id, VIEWER, "view")
    service.grant_access(OWNER, grant_type, grant_id, RUNNER, "run")
    return run_id


@pytest.fixture
def world(database_url, tmp_path):
    service = _make_service(database_url, tmp_path / "home")
    yield service
    service.registry.dispose()


def _denied_message(action: str, object_type: str, object_id: str) -> str:
    command = {"run": "runs list", "model": "models list", "workflow": "workflows list"}[object_type]
    return (f"You are not permitted to {action} {object_type} {object_id!r}, or it does not exist. "
            f"Check the id with `operatorflow {command}`, or ask its owner to share it with you.")


def _service_action(service, user: str, object_type: str, action: str, run_id: str):
    if action == "list":
        listed = service.list_models(user) if object_type == "model" else service.list_runs(user)
        return run_id in [run.id for run in listed]
    if action == "view":
        return service.get_run(user, run_id).id
    if action == "logs":
        return service.read_run_log(user, run_id)
    if action == "outputs":
        return [location.rsplit("/", 1)[-1] for location in service.list_output_objects(user, run_id)]
    if action == "run":
        return service.rerun_run(user, run_id).owner
    if action == "cancel":
        return service.cancel_run(user, run_id).status
    if object_type == "workflow":
        return service.grant_access(user, "workflow", NOTEBOOK, OTHER, "view", owner=OWNER).grantee
    return service.grant_access(user, "run", run_id, OTHER, "view").grantee


def _expected_result(object_type: str, action: str, user: str):
    return {
        "view": None,  # the run id, filled in by the test
        "logs": LOG_TEXT,
        "outputs": ["model.joblib", "result.json"] if object_type == "model" else ["result.json"],
        "run": user,
        "cancel": RunStatus.CANCELED,
        "grant": OTHER,
    }[action]


def _denied_target(object_type: str, action: str, run_id: str) -> tuple[str, str]:
    """Return the object type and id that a denial of `action` names."""
    if action == "grant" and object_type == "workflow":
        return "workflow", NOTEBOOK
    return "run", run_id


# The matrix through the service


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("object_type", OBJECTS)
def test_service_matrix(world, object_type, role, action):
    run_id = _share(world, object_type)
    user = ROLES[role]
    allowed = role in ALLOWED[action]

    if action == "list":
        assert _service_action(world, user, object_type, action, run_id) is allowed
        return
    if not allowed:
        with pytest.raises(PermissionDenied) as denied:
            _service_action(world, user, object_type, action, run_id)
        assert str(denied.value) == _denied_message(action, *_denied_target(object_type, action, run_id))
        return
    if action == "cancel" and object_type == "model":
        with pytest.raises(InvalidInput) as invalid:
            _service_action(world, user, object_type, action, run_id)
        assert str(invalid.value) == f"Run {run_id} already ended SUCCEEDED; there is nothing to cancel."
        return

    result = _service_action(world, user, object_type, action, run_id)

    expected = run_id if action == "view" else _expected_result(object_type, action, user)
    assert result == expected


# The matrix through the command line


@pytest.fixture
def cli_world(database_url, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OPERATORFLOW_HOME", str(home))
    monkeypatch.setenv("OPERATORFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("OPERATORFLOW_WORKER", "none")
    service = _make_service(database_url, home)
    yield service
    service.registry.dispose()


def _cli_command(object_type: str, action: str, run_id: str) -> list[str]:
    if action == "list":
        return ["models" if object_type == "model" else "runs", "list", "--json"]
    if action == "view":
        return ["runs", "show", run_id, "--json"]
    if action == "logs":
        return ["runs", "log", run_id]
    if action == "outputs":
        return ["runs", "outputs", run_id, "--json"]
    if action == "run":
        return ["runs", "rerun", run_id, "--json"]
    if action == "cancel":
        return ["runs", "cancel", run_id]
    if object_type == "workflow":
        return ["grants", "add", "workflow", NOTEBOOK, "--owner", OWNER, "--to", OTHER, "--json"]
    return ["grants", "add", "run", run_id, "--to", OTHER, "--permission", "view", "--json"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("object_type", OBJECTS)
def test_cli_matrix(cli_world, capsys, object_type, role, action):
    run_id = _share(cli_world, object_type)
    user = ROLES[role]
    allowed = role in ALLOWED[action]

    code = cli.main([*_cli_command(object_type, action, run_id), "--user", user])

    out, err = capsys.readouterr()
    if action == "list":
        assert code == 0
        assert (run_id in [run["id"] for run in json.loads(out)]) is allowed
        return
    if not allowed:
        assert code == cli.EXIT_NOT_PERMITTED
        message = _denied_message(action, *_denied_target(object_type, action, run_id))
        assert err == f"error: {message}\n"
        if "--json" in _cli_command(object_type, action, run_id):
            assert json.loads(out) == {"error": {"type": "PermissionDenied", "message": message}}
        return
    if action == "cancel" and object_type == "model":
        assert code == cli.EXIT_INVALID
        assert err == f"error: Run {run_id} already ended SUCCEEDED; there is nothing to cancel.\n"
        return

    assert code == 0
    if action == "view":
        assert json.loads(out)["id"] == run_id
    elif action == "logs":
        assert out == LOG_TEXT
    elif action == "outputs":
        assert [location.rsplit("/", 1)[-1] for location in json.loads(out)] == _expected_result(
            object_type, action, user)
    elif action == "run":
        assert json.loads(out)["owner"] == user
    elif action == "cancel":
        assert out == f"{run_id} CANCELED\n"
    else:
        assert json.loads(out)["grantee"] == OTHER


# Rules outside the matrix


def test_catalog_workflow_runs_for_every_user(world):
    for user in (OWNER, VIEWER, RUNNER, STRANGER, ADMIN):
        run = world.submit_run(user, NOTEBOOK)

        assert run.owner == user


def test_workflow_grant_shares_only_owners_runs(world):
    world.grant_access(OWNER, "workflow", NOTEBOOK, VIEWER, "view")
    own = world.submit_run(OWNER, NOTEBOOK)
    foreign = world.submit_run(STRANGER, NOTEBOOK)
    later = world.submit_run(OWNER, NOTEBOOK)

    listed = {run.id for run in world.list_runs(VIEWER)}

    assert listed == {own.id, later.id}
    assert foreign.id not in listed


def test_run_grant_shares_only_that_run(world):
    shared = world.submit_run(OWNER, NOTEBOOK)
    other = world.submit_run(OWNER, NOTEBOOK)
    world.grant_access(OWNER, "run", shared.id, VIEWER, "view")

    assert [run.id for run in world.list_runs(VIEWER)] == [shared.id]
    with pytest.raises(PermissionDenied):
        world.get_run(VIEWER, other.id)


def test_revoke_takes_effect_at_once(world):
    run_id = _share(world, "run")
    assert world.get_run(VIEWER, run_id).id == run_id

    world.revoke_access(OWNER, "run", run_id, VIEWER)

    with pytest.raises(PermissionDenied) as denied:
        world.get_run(VIEWER, run_id)
    assert str(denied.value) == _denied_message("view", "run", run_id)
    assert world.list_runs(VIEWER) == []
    assert world.get_run(RUNNER, run_id).id == run_id


def test_revoke_of_workflow_grant_hides_its_runs(world):
    run_id = _share(world, "workflow")

    world.revoke_access(OWNER, "workflow", NOTEBOOK, RUNNER)

    assert world.list_runs(RUNNER) == []
    with pytest.raises(PermissionDenied):
        world.rerun_run(RUNNER, run_id)


def test_revoke_of_missing_grant_is_not_found(world):
    run_id = _make_run(world, NOTEBOOK)

    with pytest.raises(NotFound) as missing:
        world.revoke_access(OWNER, "run", run_id, VIEWER)

    assert str(missing.value) == (f"No grant of run {run_id!r} of {OWNER} to {VIEWER}: "
                                  "see the existing grants with `operatorflow grants list`.")


def test_revoke_by_grantee_is_denied(world):
    run_id = _share(world, "run")

    with pytest.raises(PermissionDenied) as denied:
        world.revoke_access(RUNNER, "run", run_id, VIEWER)

    assert str(denied.value) == _denied_message("grant", "run", run_id)
    assert world.get_run(VIEWER, run_id).id == run_id


def test_grant_to_unknown_user_is_rejected(world):
    run_id = _make_run(world, NOTEBOOK)

    with pytest.raises(InvalidInput) as invalid:
        world.grant_access(OWNER, "run", run_id, "nobody", "view")

    assert str(invalid.value) == (
        "No user 'nobody': access can be granted only to an existing account. "
        "Check the spelling; a new user must sign in once before anything can be shared with them."
    )
    assert world.list_grants(OWNER) == []


def test_grant_to_owner_is_rejected(world):
    run_id = _make_run(world, NOTEBOOK)

    with pytest.raises(InvalidInput, match=f"olga owns run '{run_id}' already"):
        world.grant_access(OWNER, "run", run_id, OWNER, "view")


def test_grant_with_bad_permission_is_rejected(world):
    run_id = _make_run(world, NOTEBOOK)

    with pytest.raises(InvalidInput) as invalid:
        world.grant_access(OWNER, "run", run_id, VIEWER, "admin")

    assert str(invalid.value) == (
        "Invalid permission 'admin': use 'view' (see runs, logs and outputs) or 'run' (view and re-run)."
    )


def test_grant_on_schedule_is_rejected(world):
    with pytest.raises(InvalidInput) as invalid:
        world.grant_access(OWNER, "schedule", "abc", VIEWER, "view")

    assert str(invalid.value) == "Invalid object type 'schedule': access can be granted on a 'run' or a 'workflow'."


def test_grant_again_changes_permission(world):
    run_id = _make_run(world, NOTEBOOK)
    world.grant_access(OWNER, "run", run_id, VIEWER, "view")
    with pytest.raises(PermissionDenied):
        world.rerun_run(VIEWER, run_id)

    world.grant_access(OWNER, "run", run_id, VIEWER, "run")

    assert world.rerun_run(VIEWER, run_id).owner == VIEWER
    assert [g.permission for g in world.list_grants(OWNER)] == ["run"]


def test_admin_grants_runs_of_another_owner(world):
    run = world.submit_run(OWNER, NOTEBOOK)

    grant = world.grant_access(ADMIN, "workflow", NOTEBOOK, VIEWER, "view", owner=OWNER)

    assert (grant.owner, grant.granted_by) == (OWNER, ADMIN)
    assert [r.id for r in world.list_runs(VIEWER)] == [run.id]


def test_missing_and_foreign_run_get_same_message(world):
    foreign = world.submit_run(OWNER, NOTEBOOK)

    with pytest.raises(PermissionDenied) as for_foreign:
        world.get_run(STRANGER, foreign.id)
    with pytest.raises(PermissionDenied) as for_missing:
        world.get_run(STRANGER, "000000000000")

    assert str(for_foreign.value) == _denied_message("view", "run", foreign.id)
    assert str(for_missing.value) == _denied_message("view", "run", "000000000000")


def test_denial_is_logged_with_user_action_and_id(world, caplog):
    run = world.submit_run(OWNER, NOTEBOOK)

    with caplog.at_level(logging.WARNING, logger="operatorflow.access"), pytest.raises(PermissionDenied):
        world.read_run_log(STRANGER, run.id)

    # Filtered by logger: a page test earlier in the session may have set the root logger to INFO.
    assert [r.getMessage() for r in caplog.records if r.name == "operatorflow.access"] == [
        f"access denied {STRANGER} logs run {run.id}"
    ]


@pytest.mark.parametrize("call", [
    lambda s, run_id: s.list_runs(DISABLED),
    lambda s, run_id: s.list_models(DISABLED),
    lambda s, run_id: s.list_workflow_statuses(DISABLED),
    lambda s, run_id: s.submit_run(DISABLED, NOTEBOOK),
    lambda s, run_id: s.get_run(DISABLED, run_id),
    lambda s, run_id: s.schedules.list_schedules(DISABLED),
    lambda s, run_id: s.list_grants(DISABLED),
], ids=["list_runs", "list_models", "list_workflow_statuses", "submit_run", "get_run", "list_schedules",
        "list_grants"])
def test_disabled_user_is_denied(world, call):
    run_id = world.submit_run(OWNER, NOTEBOOK).id
    world.grant_access(OWNER, "run", run_id, DISABLED, "run")

    with pytest.raises(PermissionDenied) as denied:
        call(world, run_id)

    assert "is disabled, so it is not permitted to" in str(denied.value)
    assert str(denied.value).endswith("ask an administrator to enable the account.")


def test_disabled_admin_is_denied(world):
    run_id = world.submit_run(OWNER, NOTEBOOK).id
    with world.registry.begin() as conn:
        conn.execute(users.update().where(users.c.name == ADMIN).values(disabled=True))

    with pytest.raises(PermissionDenied, match="'ada' is disabled"):
        world.get_run(ADMIN, run_id)


def test_admin_lists_every_run(world):
    runs = {world.submit_run(user, NOTEBOOK).id for user in (OWNER, STRANGER)}

    assert {run.id for run in world.list_runs(ADMIN)} == runs
    assert {run.id for run in world.list_runs(STRANGER)} < runs


def test_list_grants_shows_made_and_received(world):
    run_id = world.submit_run(OWNER, NOTEBOOK).id
    world.grant_access(OWNER, "run", run_id, VIEWER, "view")
    world.grant_access(OWNER, "workflow", PIPELINE, RUNNER, "run")

    granted = world.list_grants(OWNER)
    received = world.list_grants(VIEWER)

    assert [(g.object_type, g.object_id, g.grantee) for g in granted] == [
        ("run", run_id, VIEWER), ("workflow", PIPELINE, RUNNER)]
    assert [(g.object_type, g.grantee) for g in received] == [("run", VIEWER)]
    assert world.list_grants(STRANGER) == []
    assert len(world.list_grants(ADMIN)) == 2
    assert [g.grantee for g in world.list_grants(OWNER, "run", run_id)] == [VIEWER]


def test_foreign_schedule_denied_admin_allowed(world):
    schedule = world.schedules.create_schedule(OWNER, NOTEBOOK, "0 3 * * *")

    with pytest.raises(PermissionDenied) as denied:
        world.schedules.pause_schedule(STRANGER, schedule.id)

    assert str(denied.value) == (
        f"You are not permitted to change schedule {schedule.id!r}, or it does not exist. "
        "Check the id with `operatorflow schedules list`, or ask its owner to share it with you."
    )
    assert world.schedules.list_schedules(STRANGER) == []
    assert [v.schedule.id for v in world.schedules.list_schedules(ADMIN)] == [schedule.id]
    assert world.schedules.pause_schedule(ADMIN, schedule.id).paused is True


def test_shared_model_predict_denied_to_stranger(world):
    run_id = _share(world, "model")

    with pytest.raises(PermissionDenied) as denied:
        world.predict(STRANGER, run_id, b"a,b\n1,2\n")

    assert str(denied.value) == _denied_message("outputs", "model", run_id)


def test_read_output_object_checks_access(world):
    run_id = _share(world, "run")
    location = f"{world.get_run(OWNER, run_id).output_location}/result.json"

    assert world.read_output_object(VIEWER, run_id, location) == b'{"rows": 3}'
    with pytest.raises(PermissionDenied):
        world.read_output_object(STRANGER, run_id, location)


def test_cli_grants_list_and_revoke(cli_world, capsys):
    run_id = _make_run(cli_world, NOTEBOOK)
    assert cli.main(["grants", "add", "run", run_id, "--to", VIEWER, "--user", OWNER]) == 0
    assert capsys.readouterr().out == f"{VIEWER} may now view run {run_id} of {OWNER}\n"

    listed = cli.main(["grants", "list", "--json", "--user", VIEWER])
    documents = json.loads(capsys.readouterr().out)
    revoked = cli.main(["grants", "revoke", "run", run_id, "--to", VIEWER, "--user", OWNER])
    revoke_out = capsys.readouterr().out
    show_code = cli.main(["runs", "show", run_id, "--user", VIEWER])

    assert listed == 0
    assert [(d["object_id"], d["grantee"], d["permission"]) for d in documents] == [(run_id, VIEWER, "view")]
    assert revoked == 0
    assert revoke_out == f"{VIEWER} no longer has access to run {run_id}\n"
    assert show_code == cli.EXIT_NOT_PERMITTED


def test_cli_grant_to_unknown_user_exits_2(cli_world, capsys):
    run_id = _make_run(cli_world, NOTEBOOK)

    code = cli.main(["grants", "add", "run", run_id, "--to", "nobody", "--user", OWNER, "--json"])

    document = json.loads(capsys.readouterr().out)
    assert code == cli.EXIT_INVALID
    assert document["error"]["type"] == "InvalidInput"
    assert document["error"]["message"].startswith("No user 'nobody': access can be granted only")


def test_cli_help_documents_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])

    out = capsys.readouterr().out
    assert "4  not permitted" in out


def test_runs_table_names_owner_of_shared_run(world, capsys):
    run_id = _share(world, "run")

    cli._print_run_table(world.list_runs(VIEWER))

    [header, row] = capsys.readouterr().out.splitlines()
    assert header.endswith("OWNER")
    assert row.startswith(run_id)
    assert row.endswith(OWNER)


def test_grants_table_in_database(world):
    _share(world, "workflow")

    with world.registry.begin() as conn:
        rows = conn.execute(sa.text("SELECT grantee, permission FROM grants ORDER BY grantee")).all()

    assert [tuple(row) for row in rows] == [(RUNNER, "run"), (VIEWER, "view")]


def test_output_path_outside_run_is_not_found(world):
    shared_id = _share(world, "run")
    private = world.get_run(OWNER, _make_run(world, NOTEBOOK))
    shared = world.get_run(OWNER, shared_id)
    escape = f"{shared.output_location}/../{private.id}/result.json"
    assert escape.endswith(f"{private.id}/result.json")

    with pytest.raises(NotFound) as missing:
        world.read_output_object(VIEWER, shared_id, escape)

    assert str(missing.value) == f"No object {escape!r} in the output of run {shared_id}."
