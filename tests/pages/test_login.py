"""The router and the Login page: registration with email confirmation, sign-in, reset, sessions and sign-out."""

from __future__ import annotations

import logging

import pytest
from streamlit.testing.v1 import AppTest

from operatorflow import accounts
from operatorflow.accounts import CONFIRM_PARAM, RESET_PARAM, SIGN_IN_FAILED
from operatorflow.factory import build_service
from tests.outbox import link_token, outbox_messages
from tests.pages.conftest import PASSWORD, USER, confirm_from_outbox, errors, new_session, register, run, sign_in

LOGIN_TABS = ["Sign in", "Create account", "Reset password", "Resend confirmation"]
NEW_PASSWORD = "Analytical-Engine-2"


def account_service(settings) -> accounts.AccountService:
    service = build_service(settings)
    return accounts.build_accounts(service.settings, service.registry, service.clock)


def successes(at: AppTest) -> list[str]:
    return [s.value for s in at.success]


def test_signed_out_session_sees_only_login(app):
    assert [t.label for t in app.tabs] == LOGIN_TABS
    assert [b.key for b in app.sidebar.button] == []
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("app_pages/sparkflow.py")


def test_register_confirm_then_sign_in_opens_home(app, app_env):
    register(app, USER, PASSWORD)
    assert successes(app) == [f"Account {USER} created. Open the link in the email sent to {USER}@example.com "
                              "to confirm it, then sign in."]

    confirm_from_outbox(app, app_env)
    assert successes(app) == [f"Email address confirmed for {USER}. Sign in below."]
    assert CONFIRM_PARAM not in app.query_params
    sign_in(app, USER, PASSWORD)

    assert [t.value for t in app.title] == ["OperatorFlow"]
    assert app.sidebar.markdown[0].value == f"Signed in as **{USER}**"
    assert [link.label for link in app.get("page_link")] == [
        "Open SparkFlow", "Open KubeFlow", "Open Inference", "Open Monitoring"
    ]


def test_unconfirmed_account_cannot_sign_in(app):
    register(app, USER, PASSWORD)

    sign_in(app, USER, PASSWORD)

    assert errors(app) == [f"The account '{USER}' is not confirmed yet: open the link in the confirmation email, "
                           "or send a new one on the Resend confirmation tab."]
    assert [t.label for t in app.tabs] == LOGIN_TABS


def test_used_confirmation_link_shows_error(app, app_env):
    register(app, USER, PASSWORD)
    confirm_from_outbox(app, app_env)
    other_tab = new_session()

    confirm_from_outbox(other_tab, app_env)

    assert errors(other_tab) == ["This confirmation link was already used: ask for a new one if you still need it."]


def test_wrong_password_and_unknown_user_get_same_message(app, app_env):
    register(app, USER, PASSWORD)
    confirm_from_outbox(app, app_env)

    sign_in(app, USER, "Wrong#password1")
    wrong_password = errors(app)
    sign_in(app, "nobody", PASSWORD)

    assert wrong_password == errors(app) == [SIGN_IN_FAILED]
    assert [t.label for t in app.tabs] == LOGIN_TABS


def test_repeated_failures_lock_account(app, app_env):
    register(app, USER, PASSWORD)
    confirm_from_outbox(app, app_env)
    for _ in range(4):
        sign_in(app, USER, "Wrong#password1")

    sign_in(app, USER, "Wrong#password1")

    [message] = errors(app)
    assert message.startswith(f"The account '{USER}' is locked after 5 failed sign-ins until ")
    assert message.endswith(" UTC. Try again then, or reset your password on the Reset password tab.")
    sign_in(app, USER, PASSWORD)
    assert errors(app) == [message]


@pytest.mark.parametrize(
    ("username", "password", "email", "expected"),
    [
        ("-ada", PASSWORD, None, "Invalid username '-ada': use " + accounts.USERNAME_RULE + "."),
        ("local", PASSWORD, None, "The username 'local' is reserved for the command line: choose another one."),
        (USER, PASSWORD, "not-an-email", "Invalid email address 'not-an-email': use the form name@example.com."),
        (USER, "short", None, "The password is too short: use at least 12 characters."),
        (USER, "ada-is-my-password-1", None, "The password contains the username: choose one that does not."),
    ],
)
def test_registration_rejects_invalid_input(app, app_env, username, password, email, expected):
    register(app, username, password, email=email)

    assert errors(app) == [expected]
    assert successes(app) == []
    assert outbox_messages(app_env.home) == []


def test_registration_rejects_mismatched_passwords(app):
    register(app, USER, PASSWORD, repeat=PASSWORD + "x")

    assert errors(app) == ["The passwords do not match: type the same password twice."]


