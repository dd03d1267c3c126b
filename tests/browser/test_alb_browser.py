"""The ALB sign-in of the app's router in a real Streamlit server and Chromium.

The identity header arrives through `st.context.headers`.

Chromium sends the test's `x-amzn-oidc-data` header with every request of the page, including the
WebSocket request from which Streamlit takes `st.context.headers`, as an ALB would add it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from operatorflow.accounts.users import UserStore
from operatorflow.registry import RunRegistry
from operatorflow.settings import PROJECT_DIR
from tests.alb_tokens import ALB_ARN, AlbSigner, KeyServer
from tests.aws import free_port

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ENTRY_SCRIPT = PROJECT_DIR / "Home.py"
START_TIMEOUT_SECONDS = 60
REJECTION = "Sign-in through the load balancer failed"


@pytest.fixture(scope="session")
def browser_type_launch_args():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests")
    return {"executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def signer():
    return AlbSigner()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory, signer):
    """Serve the app with `streamlit run` on 127.0.0.1, in ALB mode against a local key server; yield its URL and home."""
    key_server = KeyServer().start()
    key_server.add(signer)
    home = tmp_path_factory.mktemp("alb-home")
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("OPERATORFLOW_")}
    env.update(OPERATORFLOW_HOME=str(home), OPERATORFLOW_AUTH_MODE="alb", OPERATORFLOW_ALB_ARN=ALB_ARN,
               OPERATORFLOW_ALB_PUBLIC_KEY_URL=key_server.url_template, OPERATORFLOW_WORKER="none",
               PYTHONPATH=str(PROJECT_DIR))
    command = [sys.executable, "-m", "streamlit", "run", str(ENTRY_SCRIPT), "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    log_path = home / "streamlit.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, log_path)
        yield url, home
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        key_server.stop()


def open_with_header(browser: Browser, url: str, token: str | None):
    headers = {"x-amzn-oidc-data": token} if token is not None else {}
    context = browser.new_context(extra_http_headers=headers)
    page = context.new_page()
    page.goto(url)
    return context, page


def test_signed_header_signs_in(app_url, browser, signer):
    url, home = app_url
    token = signer.token(expires=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
    context, page = open_with_header(browser, url, token)

    try:
        expect(page.get_by_text("Signed in as ada")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Welcome, ada.")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    finally:
        context.close()
    registry = RunRegistry(f"sqlite:///{home / 'operatorflow.db'}")
    try:
        user = UserStore(registry).get("ada")
    finally:
        registry.dispose()
    assert (user.source, user.email, user.confirmed) == ("alb", "ada@example.com", True)


def test_missing_header_shows_rejection(app_url, browser):
    context, page = open_with_header(browser, app_url[0], None)

    try:
        expect(page.get_by_text(f"{REJECTION}: the request has no x-amzn-oidc-data header.")).to_be_visible(
            timeout=15_000
        )
        expect(page.get_by_text("Signed in as")).to_have_count(0)
    finally:
        context.close()


def test_forged_header_shows_rejection(app_url, browser, signer):
    forger = AlbSigner(kid=signer.kid)
    token = forger.token(expires=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
    context, page = open_with_header(browser, app_url[0], token)

    try:
        expect(page.get_by_text(f"{REJECTION}: the token's signature does not verify")).to_be_visible(timeout=15_000)
        expect(page.get_by_text("Signed in as")).to_have_count(0)
    finally:
        context.close()


def _wait_for_health(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Streamlit exited with code {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"Streamlit did not answer {url}/_stcore/health within {START_TIMEOUT_SECONDS} s:\n"
                f"{log_path.read_text()[-3000:]}")
