"""The router and the Login page: pages of a signed-out session, registration, sign-in and sign-out."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from operatorflow import accounts
from tests.pages.conftest import PASSWORD, USER, errors, register, run, sign_in


def test_signed_out_session_sees_only_login(app):
    assert [t.label for t in app.tabs] == ["Sign in", "Create account"]
    assert [b.key for b in app.sidebar.button] == []
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("app_pages/sparkflow.py")


def test_register_then_sign_in_opens_home(app):
    register(app, USER, PASSWORD)
    assert [s.value for s in app.success] == [f"Account {USER} created. Sign in on the Sign in tab."]

    sign_in(app, USER, PASSWORD)

    assert [t.value for t in app.title] == ["OperatorFlow"]
    assert app.sidebar.markdown[0].value == f"Signed in as **{USER}**"
    assert [link.label for link in app.get("page_link")] == [
        "Open SparkFlow", "Open KubeFlow", "Open Inference", "Open Monitoring"
    ]


def test_registration_stores_hashed_password(app, app_env):
    register(app, USER, PASSWORD)

    stored = accounts.accounts_path(app_env).read_text(encoding="utf-8")
    assert PASSWORD not in stored
    assert accounts.load_accounts(app_env)["credentials"]["usernames"][USER]["password"].startswith("$2b$")


def test_wrong_password_shows_error(app):
    register(app, USER, PASSWORD)

    sign_in(app, USER, "Wrong#password1")

    assert errors(app) == ["Wrong username or password. Check both, or create an account on the next tab."]
    assert [t.label for t in app.tabs] == ["Sign in", "Create account"]


def test_unknown_user_cannot_sign_in(app):
    sign_in(app, "nobody", PASSWORD)

    assert errors(app) == ["Wrong username or password. Check both, or create an account on the next tab."]


@pytest.mark.parametrize(
    ("username", "password", "email", "expected"),
    [
        ("-ada", PASSWORD, None,
         "The account was not created. Invalid username '-ada': use " + accounts.USERNAME_RULE + "."),
        ("ad", PASSWORD, None,
         "The account was not created. Invalid username 'ad': use " + accounts.USERNAME_RULE + "."),
        ("local", PASSWORD, None,
         "The account was not created. The username 'local' is reserved for the command line: choose another one."),
        (USER, PASSWORD, "not-an-email",
         "The account was not created. Invalid email address 'not-an-email': use the form name@example.com."),
    ],
)
def test_registration_rejects_invalid_input(app, username, password, email, expected):
    register(app, username, password, email=email)

    assert errors(app) == [expected]
    assert app.success == []


def test_username_is_stored_in_lowercase(app, app_env):
    register(app, "Ada", PASSWORD)

    sign_in(app, "ADA", PASSWORD)

    assert list(accounts.load_accounts(app_env)["credentials"]["usernames"]) == ["ada"]
    assert app.sidebar.markdown[0].value == "Signed in as **ada**"


def test_registration_rejects_weak_password(app, app_env):
    register(app, USER, "short")

    [message] = errors(app)
    assert message.startswith("The account was not created. **Password must:**")
    assert "Between 8 and 20 characters long" in message
    assert USER not in accounts.load_accounts(app_env)["credentials"]["usernames"]


def test_registration_rejects_mismatched_passwords(app):
    register(app, USER, PASSWORD, repeat=PASSWORD + "x")

    assert errors(app) == ["The account was not created. Passwords do not match"]


def test_registration_rejects_taken_username(app):
    register(app, USER, PASSWORD)

    register(app, USER, PASSWORD, email="other@example.com")

    assert errors(app) == ["The account was not created. Username/email already taken"]


def test_sign_out_returns_to_login(signed_in_app, app_env):
    signed_in_app.session_state["sparkflow_selected_run"] = "abc"

    signed_in_app.sidebar.button(key="router_sign_out").click()
    run(signed_in_app)

    assert [t.label for t in signed_in_app.tabs] == ["Sign in", "Create account"]
    assert "sparkflow_selected_run" not in signed_in_app.session_state
    assert signed_in_app.session_state["authentication_status"] is None
    assert accounts.load_accounts(app_env)["credentials"]["usernames"][USER]["signed_out_at"] > 0


def test_show_error_for_product_and_unexpected_errors(caplog):
    def script():
        from operatorflow import ui
        from operatorflow.errors import NotFound

        ui.show_error(NotFound("No run 'x': check the id."))
        ui.show_error(RuntimeError("boom"))

    with caplog.at_level(logging.ERROR, logger="operatorflow.ui"):
        at = AppTest.from_function(script).run()

    assert errors(at) == [
        "No run 'x': check the id.",
        "Unexpected failure: RuntimeError: boom. The details are in the app log.",
    ]
    assert [r.message for r in caplog.records] == ["Unexpected failure in the app"]
    assert caplog.records[0].exc_info[1].args == ("boom",)
