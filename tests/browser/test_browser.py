"""The real app in Chromium: HTTPS only, accounts with email confirmation and session cookies, a word count run."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from operatorflow.accounts import COOKIE_NAME
from tests.app_server import plain_http_get, start_app
from tests.outbox import link_token, outbox_messages

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# A word count measured 33-36 s on a 2-core machine with the first Spark start; allow for slower ones.
RUN_TIMEOUT_MS = 120_000
PASSWORD = "Lovelace#1843"


# These replace pytest-playwright's fixtures of the same name. They set every option themselves,
# because pytest 9 fails on an override that also requests the fixture it replaces.
@pytest.fixture(scope="session")
def browser_type_launch_args():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package to run browser tests")
    return {"executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args():
    # The app serves a self-signed certificate generated on its first start.
    return {"ignore_https_errors": True, "viewport": {"width": 1400, "height": 1600}}


@pytest.fixture(scope="module")
def app_home(tmp_path_factory):
    return tmp_path_factory.mktemp("app-home")


@pytest.fixture(scope="module")
def app_url(app_home):
    """Start the app with its own data folder and a worker thread; stop it after the module."""
    # No pause after a failed sign-in: these tests sign in correctly, and a pause would only slow them.
    for app in start_app(app_home, address=None, OPERATORFLOW_WORKER="thread",
                         OPERATORFLOW_SIGN_IN_DELAY_SECONDS="0", SPARK_LOCAL_IP="127.0.0.1"):
        yield f"https://localhost:{app.port}"


def test_plain_http_gets_no_page(app_url):
    port = int(app_url.rsplit(":", 1)[1])

    reply = plain_http_get(port)

    assert not reply.startswith(b"HTTP/")
    assert b"<html" not in reply.lower()


def test_sign_in_survives_reload_until_sign_out(app_url, app_home, page: Page):
    create_account_and_sign_in(page, app_url, app_home, "grace")
    cookie = _wait_for_cookie(page, COOKIE_NAME)

    page.reload()

    expect(page.get_by_text("Signed in as grace")).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("tab", name="Sign in").first).to_be_visible(timeout=15_000)
    page.reload()
    expect(page.get_by_role("tab", name="Sign in").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    assert cookie["secure"] is True
    assert cookie["sameSite"] == "Strict"


def test_sign_out_in_one_tab_ends_the_other(app_url, app_home, page: Page):
    create_account_and_sign_in(page, app_url, app_home, "hopper")
    _wait_for_cookie(page, COOKIE_NAME)
    other = page.context.new_page()
    other.goto(app_url)
    expect(other.get_by_text("Signed in as hopper")).to_be_visible(timeout=30_000)

    # Chromium pauses the drawing of a tab in the background, so each tab comes to the front first.
    page.bring_to_front()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("tab", name="Sign in").first).to_be_visible(timeout=15_000)
    # The other tab has not reloaded; its next run checks the session and finds it ended.
    other.bring_to_front()
    other.get_by_role("link", name="Open Monitoring", exact=True).first.click()

    expect(other.get_by_role("tab", name="Sign in").first).to_be_visible(timeout=15_000)
    expect(other.get_by_text("Signed in as")).to_have_count(0)


def test_word_count_run_shows_top_words(app_url, app_home, page: Page):
    create_account_and_sign_in(page, app_url, app_home, "ada")
    # While Streamlit redraws Home after the sign-in, the old and the new tile can both be on the
    # page for a moment. Both links open SparkFlow.
    page.get_by_role("link", name="Open SparkFlow", exact=True).first.click()
    expect(page.get_by_role("heading", name="SparkFlow", exact=True, level=1)).to_be_visible(timeout=15_000)
    # While Streamlit redraws, the previous page's elements linger beside the new ones; a click on
    # such a stale Run button is lost. The runs heading is drawn last, and then one Run button is left.
    expect(page.get_by_role("heading", name="Runs of shakespeare-wordcount")).to_be_visible(timeout=15_000)
    run_button = page.get_by_role("button", name="Run", exact=True)
    expect(run_button).to_have_count(1, timeout=15_000)

    run_button.click()

    expect(page.get_by_text(re.compile(r"Run \w+ of shakespeare-wordcount is queued"))).to_be_visible(timeout=15_000)
    expect(page.get_by_text("Total words")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text("SUCCEEDED", exact=True).first).to_be_visible()
    expect(page.get_by_text("Top 20 words")).to_be_visible()
    words = page.get_by_test_id("stDataFrame").filter(has_text="word").last
    expect(words).to_contain_text("the")


def create_account_and_sign_in(page: Page, app_url: str, app_home: Path, username: str) -> None:
    """Register, open the confirmation link from the app's outbox, and sign in."""
    page.goto(app_url)
    # The first page of a new app process imports pandas and Plotly: 45 s were seen on a busy 2-core machine.
    page.get_by_role("tab", name="Create account").first.click(timeout=90_000)
    form = page.get_by_test_id("stForm").filter(has_text="Create account")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Email").fill(f"{username}@example.com")
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_label("Repeat password").fill(PASSWORD)
    form.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Account {username} created")).to_be_visible(timeout=15_000)

    [message] = [m for m in outbox_messages(app_home) if m["To"] == f"{username}@example.com"]
    page.goto(f"{app_url}/?confirm={link_token(message, 'confirm')}")
    expect(page.get_by_text(f"Email address confirmed for {username}")).to_be_visible(timeout=30_000)

    form = page.get_by_test_id("stForm").filter(has_text="Sign in")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Password", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=15_000)


def _wait_for_cookie(page: Page, name: str) -> dict:
    """Wait until the browser has a cookie and return it: a component sets it after the page draws."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for cookie in page.context.cookies():
            if cookie["name"] == name:
                return cookie
        page.wait_for_timeout(200)
    pytest.fail(f"The cookie {name} was never set within 15 s")


