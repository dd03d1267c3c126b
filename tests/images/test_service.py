"""ImageService: input checks, background jobs and their logs, credentials for a push, listing the registry."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pytest

from operatorflow.clock import FakeClock
from operatorflow.errors import BackendUnavailable, InvalidInput, NotFound, OperationTimedOut, PermissionDenied
from operatorflow.images import (
    NO_BUILDER_MESSAGE,
    DistributionRegistry,
    ImageJobs,
    ImageJobStatus,
    ImageService,
    list_pushed_images,
    parse_build_args,
    parse_registry_url,
)
from operatorflow.images.builders import Redactor, run_streaming
from operatorflow.images.registries import settings_secret_provider
from operatorflow.images.service import LIST_CACHE_SECONDS
from operatorflow.settings import load_settings
from tests.images import fakes
from tests.images.conftest import FAKE_BUILDER, REGISTRY_PASSWORD, REGISTRY_USER, SAMPLE_CONTEXT

USER = "ada"
JOB_TIMEOUT_SECONDS = 30

# Stands in for podman, buildah or docker: prints its arguments and the auth file it was given, so a
# test can check what the real tool would receive.
RECORDING_TOOL = """#!/bin/sh
echo "args: $*"
previous=""
for argument in "$@"; do
  if [ "$previous" = "--authfile" ]; then auth="$argument"; fi
  if [ "$previous" = "--config" ]; then auth="$argument/config.json"; fi
  previous="$argument"
done
if [ -n "$auth" ]; then
  echo "auth file mode: $(stat -c %a "$auth")"
  echo "auth file path: $auth"
  echo "auth file: $(cat "$auth")"
