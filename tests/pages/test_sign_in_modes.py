"""The app's router in Cognito mode under AppTest: the Cognito forms on the login page end in a local session."""

from __future__ import annotations

import pytest

from operatorflow.accounts.users import UserStore
from operatorflow.registry import RunRegistry
from tests.aws import MotoServer
from tests.cognito_pool import PASSWORD, create_pool
from tests.pages.conftest import new_session, run


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def cognito_app_env(app_env, moto, monkeypatch):
    pool = create_pool(moto, with_secret=True)
    monkeypatch.setenv("OPERATORFLOW_AUTH_MODE", "cognito")
    monkeypatch.setenv("OPERATORFLOW_COGNITO_USER_POOL_ID", pool.pool_id)
    monkeypatch.setenv("OPERATORFLOW_COGNITO_CLIENT_ID", pool.client_id)
    monkeypatch.setenv("OPERATORFLOW_COGNITO_CLIENT_SECRET", pool.client_secret or "")
    monkeypatch.setenv("OPERATORFLOW_COGNITO_ENDPOINT_URL", moto.endpoint_url)
    pool.add_confirmed_user("grace", email="grace@example.com")
    return app_env


def cognito_sign_in(at, user_name: str, password: str):
    for field in at.tabs[0].text_input:
        field.set_value({"Username": user_name, "Password": password}[field.label])
    at.button(key="FormSubmitter:cognito_sign_in-Sign in").click()
    return run(at)


def sidebar_texts(at) -> list[str]:
    return [element.value for element in at.sidebar.markdown]


def test_cognito_sign_in_starts_local_session(cognito_app_env):
    at = new_session()

    cognito_sign_in(at, "grace", PASSWORD)

    assert "Signed in as **grace**" in sidebar_texts(at)
    registry = RunRegistry(cognito_app_env.resolved_database_url)
    try:
        user = UserStore(registry).get("grace")
    finally:
        registry.dispose()
    assert (user.source, user.email, user.confirmed) == ("cognito", "grace@example.com", True)


def test_cognito_login_page_has_no_local_forms(cognito_app_env):
    at = new_session()

    labels = [tab.label for tab in at.tabs]

    assert labels == ["Sign in", "Create account", "Forgot password"]


def test_cognito_sign_out_returns_to_login(cognito_app_env):
    at = cognito_sign_in(new_session(), "grace", PASSWORD)

    at.sidebar.button(key="router_sign_out").click()
    run(at)

    assert [tab.label for tab in at.tabs] == ["Sign in", "Create account", "Forgot password"]
    assert "cognito_session" not in at.session_state


def test_wrong_cognito_password_stays_signed_out(cognito_app_env, monkeypatch):
    # moto checks passwords in USER_PASSWORD_AUTH only; in SRP it accepts any password.
    monkeypatch.setenv("OPERATORFLOW_COGNITO_AUTH_FLOW", "USER_PASSWORD_AUTH")
    at = new_session()

    cognito_sign_in(at, "grace", "Wrong#password1")

    assert "Signed in as **grace**" not in sidebar_texts(at)
    assert [e.value for e in at.error] == ["Incorrect username or password: check both and try again."]
