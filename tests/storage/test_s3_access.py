"""Private S3 outputs against moto on 127.0.0.1: the start-up check of the output bucket and download URLs.

moto 5 stores and returns public access blocks and policy status but enforces neither, and it does not
verify presigned signatures or expiry, so these tests check what OperatorFlow sends and decides.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.parse
import urllib.request
import uuid

import boto3
import pytest
from botocore.config import Config

from operatorflow.errors import InvalidInput, PermissionDenied
from operatorflow.factory import build_service
from operatorflow.registry.schema import users
from operatorflow.settings import load_settings
from operatorflow.storage.s3_access import (
    PUBLIC_ACCESS_BLOCK_FLAGS,
    block_public_access,
    check_bucket_private,
    create_private_bucket,
    presigned_download_url,
)
from tests.aws import MotoServer

ALL_BLOCKED = {name: True for name in PUBLIC_ACCESS_BLOCK_FLAGS}


@pytest.fixture(scope="module")
def moto_server():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def client(moto_server):
    return boto3.client("s3", endpoint_url=moto_server.endpoint_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(signature_version="s3v4"))


@pytest.fixture
def bucket(client):
    name = f"outputs-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    return name


def test_bucket_without_block_is_rejected(client, bucket):
    with pytest.raises(InvalidInput) as invalid:
        check_bucket_private(client, bucket)

    message = str(invalid.value)
    assert message.startswith(f"The output bucket {bucket} does not block public access "
                              "(BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets not set)")
    assert f"aws s3api put-public-access-block --bucket {bucket}" in message


def test_bucket_with_one_flag_off_is_rejected(client, bucket):
    client.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={**ALL_BLOCKED,
                                                                                   "RestrictPublicBuckets": False})

    with pytest.raises(InvalidInput, match=r"\(RestrictPublicBuckets not set\)"):
        check_bucket_private(client, bucket)


def test_blocked_bucket_passes(client, bucket, caplog):
    block_public_access(client, bucket)

    with caplog.at_level(logging.INFO, logger="operatorflow.storage.s3_access"):
        check_bucket_private(client, bucket)

    assert f"s3 bucket {bucket} blocks public access" in caplog.messages


def test_public_bucket_policy_is_rejected(client, bucket):
    block_public_access(client, bucket)
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    if not client.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]["IsPublic"]:
        pytest.fail("moto no longer reports a Principal '*' policy as public; the check below would prove nothing")

    with pytest.raises(InvalidInput) as invalid:
        check_bucket_private(client, bucket)

    assert str(invalid.value) == (
        f"The bucket policy of the output bucket {bucket} makes it public, so run outputs could be read without "
        "OperatorFlow's access check. Remove the public statements from the bucket policy."
    )


def test_missing_bucket_is_rejected(client):
    with pytest.raises(InvalidInput) as invalid:
        check_bucket_private(client, "no-such-bucket-here")

    assert str(invalid.value) == ("The output bucket no-such-bucket-here does not exist: create it with public "
                                  "access blocked, or correct OPERATORFLOW_OUTPUT_ROOT.")


def test_created_bucket_blocks_public_access(client):
    name = f"created-{uuid.uuid4().hex[:8]}"

    create_private_bucket(client, name)

    assert client.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == ALL_BLOCKED
    check_bucket_private(client, name)


def test_presigned_url_is_sigv4_with_expiry(client, bucket):
    client.put_object(Bucket=bucket, Key="run/model.joblib", Body=b"model bytes")

    url = presigned_download_url(client, f"s3://{bucket}/run/model.joblib", 300)

    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    with urllib.request.urlopen(url, timeout=10) as response:  # moto on 127.0.0.1
        assert response.read() == b"model bytes"


@pytest.mark.parametrize("seconds", [0, 901])
def test_presigned_url_lifetime_is_bounded(client, bucket, seconds):
    with pytest.raises(InvalidInput) as invalid:
        presigned_download_url(client, f"s3://{bucket}/a", seconds)

    assert str(invalid.value) == (f"Invalid download URL lifetime {seconds} s: use 1 to 900 seconds "
                                  "in OPERATORFLOW_S3_PRESIGNED_URL_SECONDS.")


def test_presigned_url_needs_sigv4(moto_server, bucket):
    legacy = boto3.client("s3", endpoint_url=moto_server.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(signature_version="s3"))

    with pytest.raises(InvalidInput, match="must be signed with SigV4"):
        presigned_download_url(legacy, f"s3://{bucket}/a", 60)


# Through the service: the start-up check and the access check before a URL


def _service(tmp_path, moto_server, output_root: str):
    return build_service(load_settings(home=tmp_path / "home", worker="none", output_root=output_root,
                                       s3_endpoint_url=moto_server.endpoint_url, s3_presigned_url_seconds=120))


def test_startup_rejects_unblocked_output_bucket(tmp_path, moto_server, bucket):
    with pytest.raises(InvalidInput, match=f"The output bucket {bucket} does not block public access"):
        _service(tmp_path, moto_server, f"s3://{bucket}/runs")


def test_download_url_only_after_access_check(tmp_path, moto_server, client, bucket, caplog):
    block_public_access(client, bucket)
    service = _service(tmp_path, moto_server, f"s3://{bucket}/runs")
    now = dt.datetime.now(dt.timezone.utc)
    with service.registry.begin() as conn:
        for name in ("olga", "vera", "sam"):
            conn.execute(users.insert().values(name=name, source="local", is_admin=False, disabled=False,
                                               created_at=now, updated_at=now, failed_sign_ins=0))
    run = service.submit_run("olga", "shakespeare-wordcount")
    location = f"{run.output_location}/result.json"
    client.put_object(Bucket=bucket, Key=location.split("/", 3)[3], Body=b"{}")
    service.grant_access("olga", "run", run.id, "vera", "view")

    url = service.get_output_download_url("vera", run.id, location)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="operatorflow.storage.s3_access"), \
            pytest.raises(PermissionDenied):
        service.get_output_download_url("sam", run.id, location)

    assert urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["X-Amz-Expires"] == ["120"]
    assert not [m for m in caplog.messages if m.startswith("s3 signed")]
    service.registry.dispose()
