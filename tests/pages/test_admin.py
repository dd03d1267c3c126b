"""The Administration page under AppTest: accounts and grants, for administrators only."""

from __future__ import annotations

import io

import pytest
from streamlit.testing.v1 import AppTest

from operatorflow import cli
from operatorflow.accounts.users import UserStore
from operatorflow.factory import build_service
from tests.pages.conftest import PASSWORD, USER, errors, new_session, open_page, run, sign_in

ADMIN = "boss"
ADMIN_PASSWORD = "Babbage#Engine1834"
NOTEBOOK = "shakespeare-wordcount"


def add_account(monkeypatch, name: str, password: str, admin: bool = False) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    arguments = ["users", "add", name, "--email", f"{name}@example.com", "--password-stdin"]
    assert cli.main(arguments + (["--admin"] if admin else [])) == 0


@pytest.fixture
def admin_app(app_env, monkeypatch) -> AppTest:
    add_account(monkeypatch, ADMIN, ADMIN_PASSWORD, admin=True)
    add_account(monkeypatch, USER, PASSWORD)
    return sign_in(new_session(), ADMIN, ADMIN_PASSWORD)


def page_titles(at: AppTest) -> list[str]:
    return [element.value for element in at.title]


def users(settings) -> UserStore:
    return UserStore(build_service(settings).registry)


def test_admin_sees_accounts(admin_app):
    open_page(admin_app, "admin")

    [table] = admin_app.dataframe
    assert page_titles(admin_app) == ["Administration"]
    assert sorted(table.value["User"]) == [USER, ADMIN, "local"]


def test_admin_disables_and_enables_account(admin_app, app_env):
    open_page(admin_app, "admin")

    admin_app.selectbox(key="admin_account").set_value(USER)
    run(admin_app)
    admin_app.button(key="admin_disable").click()
    run(admin_app)
    disabled = users(app_env).get(USER).disabled
    admin_app.button(key="admin_enable").click()
    run(admin_app)

    assert disabled is True
    assert users(app_env).get(USER).disabled is False
    assert [s.value for s in admin_app.success] == [f"{USER} is enabled."]


def test_admin_adds_account_with_password_link(admin_app, app_env):
    open_page(admin_app, "admin")

    admin_app.text_input(key="admin_new_name").set_value("grace")
    admin_app.text_input(key="admin_new_email").set_value("grace@example.com")
    admin_app.button(key="FormSubmitter:admin_add_user-Add account").click()
    run(admin_app)

    added = users(app_env).get("grace")
    assert (added.email, added.confirmed, added.is_admin) == ("grace@example.com", True, False)
    assert [s.value for s in admin_app.success] == [
        "grace added. A link that sets the password was sent to grace@example.com."
    ]


def test_admin_rejects_invalid_new_account(admin_app):
    open_page(admin_app, "admin")

    admin_app.text_input(key="admin_new_name").set_value("x")
    admin_app.text_input(key="admin_new_email").set_value("not-an-address")
    admin_app.button(key="FormSubmitter:admin_add_user-Add account").click()
    run(admin_app)

    assert len(errors(admin_app)) == 1
    assert errors(admin_app)[0].startswith("Invalid username 'x'")


def test_admin_revokes_grant(admin_app, app_env):
    service = build_service(app_env)
    run_of_ada = service.submit_run(USER, NOTEBOOK)
    service.grant_access(USER, "run", run_of_ada.id, ADMIN, "view")
    open_page(admin_app, "admin")

    admin_app.selectbox(key="admin_grant").set_value(service.list_grants(USER)[0].id)
    run(admin_app)
    admin_app.button(key="admin_revoke").click()
    run(admin_app)

    assert service.list_grants(USER) == []
    assert [s.value for s in admin_app.success] == [f"Revoked {ADMIN}'s view access to run {run_of_ada.id}."]


def test_page_missing_for_non_admin(app_env, monkeypatch):
    add_account(monkeypatch, USER, PASSWORD)
    at = sign_in(new_session(), USER, PASSWORD)

    with pytest.raises(ValueError, match="Could not find a navigation page for .*app_pages/admin.py"):
        open_page(at, "admin")


def test_non_admin_denied_by_service(app_env, monkeypatch):
    from operatorflow.accounts import build_accounts
    from operatorflow.errors import PermissionDenied

    add_account(monkeypatch, USER, PASSWORD)
    service = build_service(app_env)
    accounts = build_accounts(app_env, service.registry)

    with pytest.raises(PermissionDenied) as caught:
        accounts.check_administrator(USER, "disable or enable accounts")

    assert str(caught.value) == (f"User {USER!r} is not permitted to disable or enable accounts: only an "
                                 "administrator may manage accounts. Ask one.")
