"""Sharing controls on run details and on a workflow: shown to owners, enforced by the service."""

from __future__ import annotations

import datetime as dt

from operatorflow.registry.schema import users
from operatorflow.status import RunStatus
from tests.pages.conftest import USER, errors, finish_run, open_page, run

WORD_COUNT = "shakespeare-wordcount"
FRIEND = "grace"


def add_user(service, name: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with service.registry.begin() as conn:
        conn.execute(users.insert().values(name=name, source="local", is_admin=False, disabled=False,
                                           created_at=now, updated_at=now, failed_sign_ins=0))


def share_form_key(run_id: str) -> str:
    return f"run_sharing_{run_id}"


def test_owner_shares_run_from_its_details(signed_in_app, service):
    add_user(service, FRIEND)
    submitted = service.submit_run(USER, WORD_COUNT, {"top_n": "3"})
    finish_run(service, submitted.id, RunStatus.SUCCEEDED, result={"total_words": 1}, log="done\n")
    open_page(signed_in_app, "sparkflow")
    key = share_form_key(submitted.id)

    signed_in_app.text_input(key=f"{key}_grantee").set_value(FRIEND)
    signed_in_app.selectbox(key=f"{key}_permission").set_value("run")
    signed_in_app.button(key=f"FormSubmitter:{key}_form-Share").click()
    run(signed_in_app)

    [grant] = service.list_grants(USER)
    assert (grant.object_type, grant.object_id, grant.grantee, grant.permission) == (
        "run", submitted.id, FRIEND, "run")
    assert f"Shared with {FRIEND}." in [s.value for s in signed_in_app.success]
    assert service.get_run(FRIEND, submitted.id).id == submitted.id


def test_share_with_unknown_user_shows_error(signed_in_app, service):
    submitted = service.submit_run(USER, WORD_COUNT, {})
    open_page(signed_in_app, "sparkflow")
    key = share_form_key(submitted.id)

    signed_in_app.text_input(key=f"{key}_grantee").set_value("nobody")
    signed_in_app.button(key=f"FormSubmitter:{key}_form-Share").click()
    run(signed_in_app)

    assert any(e.startswith("No user 'nobody': access can be granted only") for e in errors(signed_in_app))
    assert service.list_grants(USER) == []


def test_revoke_button_removes_grant(signed_in_app, service):
    add_user(service, FRIEND)
    submitted = service.submit_run(USER, WORD_COUNT, {})
    service.grant_access(USER, "run", submitted.id, FRIEND, "view")
    open_page(signed_in_app, "sparkflow")

    signed_in_app.button(key=f"{share_form_key(submitted.id)}_revoke_{FRIEND}").click()
    run(signed_in_app)

    assert service.list_grants(USER) == []


def test_shared_run_marked_without_controls(signed_in_app, service):
    add_user(service, FRIEND)
    theirs = service.submit_run(FRIEND, WORD_COUNT, {})
    service.grant_access(FRIEND, "run", theirs.id, USER, "view")

    open_page(signed_in_app, "sparkflow")

    label = signed_in_app.selectbox(key="sparkflow_selected_run")
    assert label.value == theirs.id
    assert label.format_func(theirs.id).endswith(f"· shared by {FRIEND}")
    assert f"Run of {FRIEND}, shared with you or shown to you as an administrator." in [c.value for c in signed_in_app.caption]
    assert not [t for t in signed_in_app.text_input if t.key == f"{share_form_key(theirs.id)}_grantee"]
    assert not [b for b in signed_in_app.button if b.key == f"sparkflow_cancel_{theirs.id}"]


def test_workflow_sharing_shares_later_runs(signed_in_app, service):
    add_user(service, FRIEND)
    open_page(signed_in_app, "sparkflow")
    key = f"sparkflow_sharing_{WORD_COUNT}"

    signed_in_app.text_input(key=f"{key}_grantee").set_value(FRIEND)
    signed_in_app.button(key=f"FormSubmitter:{key}_form-Share").click()
    run(signed_in_app)
    later = service.submit_run(USER, WORD_COUNT, {})

    assert [r.id for r in service.list_runs(FRIEND)] == [later.id]


def test_shared_model_run_offers_download(signed_in_app, service):
    add_user(service, FRIEND)
    theirs = service.submit_run(FRIEND, "taxi-tip-trainer", {})
    output = service.stores.local.path_of(theirs.output_location)
    (output / "model").mkdir(parents=True)
    (output / "model" / "model.joblib").write_bytes(b"model")
    finish_run(service, theirs.id, RunStatus.SUCCEEDED, metrics={"accuracy": 0.9})
    service.grant_access(FRIEND, "run", theirs.id, USER, "view")

    open_page(signed_in_app, "kubeflow")

    picker = signed_in_app.selectbox(key=f"run_download_{theirs.id}")
    assert picker.value == f"{theirs.output_location}/model/model.joblib"
    assert len(signed_in_app.get("download_button")) == 1
    assert errors(signed_in_app) == []
