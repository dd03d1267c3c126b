"""The Settings page in Chromium: a saved credential shows masked, and the password field is emptied."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_browser import (  # noqa: F401 - pytest finds the fixtures by these names
    app_home,
    app_url,
    browser_context_args,
    browser_type_launch_args,
    _wait_for_cookie,
    create_account_and_sign_in,
)

pytestmark = pytest.mark.browser

SECRET = "kf-token-0123456789-ABCD"


def test_saved_credential_shown_masked(app_url, app_home, page: Page):  # noqa: F811 - the imported fixtures
    create_account_and_sign_in(page, app_url, app_home, "hedy")
    # Opening the page's address reloads the app, which restores the sign-in from the session cookie,
    # so wait until the browser has it.
    _wait_for_cookie(page, "operatorflow_session")
    page.goto(f"{app_url}/settings")
    expect(page.get_by_role("heading", name="Your credentials")).to_be_visible(timeout=60_000)
    # The form's Value field is the page's only password input.
    value = page.locator("input[type=password]")
    expect(value).to_have_count(1, timeout=15_000)

    value.fill(SECRET)
    page.get_by_role("button", name="Save").first.click()

    expect(page.get_by_text("Stored databricks-token.")).to_be_visible(timeout=15_000)
    expect(page.get_by_test_id("stCode")).to_contain_text("••••ABCD", timeout=15_000)
    expect(page.locator("input[type=password]")).to_have_value("")
    assert SECRET not in page.content()