def test_registration_rejects_taken_username(app):
    register(app, USER, PASSWORD)

    register(app, USER, PASSWORD, email="other@example.com")

    assert errors(app) == [f"The username '{USER}' is already taken: choose another one."]


def test_registration_mail_failure_keeps_account(app, app_env, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPERATORFLOW_SMTP_PORT", "9")
    monkeypatch.setenv("OPERATORFLOW_SMTP_STARTTLS", "false")
    import streamlit as st

    st.cache_resource.clear()
    at = new_session()

    register(at, USER, PASSWORD)

    assert errors(at) == [
        f"Account {USER} created. The confirmation email could not be sent: the SMTP server 127.0.0.1:9 failed: "
        "[Errno 111] Connection refused. Ask an administrator or try again. "
        "To send it again, use the Resend confirmation tab."
    ]
    assert account_service(app_env).users.get(USER).email == f"{USER}@example.com"


def test_resend_confirmation_sends_new_link(app, app_env):
    register(app, USER, PASSWORD)
    form = app.tabs[3]

    form.text_input(key="login_resend_name").set_value(f"{USER}@example.com")
    form.button(key="FormSubmitter:login_resend-Resend confirmation").click()
    run(app)

    assert successes(app) == ["If an unconfirmed account with that username or email exists, a new confirmation "
                              "link is on its way."]
    assert len(outbox_messages(app_env.home)) == 2


def test_password_reset_through_link(app, app_env):
    register(app, USER, PASSWORD)
    confirm_from_outbox(app, app_env)
    form = app.tabs[2]
    form.text_input(key="login_reset_name").set_value(USER)
    form.button(key="FormSubmitter:login_reset-Send reset link").click()
    run(app)
    token = link_token(outbox_messages(app_env.home)[-1], "reset")

    app.query_params[RESET_PARAM] = token
    run(app)
    fields = {field.label: field for field in app.text_input}
    fields["New password"].set_value(NEW_PASSWORD)
    fields["Repeat new password"].set_value(NEW_PASSWORD)
    app.button(key="FormSubmitter:login_new_password-Set password").click()
    run(app)

    assert successes(app) == [f"Password changed for {USER}. Sign in with the new password."]
    sign_in(app, USER, NEW_PASSWORD)
    assert app.sidebar.markdown[0].value == f"Signed in as **{USER}**"


def test_sign_out_returns_to_login_and_ends_sessions(signed_in_app, app_env):
    signed_in_app.session_state["sparkflow_selected_run"] = "abc"
    token = signed_in_app.session_state["router_session_token"]

    signed_in_app.sidebar.button(key="router_sign_out").click()
    run(signed_in_app)

    assert [t.label for t in signed_in_app.tabs] == LOGIN_TABS
    assert "sparkflow_selected_run" not in signed_in_app.session_state
    assert account_service(app_env).sessions.get_user(token) is None


def test_session_ended_elsewhere_signs_out_at_next_run(signed_in_app, app_env):
    account_service(app_env).sessions.end_all(USER)

    run(signed_in_app)

    assert [t.label for t in signed_in_app.tabs] == LOGIN_TABS


def test_disabled_user_is_signed_out_at_next_run(signed_in_app, app_env):
    account_service(app_env).set_disabled(USER, True)

    run(signed_in_app)

    assert [t.label for t in signed_in_app.tabs] == LOGIN_TABS


def test_sign_in_logs_user(app, app_env, caplog):
    register(app, USER, PASSWORD)
    confirm_from_outbox(app, app_env)

    with caplog.at_level(logging.INFO, logger="operatorflow"):
        sign_in(app, USER, PASSWORD)

    assert f"accounts {USER} signed in with a password" in caplog.messages
    assert f"accounts {USER} signed in" in caplog.messages


def test_sign_in_as_serves_other_sign_in_methods(app_env):
    def script():
        import streamlit as st

        from operatorflow import ui

        def sign_in_through_cognito():
            user = ui.get_accounts().users.ensure_external_user("grace@corp", "grace@example.com", "cognito")
            ui.sign_in_as(user.name)

        ui.authenticate_session()
        st.button("Cognito", key="external_sign_in", on_click=sign_in_through_cognito)
        st.write(f"user={ui.current_user()}")

    at = AppTest.from_function(script).run()

    at.button(key="external_sign_in").click().run()

    token = at.session_state["router_session_token"]
    assert "user=grace@corp" in [m.value for m in at.markdown]
    assert account_service(app_env).sessions.get_user(token) == "grace@corp"


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
