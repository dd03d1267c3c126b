"""KubeFlow's "Build and push an image" section: the form, the job log, errors and the pushed images."""

from __future__ import annotations

import time
import uuid

import pytest
from streamlit.testing.v1 import AppTest

from operatorflow.images import NO_BUILDER_MESSAGE
from tests.images import fakes
from tests.images.conftest import FAKE_BUILDER, REGISTRY_PASSWORD, REGISTRY_USER, SAMPLE_CONTEXT, remove_local_images
from tests.images.conftest import base_image, registry_server  # noqa: F401 - fixtures from tests/images
from tests.pages.conftest import HOME_SCRIPT, PASSWORD, RUN_TIMEOUT_SECONDS, USER, errors, open_page, run, sign_in

BUILD_BUTTON = "FormSubmitter:kubeflow_image_form-Build"
PUSH_BUTTON = "FormSubmitter:kubeflow_image_form-Push"
JOB_TIMEOUT_SECONDS = 60
FINISHED_BADGES = (":green-badge[SUCCEEDED]", ":red-badge[FAILED]")


@pytest.fixture
def app_env(app_env, monkeypatch):
    """The app with the fake builder, so these tests need no podman."""
    monkeypatch.setenv("OPERATORFLOW_IMAGE_BUILDER", FAKE_BUILDER)
    return app_env


@pytest.fixture
def registry_env(app_env, registry_server, monkeypatch):  # noqa: F811 - the imported fixture
    """Point the app at the test registry, under a path of this test's own; return that registry URL."""
    url = f"{registry_server.host}/page{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_URL", url)
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_USERNAME", REGISTRY_USER)
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
    yield url
    remove_local_images(url + "/")


def _fill_form(at: AppTest, folder: str, tag: str, build_args: str = "") -> None:
    at.text_input(key="kubeflow_image_context").set_value(folder)
    at.text_input(key="kubeflow_image_tag").set_value(tag)
    at.text_area(key="kubeflow_image_build_args").set_value(build_args)


def _wait_for_job(at: AppTest) -> str:
    """Rerun the page until the latest job's badge shows that it finished; return the badge."""
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        run(at)
        finished = [m.value for m in at.markdown if m.value in FINISHED_BADGES]
        if finished:
            return finished[0]
        time.sleep(0.2)
    raise AssertionError(f"the image job did not finish within {JOB_TIMEOUT_SECONDS} s")


def _job_log(at: AppTest) -> list[str]:
    [log] = [c.value for c in at.code]
    return log.splitlines()


def test_section_without_registry_explains_setting(signed_in_app):
    open_page(signed_in_app, "kubeflow")

    captions = [c.value for c in signed_in_app.caption]
    assert "Build and push an image" in [s.value for s in signed_in_app.subheader]
    assert ("Builds a folder on the server with podman, buildah or Docker. No registry is set, so images stay on "
            "the server: set OPERATORFLOW_REGISTRY_URL to push them.") in captions
    assert "No builds or pushes yet: fill in the folder and the tag, then press Build." in captions
    assert "No pushed images under the registry path yet." in captions


@pytest.fixture
def no_builder_env(app_env, tmp_path, monkeypatch):
    """The app with builder detection on and no podman, buildah or docker on PATH."""
    monkeypatch.delenv("OPERATORFLOW_IMAGE_BUILDER")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    return app_env


def test_missing_builder_warned_before_build(no_builder_env, signed_in_app):
    open_page(signed_in_app, "kubeflow")
    warnings_before = [w.value for w in signed_in_app.warning]
    _fill_form(signed_in_app, str(SAMPLE_CONTEXT), "sample:1.0")

    signed_in_app.button(key=BUILD_BUTTON).click()
    run(signed_in_app)

    assert warnings_before == [NO_BUILDER_MESSAGE]
    assert errors(signed_in_app) == [NO_BUILDER_MESSAGE]


def test_build_shows_job_log(signed_in_app):
    open_page(signed_in_app, "kubeflow")
    _fill_form(signed_in_app, str(SAMPLE_CONTEXT), "sample:1.0", "GREETING=hi\n\nBASE_IMAGE=base:1")

    signed_in_app.button(key=BUILD_BUTTON).click()
    run(signed_in_app)
    [started] = [s.value for s in signed_in_app.success]
    badge = _wait_for_job(signed_in_app)

    assert started.startswith("Building localhost/sample:1.0 as job ")
    assert badge == ":green-badge[SUCCEEDED]"
    assert _job_log(signed_in_app)[-4:] == [
        "build argument BASE_IMAGE=base:1",
        "build argument GREETING=hi",
        "Successfully tagged localhost/sample:1.0",
        "Built localhost/sample:1.0.",
    ]
    assert errors(signed_in_app) == []