fi
exit 0
"""


@pytest.fixture
def fake_settings(settings):
    return dataclasses.replace(settings, image_builder=FAKE_BUILDER, registry_url="127.0.0.1:5999/team")


def _finished(images: ImageService, job):
    finished = images.jobs.wait_for_job(USER, job.id, JOB_TIMEOUT_SECONDS)
    assert not finished.is_active, "the job did not finish in time"
    return finished


def test_build_job_succeeds_and_logs_output(fake_settings):
    images = ImageService(fake_settings)

    job = images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0", {"GREETING": "hi"})
    finished = _finished(images, job)

    assert finished.status is ImageJobStatus.SUCCEEDED
    assert finished.image == "127.0.0.1:5999/team/sample:1.0"
    assert finished.log_path == fake_settings.home / "images" / f"{job.id}.log"
    assert images.jobs.read_job_log(USER, job.id).splitlines() == [
        f"fake-builder build of 127.0.0.1:5999/team/sample:1.0 from {SAMPLE_CONTEXT}",
        f"STEP 1/1: reading Dockerfile in {SAMPLE_CONTEXT}",
        "build argument GREETING=hi",
        "Successfully tagged 127.0.0.1:5999/team/sample:1.0",
        "Built 127.0.0.1:5999/team/sample:1.0.",
    ]


def test_build_without_registry_tags_local_image(settings):
    images = ImageService(dataclasses.replace(settings, image_builder=FAKE_BUILDER))

    job = images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0")

    assert _finished(images, job).image == "localhost/sample:1.0"


def test_relative_build_folder_starts_at_project(fake_settings):
    images = ImageService(fake_settings)

    job = images.submit_build(USER, "tests/images/sample", "sample")

    assert _finished(images, job).status is ImageJobStatus.SUCCEEDED


def test_build_folder_outside_roots_rejected(fake_settings, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    images = ImageService(fake_settings)

    with pytest.raises(InvalidInput) as caught:
        images.submit_build(USER, str(outside), "sample:1.0")

    roots = f"{fake_settings.project_dir.resolve()}, {fake_settings.home.resolve()}"
    assert str(caught.value) == (
        f"The build folder {outside} is outside the folders this server builds from ({roots}): move it there, "
        "or ask an administrator to add its parent to OPERATORFLOW_IMAGE_BUILD_ROOTS."
    )
    assert images.jobs.list_jobs(USER) == []


def test_symlink_out_of_roots_rejected(fake_settings, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    fake_settings.home.mkdir(parents=True)
    (fake_settings.home / "link").symlink_to(outside)

    with pytest.raises(InvalidInput) as caught:
        ImageService(fake_settings).submit_build(USER, str(fake_settings.home / "link"), "sample:1.0")

    assert str(caught.value).startswith(f"The build folder {outside} is outside the folders")


def test_configured_build_roots_replace_defaults(fake_settings, tmp_path):
    root = tmp_path / "contexts"
    (root / "app").mkdir(parents=True)
    (root / "app" / "Containerfile").write_text("FROM scratch\n", encoding="utf-8")
    images = ImageService(dataclasses.replace(fake_settings, image_build_roots=f"{root}{os.pathsep}/nonexistent"))

    job = images.submit_build(USER, str(root / "app"), "app:1")

    assert images.list_build_roots() == [root, Path("/nonexistent")]
    assert _finished(images, job).status is ImageJobStatus.SUCCEEDED
    with pytest.raises(InvalidInput):
        images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0")


@pytest.mark.parametrize(("folder", "message"), [
    ("missing", "The build folder {path} does not exist on the server: check the path."),
    ("empty", "The build folder {path} has no Dockerfile or Containerfile: add one, or pick the folder that has it."),
])
def test_bad_build_folder_rejected(fake_settings, folder, message):
    path = fake_settings.home / folder
    if folder == "empty":
        path.mkdir(parents=True)

    with pytest.raises(InvalidInput) as caught:
        ImageService(fake_settings).submit_build(USER, str(path), "sample:1.0")

    assert str(caught.value) == message.format(path=path)


def test_empty_build_folder_rejected(fake_settings):
    with pytest.raises(InvalidInput) as caught:
        ImageService(fake_settings).submit_build(USER, "  ", "sample:1.0")

    assert str(caught.value) == "The build folder is empty: give the path of a folder on the server that has a Dockerfile."


def test_build_args_parsed_and_checked():
    assert parse_build_args(["BASE_IMAGE=busybox:1", "", "EMPTY=", "URL=a=b"]) == {
        "BASE_IMAGE": "busybox:1", "EMPTY": "", "URL": "a=b",
    }
    with pytest.raises(InvalidInput) as missing:
        parse_build_args(["BASE_IMAGE"])
    with pytest.raises(InvalidInput) as bad_name:
        parse_build_args(["1ST=x"])

    assert str(missing.value) == (
        "Invalid build argument 'BASE_IMAGE': write it as KEY=VALUE, for example BASE_IMAGE=busybox."
    )
    assert str(bad_name.value) == (
        "Invalid build argument name '1ST': use letters, digits and _, not starting with a digit, "
        "for example BASE_IMAGE=..."
    )


def test_failed_build_marks_job_failed(fake_settings):
    images = ImageService(fake_settings)

    job = images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0", {fakes.FAILING_BUILD_ARG: "1"})
    finished = _finished(images, job)

    message = ("fake-builder build of 127.0.0.1:5999/team/sample:1.0 failed with exit status 1; "
               "the build log shows why.")
    assert finished.status is ImageJobStatus.FAILED
    assert finished.error_message == message
    assert images.jobs.read_job_log(USER, job.id).splitlines()[-2:] == [
        "error: the build failed on purpose", f"error: {message}",
    ]


def test_second_active_build_of_same_image_rejected(fake_settings):
    images = ImageService(fake_settings)
    first = images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0", {fakes.BLOCKING_BUILD_ARG: "1"})

    try:
        with pytest.raises(InvalidInput) as caught:
            images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0")
        other = images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:2.0")
    finally:
        fakes.release_builds()

    assert str(caught.value) == (
        f"A build of 127.0.0.1:5999/team/sample:1.0 is already running as job {first.id}: wait for it to finish."
    )
    assert _finished(images, first).status is ImageJobStatus.SUCCEEDED
    assert _finished(images, other).status is ImageJobStatus.SUCCEEDED


def test_jobs_of_other_users_hidden(fake_settings):
    images = ImageService(fake_settings)
    job = images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0")
    _finished(images, job)

    with pytest.raises(NotFound) as caught:
        images.jobs.get_job("grace", job.id)

    assert images.jobs.list_jobs("grace") == []
    assert [j.id for j in images.jobs.list_jobs(USER)] == [job.id]
    assert str(caught.value) == (
        f"Image job {job.id} not found: it belongs to another user or the app restarted since."
    )


def test_no_builder_installed_message(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(BackendUnavailable) as caught:
        ImageService(settings).submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0")

    assert str(caught.value) == NO_BUILDER_MESSAGE
    assert NO_BUILDER_MESSAGE == (
        "Building images needs podman, buildah or Docker: install one (Debian: apt-get install podman runc buildah)."
    )


def test_chosen_builder_missing_message(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    images = ImageService(dataclasses.replace(settings, image_builder="buildah"))

    with pytest.raises(BackendUnavailable) as caught:
        images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0")

    assert str(caught.value) == (
        "OPERATORFLOW_IMAGE_BUILDER is 'buildah', but no buildah command is on PATH: install it, or leave the "
        "setting empty to use whichever of podman, buildah and Docker is installed."
    )


def test_invalid_builder_setting_rejected(settings):
    with pytest.raises(InvalidInput) as caught:
        ImageService(dataclasses.replace(settings, image_builder="kaniko"))

    assert str(caught.value) == (
        "Invalid OPERATORFLOW_IMAGE_BUILDER 'kaniko': use podman, buildah, docker, a module:callable that returns "
        "an ImageBuilder, or leave it empty to use whichever tool is installed."
    )


def test_push_without_registry_rejected(settings):
    images = ImageService(dataclasses.replace(settings, image_builder=FAKE_BUILDER))

    with pytest.raises(InvalidInput) as caught:
        images.submit_push(USER, "sample:1.0")

    assert str(caught.value).startswith("No registry is set: set OPERATORFLOW_REGISTRY_URL")


@pytest.mark.parametrize("tool", ["podman", "buildah", "docker"])
def test_push_passes_credentials_in_private_auth_file(settings, tmp_path, monkeypatch, tool):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / tool).write_text(RECORDING_TOOL, encoding="utf-8")
    (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    images = ImageService(dataclasses.replace(
        settings, image_builder=tool, registry_url="registry.example.com/team",
        registry_username=REGISTRY_USER, registry_password=REGISTRY_PASSWORD,
    ))

    job = images.submit_push(USER, "sample:1.0")
    finished = _finished(images, job)

    log = images.jobs.read_job_log(USER, job.id)
    lines = log.splitlines()
    auth_path = Path(next(line for line in lines if line.startswith("auth file path: ")).split(": ", 1)[1])
    assert finished.status is ImageJobStatus.SUCCEEDED
    assert "auth file mode: 600" in lines
    assert 'auth file: {"auths": {"registry.example.com": {"auth": "***"}}}' in lines
    assert REGISTRY_PASSWORD not in log
    assert not auth_path.exists()
    assert not auth_path.parent.exists()
    expected_args = {
        "podman": f"args: push --tls-verify=true --authfile {auth_path} registry.example.com/team/sample:1.0 "
                  "docker://registry.example.com/team/sample:1.0",
        "buildah": f"args: push --tls-verify=true --authfile {auth_path} registry.example.com/team/sample:1.0 "
                   "docker://registry.example.com/team/sample:1.0",
        "docker": f"args: --config {auth_path.parent} push registry.example.com/team/sample:1.0",
    }
    assert expected_args[tool] in lines


def test_push_with_only_user_name_rejected(fake_settings):
    images = ImageService(dataclasses.replace(fake_settings, registry_username=REGISTRY_USER))

    job = images.submit_push(USER, "sample:1.0")
    finished = _finished(images, job)

    assert finished.status is ImageJobStatus.FAILED
    assert finished.error_message == (
        "The registry credentials for 127.0.0.1:5999 lack registry-password: store both registry-username and "
        "registry-password, or neither for a registry without sign-in."
    )


def test_secret_provider_supplies_credentials(fake_settings):
    secrets = {"registry-username": "robot", "registry-password": "from-the-store"}
    registry = DistributionRegistry(parse_registry_url("127.0.0.1:5999/team"), secrets.get)

    auth = registry.get_auth()

    assert (auth.host, auth.username, auth.password) == ("127.0.0.1:5999", "robot", "from-the-store")
    assert "from-the-store" not in repr(auth)


def test_settings_secret_provider_reads_settings(settings):
    provider = settings_secret_provider(dataclasses.replace(settings, registry_username="u", registry_password="p"))

    assert (provider("registry-username"), provider("registry-password"), provider("other")) == ("u", "p", None)


def test_redactor_replaces_every_secret():
    redact = Redactor(["s3cret", "czNjcmV0", ""])

    assert redact("user:s3cret token czNjcmV0 end") == "user:*** token *** end"


# The sleep is a child of sh that keeps the output pipe open, so without killing the whole process group
# the read would last the full 30 s, past this test's time limit.
@pytest.mark.timeout(20)
def test_streaming_command_stopped_at_deadline(caplog):
    lines: list[str] = []
    caplog.set_level(logging.INFO, logger="operatorflow.images")

    with pytest.raises(OperationTimedOut) as caught:
        run_streaming(["sh", "-c", "echo started; sleep 30; echo finished"], lines.append, 0.5, "sh build")

    assert lines == ["started"]
    assert str(caught.value) == (
        "sh build did not finish within 0.5 s and was stopped; raise OPERATORFLOW_IMAGE_JOB_TIMEOUT_SECONDS for "
        "longer builds."
    )
    assert "images running sh -c echo started; sleep 30; echo finished" in caplog.messages


def test_fake_push_lists_image_in_registry(registry_settings):
    images = ImageService(dataclasses.replace(registry_settings, image_builder=FAKE_BUILDER))
    _finished(images, images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:1.0"))

    push = _finished(images, images.submit_push(USER, "sample:1.0"))

    reference = f"{registry_settings.registry_url}/sample:1.0"
    assert push.status is ImageJobStatus.SUCCEEDED, images.jobs.read_job_log(USER, push.id)
    assert list_pushed_images(registry_settings) == [reference]


def test_push_of_unbuilt_image_fails(registry_settings):
    images = ImageService(dataclasses.replace(registry_settings, image_builder=FAKE_BUILDER))

    push = _finished(images, images.submit_push(USER, "never-built:1"))

    assert push.status is ImageJobStatus.FAILED
    assert push.error_message == (
        f"fake-builder push of {registry_settings.registry_url}/never-built:1 failed with exit status 125; "
        "the push log shows why. Build the image first if it is missing."
    )


def test_registry_list_follows_link_pages(registry_settings, registry_server):
    target = parse_registry_url(registry_settings.registry_url)
    auth_provider = settings_secret_provider(registry_settings)
    auth = DistributionRegistry(target, auth_provider).get_auth()
    for name in ("a", "b", "c"):
        fakes.upload_image(registry_server.url, f"{target.path}/{name}", "1", auth)
    fakes.upload_image(registry_server.url, f"{target.path}/a", "2", auth)

    references = DistributionRegistry(target, auth_provider, page_size=1).list_images()

    assert references == [f"{registry_settings.registry_url}/{n}" for n in ("a:1", "a:2", "b:1", "c:1")]


def test_registry_list_with_wrong_password_denied(registry_settings):
    settings = dataclasses.replace(registry_settings, registry_password="wrong")

    with pytest.raises(PermissionDenied) as caught:
        list_pushed_images(settings)

    assert str(caught.value) == (
        f"The registry {registry_settings.registry_url.split('/')[0]} rejected the credentials (HTTP 401): "
        "check the stored registry-username and registry-password."
    )


def test_registry_list_unreachable_registry(settings):
    from tests.aws import free_port

    url = f"127.0.0.1:{free_port()}/team"

    with pytest.raises(BackendUnavailable) as caught:
        list_pushed_images(dataclasses.replace(settings, registry_url=url))

    assert str(caught.value).startswith(f"The registry at http://127.0.0.1:{url.split(':')[1].split('/')[0]} "
                                        "could not be reached (")
    assert str(caught.value).endswith("check OPERATORFLOW_REGISTRY_URL and that the registry is running.")


def test_list_without_registry_is_empty(settings):
    assert list_pushed_images(settings) == []



def test_listing_reused_until_cache_expires(registry_settings, registry_server):
    clock = FakeClock()
    images = ImageService(registry_settings, clock=clock)
    target = parse_registry_url(registry_settings.registry_url)
    auth = DistributionRegistry(target, settings_secret_provider(registry_settings)).get_auth()
    fakes.upload_image(registry_server.url, f"{target.path}/first", "1", auth)
    first = images.list_pushed_images()
    fakes.upload_image(registry_server.url, f"{target.path}/second", "1", auth)

    cached = images.list_pushed_images()
    refreshed = images.list_pushed_images(refresh=True)
    clock.advance(LIST_CACHE_SECONDS)
    expired = images.list_pushed_images()

    url = registry_settings.registry_url
    assert first == cached == [f"{url}/first:1"]
    assert refreshed == expired == [f"{url}/first:1", f"{url}/second:1"]


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("No", False), ("off", False)])
def test_registry_insecure_read_from_environment(monkeypatch, raw, expected):
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_INSECURE", raw)

    assert load_settings().registry_insecure is expected


def test_registry_insecure_invalid_value_rejected(monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_REGISTRY_INSECURE", "maybe")

    with pytest.raises(InvalidInput) as caught:
        load_settings()

    assert str(caught.value) == "Invalid OPERATORFLOW_REGISTRY_INSECURE='maybe': use true or false."


def test_oldest_finished_jobs_forgotten(fake_settings):
    images = ImageService(fake_settings, jobs=ImageJobs(fake_settings.home / "images", max_records=2))
    jobs = [_finished(images, images.submit_build(USER, str(SAMPLE_CONTEXT), f"sample:{n}")) for n in range(3)]

    kept = images.jobs.list_jobs(USER)

    assert [j.id for j in kept] == [jobs[2].id, jobs[1].id]
    assert jobs[0].log_path.exists()
