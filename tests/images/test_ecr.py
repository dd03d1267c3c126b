"""Amazon ECR against moto on 127.0.0.1: the authorization token, repositories before a push, the image list.

moto implements the ECR API but does not serve the registry protocol, so the push itself goes to a
recording stand-in for podman, which shows what podman would receive.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os

import pytest

from operatorflow.errors import PermissionDenied
from operatorflow.images import ECRRegistry, ImageJobStatus, ImageService, list_pushed_images, parse_registry_url
from tests.aws import MotoServer
from tests.images.test_service import RECORDING_TOOL, USER, _finished

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(scope="module")
def moto_server():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def ecr(moto_server):
    client = moto_server.client("ecr")
    yield client
    for repository in client.describe_repositories()["repositories"]:
        client.delete_repository(repositoryName=repository["repositoryName"], force=True)


@pytest.fixture
def ecr_settings(settings, moto_server):
    return dataclasses.replace(settings, registry_url=f"{ECR_HOST}/team",
                               registry_ecr_endpoint_url=moto_server.endpoint_url)


def _put_image(ecr, repository: str, tag: str) -> None:
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": f"sha256:{'0' * 64}", "size": 2}, "layers": []}
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)


def test_authorization_token_decoded(ecr_settings, ecr):
    registry = ECRRegistry(parse_registry_url(ecr_settings.registry_url), ecr_settings.registry_ecr_endpoint_url)

    auth = registry.get_auth()

    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert auth.host == ECR_HOST
    assert auth.username == "AWS"
    assert auth.password
    assert base64.b64decode(token).decode() == f"AWS:{auth.password}"
    assert auth.password not in repr(auth)


def test_images_under_path_listed(ecr_settings, ecr):
    for repository in ("team/sample", "team/other", "elsewhere/sample"):
        ecr.create_repository(repositoryName=repository)
    _put_image(ecr, "team/sample", "1.0")
    _put_image(ecr, "team/sample", "2.0")
    _put_image(ecr, "elsewhere/sample", "1.0")

    references = list_pushed_images(ecr_settings)

    assert references == [f"{ECR_HOST}/team/sample:1.0", f"{ECR_HOST}/team/sample:2.0"]


def test_push_creates_repository_and_logs_in_with_token(ecr_settings, ecr, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(RECORDING_TOOL, encoding="utf-8")
    (bin_dir / "podman").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    images = ImageService(dataclasses.replace(ecr_settings, image_builder="podman"))

    job = _finished(images, images.submit_push(USER, "sample:1.0"))

    log = images.jobs.read_job_log(USER, job.id)
    assert job.status is ImageJobStatus.SUCCEEDED, log
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]] == ["team/sample"]
    assert f"podman push of {ECR_HOST}/team/sample:1.0 as AWS" in log.splitlines()
    assert f'auth file: {{"auths": {{"{ECR_HOST}": {{"auth": "***"}}}}}}' in log.splitlines()
    assert "--tls-verify=true" in log


def test_missing_permission_reported(ecr_settings):
    from botocore.exceptions import ClientError

    class DenyingClient:
        def get_authorization_token(self):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
                              "GetAuthorizationToken")

    registry = ECRRegistry(parse_registry_url(ecr_settings.registry_url),
                           client_factory=lambda *args, **kwargs: DenyingClient())

    with pytest.raises(PermissionDenied) as caught:
        registry.get_auth()

    assert str(caught.value) == (
        f"ECR get_authorization_token on {ECR_HOST} was denied (AccessDeniedException): give the server's AWS "
        "identity the ecr permissions for it."
    )