def test_failed_build_shows_error(signed_in_app):
    open_page(signed_in_app, "kubeflow")
    _fill_form(signed_in_app, str(SAMPLE_CONTEXT), "sample:1.0", f"{fakes.FAILING_BUILD_ARG}=1")

    signed_in_app.button(key=BUILD_BUTTON).click()
    badge = _wait_for_job(signed_in_app)

    assert badge == ":red-badge[FAILED]"
    assert errors(signed_in_app) == [
        "fake-builder build of localhost/sample:1.0 failed with exit status 1; the build log shows why."
    ]
    assert "error: the build failed on purpose" in _job_log(signed_in_app)


@pytest.mark.parametrize(("folder", "tag", "args", "message"), [
    ("/", "sample:1.0", "", "The build folder / is outside the folders this server builds from"),
    (str(SAMPLE_CONTEXT), "Sample", "", "Invalid image name 'Sample' in 'Sample': use lowercase letters"),
    (str(SAMPLE_CONTEXT), "sample", "NOVALUE", "Invalid build argument 'NOVALUE': write it as KEY=VALUE"),
])
def test_bad_input_shows_error_and_starts_nothing(signed_in_app, folder, tag, args, message):
    open_page(signed_in_app, "kubeflow")
    _fill_form(signed_in_app, folder, tag, args)

    signed_in_app.button(key=BUILD_BUTTON).click()
    run(signed_in_app)

    [error] = errors(signed_in_app)
    assert error.startswith(message)
    assert "No builds or pushes yet: fill in the folder and the tag, then press Build." in [
        c.value for c in signed_in_app.caption
    ]


def test_push_without_registry_shows_error(signed_in_app):
    open_page(signed_in_app, "kubeflow")
    _fill_form(signed_in_app, "", "sample:1.0")

    signed_in_app.button(key=PUSH_BUTTON).click()
    run(signed_in_app)

    assert errors(signed_in_app) == [
        "No registry is set: set OPERATORFLOW_REGISTRY_URL to the registry and path to push to, for example "
        "127.0.0.1:5000/team or 123456789012.dkr.ecr.eu-west-1.amazonaws.com."
    ]


def test_job_shown_again_after_reload(signed_in_app):
    open_page(signed_in_app, "kubeflow")
    _fill_form(signed_in_app, str(SAMPLE_CONTEXT), "sample:1.0")
    signed_in_app.button(key=BUILD_BUTTON).click()
    _wait_for_job(signed_in_app)
    [title] = [m.value for m in signed_in_app.markdown if m.value.startswith("**Build**")]

    reloaded = run(AppTest.from_file(str(HOME_SCRIPT), default_timeout=RUN_TIMEOUT_SECONDS))
    sign_in(reloaded, USER, PASSWORD)
    open_page(reloaded, "kubeflow")

    assert title in [m.value for m in reloaded.markdown]
    assert _job_log(reloaded)[-1] == "Built localhost/sample:1.0."


def test_build_then_push_lists_image(registry_env, signed_in_app):
    open_page(signed_in_app, "kubeflow")
    _fill_form(signed_in_app, str(SAMPLE_CONTEXT), "sample:1.0")
    signed_in_app.button(key=BUILD_BUTTON).click()
    _wait_for_job(signed_in_app)

    signed_in_app.button(key=PUSH_BUTTON).click()
    badge = _wait_for_job(signed_in_app)

    reference = f"{registry_env}/sample:1.0"
    assert badge == ":green-badge[SUCCEEDED]"
    assert f"**Push** of `{reference}`" in [m.value.split(" · ")[0] for m in signed_in_app.markdown]
    assert _job_log(signed_in_app)[-1] == f"Pushed {reference}."
    assert signed_in_app.dataframe[-1].value["image"].tolist() == [reference]
    assert f"Builds a folder on the server with podman, buildah or Docker and pushes the image under {registry_env}." in [
        c.value for c in signed_in_app.caption
    ]


@pytest.fixture
def podman_env(registry_env, monkeypatch):
    """The app with podman as its builder, pushing to the test registry."""
    monkeypatch.setenv("OPERATORFLOW_IMAGE_BUILDER", "podman")
    return registry_env


@pytest.mark.container
def test_real_build_and_push(podman_env, signed_in_app, base_image):  # noqa: F811
    registry_env = podman_env
    open_page(signed_in_app, "kubeflow")
    _fill_form(signed_in_app, "tests/images/sample", "sample:page", f"BASE_IMAGE={base_image}")

    signed_in_app.button(key=BUILD_BUTTON).click()
    build_badge = _wait_for_job(signed_in_app)
    build_log = _job_log(signed_in_app)
    signed_in_app.button(key=PUSH_BUTTON).click()
    push_badge = _wait_for_job(signed_in_app)

    reference = f"{registry_env}/sample:page"
    assert build_badge == ":green-badge[SUCCEEDED]", build_log
    assert f"STEP 1/5: FROM {base_image}" in build_log
    assert push_badge == ":green-badge[SUCCEEDED]", _job_log(signed_in_app)
    assert signed_in_app.dataframe[-1].value["image"].tolist() == [reference]
    assert REGISTRY_PASSWORD not in "\n".join(_job_log(signed_in_app))
