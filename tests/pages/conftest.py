"""Fixtures for page tests: the app under AppTest on a fresh data folder, signed in through the Login page."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from operatorflow.accounts import CONFIRM_PARAM, passwords
from operatorflow.settings import PROJECT_DIR
from operatorflow.status import RunStatus
from tests.outbox import link_token, outbox_messages

HOME_SCRIPT = PROJECT_DIR / "Home.py"
USER = "ada"
PASSWORD = "Lovelace#1843"
RUN_TIMEOUT_SECONDS = 60


@pytest.fixture
def app_env(settings, monkeypatch):
    """Point the app at the test's data folder (the same as `settings`), with no worker thread.

    Failed sign-ins do not pause here (the account tests check the pauses with a fake clock),
    and bcrypt uses its lowest cost, so page tests spend no time waiting.
    """
    monkeypatch.setenv("OPERATORFLOW_HOME", str(settings.home))
    monkeypatch.setenv("OPERATORFLOW_WORKER", "none")
    monkeypatch.setenv("OPERATORFLOW_SIGN_IN_DELAY_SECONDS", "0")
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    st.cache_resource.clear()
    yield settings
    st.cache_resource.clear()


@pytest.fixture
def app(app_env):
    """A fresh session on the Login page."""
    return new_session()


@pytest.fixture
def signed_in_app(app, app_env):
    """A session of USER, who registered, confirmed the email address and signed in through the Login page."""
    register(app, USER, PASSWORD)
    confirm_from_outbox(app, app_env)
    sign_in(app, USER, PASSWORD)
    assert not app.error, [e.value for e in app.error]
    return app


def new_session() -> AppTest:
    """Open the app as a new browser tab would, with no cookie."""
    return run(AppTest.from_file(str(HOME_SCRIPT), default_timeout=RUN_TIMEOUT_SECONDS))


def run(at: AppTest) -> AppTest:
    """Run the app and fail on an exception or an unexpected failure shown by ui.show_error."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    unexpected = [e.value for e in at.error if e.value.startswith("Unexpected failure")]
    assert not unexpected, unexpected
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    return run(at.switch_page(f"app_pages/{page}.py"))


def register(at: AppTest, username: str, password: str, email: str | None = None,
             repeat: str | None = None) -> AppTest:
    values = {
        "Username": username,
        "Email": email or f"{username}@example.com",
        "Password": password,
        "Repeat password": password if repeat is None else repeat,
    }
    form = at.tabs[1]
    for field in form.text_input:
        field.set_value(values[field.label])
    form.button(key="FormSubmitter:login_register-Create account").click()
    return run(at)


def confirm_from_outbox(at: AppTest, settings) -> AppTest:
    """Open the newest confirmation link in the outbox, as a click in the email would."""
    token = link_token(outbox_messages(settings.home)[-1], "confirm")
    at.query_params[CONFIRM_PARAM] = token
    return run(at)


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    form = at.tabs[0]
    fields = {field.label: field for field in form.text_input}
    fields["Username"].set_value(username)
    fields["Password"].set_value(password)
    form.button(key="FormSubmitter:login_sign_in-Sign in").click()
    return run(at)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def finish_run(service, run_id: str, status: RunStatus, *, result: dict | None = None,
               metrics: dict | None = None, error_message: str | None = None, log: str = "") -> None:
    """Take a queued run through the registry as a worker would: claim it, attach a log, finish it."""
    run = service.registry.get_run(run_id)
    log_path = service.settings.runs_dir / run_id / "run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(log, encoding="utf-8")

    claimed = service.registry.claim_next_queued("test-worker", 30)
    assert claimed is not None and claimed.id == run.id, "finish_run expects the run to be the oldest queued one"
    service.registry.set_engine_run(run_id, f"engine-{run_id}", str(log_path))
    if status.is_terminal:
        service.registry.finish_run(
            run_id, status, result=json.dumps(result) if result is not None else None,
            metrics=metrics, error_message=error_message,
        )
