"""The KubeFlow page in Chromium: a build's log and status update on their own while the build runs."""

from __future__ import annotations


import pytest
from playwright.sync_api import Page, expect

from tests.app_server import start_app
from tests.browser.test_browser import (  # noqa: F401 - the browser fixtures of that module
    browser_context_args,
    browser_type_launch_args,
    create_account_and_sign_in,
)
from tests.images.conftest import FAKE_BUILDER, SAMPLE_CONTEXT
from tests.images.fakes import SLOW_BUILD_ARG

pytestmark = pytest.mark.browser

BUILD_PAUSE_SECONDS = 4


@pytest.fixture(scope="module")
def app_home(tmp_path_factory):
    return tmp_path_factory.mktemp("image-app-home")


@pytest.fixture(scope="module")
def app_url(app_home):
    """Start the app with the fake image builder and its own data folder; stop it after the module."""
    for app in start_app(app_home, address=None, OPERATORFLOW_IMAGE_BUILDER=FAKE_BUILDER):
        yield f"https://localhost:{app.port}"


def test_build_log_grows_without_interaction(app_url, app_home, page: Page):
    create_account_and_sign_in(page, app_url, app_home, "ada")
    page.get_by_role("link", name="Open KubeFlow", exact=True).first.click()
    expect(page.get_by_role("heading", name="KubeFlow", exact=True, level=1)).to_be_visible(timeout=15_000)
    form = page.get_by_test_id("stForm").filter(has_text="Build folder on the server")
    expect(form).to_be_visible(timeout=15_000)
    form.get_by_role("textbox", name="Build folder on the server").fill(str(SAMPLE_CONTEXT))
    form.get_by_role("textbox", name="Image name and tag").fill("sample:browser")
    form.get_by_role("textbox", name="Build arguments").fill(f"{SLOW_BUILD_ARG}={BUILD_PAUSE_SECONDS}")

    form.get_by_role("button", name="Build", exact=True).click()

    log = page.get_by_test_id("stCode").filter(has_text="fake-builder build of localhost/sample:browser")
    expect(log).to_contain_text("STEP 2/3: waiting", timeout=15_000)
    expect(page.get_by_text("RUNNING", exact=True)).to_be_visible()
    expect(log).to_contain_text("Built localhost/sample:browser.", timeout=(BUILD_PAUSE_SECONDS + 15) * 1000)
    expect(page.get_by_text("SUCCEEDED", exact=True)).to_be_visible(timeout=15_000)
