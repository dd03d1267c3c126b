"""Real builds and pushes: podman and buildah build the sample folder and push it to docker-registry on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from operatorflow.images import ImageJobStatus, ImageService, list_pushed_images
from tests.images.conftest import REGISTRY_PASSWORD, SAMPLE_CONTEXT
from tests.images.test_service import USER

pytestmark = pytest.mark.container

BUILD_TIMEOUT_SECONDS = 300


def _finished(images: ImageService, job):
    finished = images.jobs.wait_for_job(USER, job.id, BUILD_TIMEOUT_SECONDS)
    assert finished.status is ImageJobStatus.SUCCEEDED, images.jobs.read_job_log(USER, job.id)
    return finished


@pytest.mark.parametrize("tool", ["podman", "buildah"])
def test_build_push_and_read_back(registry_settings, registry_server, base_image, tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed: apt-get install {tool}")
    settings = dataclasses.replace(registry_settings, image_builder=tool)
    images = ImageService(settings)
    tag = f"sample:{tool}"

    build = _finished(images, images.submit_build(USER, str(SAMPLE_CONTEXT), tag,
                                                  {"BASE_IMAGE": base_image, "GREETING": "servus"}))
    push = _finished(images, images.submit_push(USER, tag))

    reference = f"{settings.registry_url}/{tag}"
    repository = reference.split("/", 1)[1].rsplit(":", 1)[0]
    _, catalog = registry_server.get_json("/v2/_catalog")
    _, tags = registry_server.get_json(f"/v2/{repository}/tags/list")
    headers, manifest = registry_server.get_json(f"/v2/{repository}/manifests/{tool}")
    push_log = images.jobs.read_job_log(USER, push.id)
    assert build.image == push.image == reference
    assert "STEP 1/5: FROM " + base_image in images.jobs.read_job_log(USER, build.id)
    assert repository in catalog["repositories"]
    assert tags == {"name": repository, "tags": [tool]}
    assert headers["Docker-Content-Digest"].startswith("sha256:")
    # The base layer and the build's own: podman adds one per COPY and RUN, buildah one for all of them.
    assert len(manifest["layers"]) >= 2
    assert list_pushed_images(settings) == [reference]
    assert f"{tool} push of {reference} as builder" in push_log.splitlines()
    assert "TLS verification is off for 127.0.0.1" in push_log
    assert REGISTRY_PASSWORD not in push_log


def test_built_image_runs_with_build_argument(registry_settings, base_image):
    images = ImageService(dataclasses.replace(registry_settings, image_builder="podman"))
    job = _finished(images, images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:run",
                                                {"BASE_IMAGE": base_image, "GREETING": "moin"}))

    # runc on this kind of machine starts containers only with lowered limits.
    result = subprocess.run(
        ["podman", "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
         job.image, "cat", "/app/greeting.txt"],
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "moin from the OperatorFlow sample image\n"


def test_push_with_wrong_password_fails(registry_settings, base_image):
    images = ImageService(dataclasses.replace(registry_settings, image_builder="podman"))
    _finished(images, images.submit_build(USER, str(SAMPLE_CONTEXT), "sample:denied", {"BASE_IMAGE": base_image}))
    wrong = ImageService(dataclasses.replace(registry_settings, image_builder="podman", registry_password="wrong-pw"))

    job = wrong.submit_push(USER, "sample:denied")
    finished = wrong.jobs.wait_for_job(USER, job.id, BUILD_TIMEOUT_SECONDS)

    log = wrong.jobs.read_job_log(USER, job.id)
    assert finished.status is ImageJobStatus.FAILED
    assert finished.error_message.startswith(f"podman push of {registry_settings.registry_url}/sample:denied failed "
                                             "with exit status ")
    assert "unauthorized" in log.lower()
    assert "wrong-pw" not in log
