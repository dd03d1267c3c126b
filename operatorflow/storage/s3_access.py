"""Keep run outputs on S3 private: a start-up check of the output bucket and short-lived SigV4 download URLs.

Outputs reach users only through OperatorFlow, which checks access first. A bucket that allows public
access would bypass that check, so it is a configuration error. NOTE: a bucket policy that grants
access to other AWS accounts or roles is not public in S3's sense, so it passes this check. Review
such policies by hand.
"""

from __future__ import annotations

import logging

from operatorflow.errors import InvalidInput
from operatorflow.storage.s3 import _translated, split_s3_location

logger = logging.getLogger(__name__)

MAX_PRESIGNED_URL_SECONDS = 900
"""Maximum lifetime of a download URL in seconds. A URL cannot be revoked, so it outlives a revoked grant by at most this."""

PUBLIC_ACCESS_BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_FIX = ("aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration "
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true")


def check_bucket_private(client, bucket: str) -> None:
    """Raise InvalidInput unless all four public access block flags are on and S3 reports the policy as not public."""
    from botocore.exceptions import ClientError

    try:
        response = client.get_public_access_block(Bucket=bucket)
        flags = response.get("PublicAccessBlockConfiguration", {})
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "NoSuchBucket":
            raise InvalidInput(
                f"The output bucket {bucket} does not exist: create it with public access blocked, or correct "
                "OPERATORFLOW_OUTPUT_ROOT."
            ) from exc
        if code != "NoSuchPublicAccessBlockConfiguration":
            with _translated(f"s3://{bucket}"):
                raise
        flags = {}
    missing = [name for name in PUBLIC_ACCESS_BLOCK_FLAGS if flags.get(name) is not True]
    if missing:
        raise InvalidInput(
            f"The output bucket {bucket} does not block public access ({', '.join(missing)} not set), so run "
            f"outputs could be read without OperatorFlow's access check. Block it with `{_FIX.format(bucket=bucket)}`."
        )

    try:
        status = client.get_bucket_policy_status(Bucket=bucket)
        is_public = bool(status.get("PolicyStatus", {}).get("IsPublic"))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucketPolicy":
            with _translated(f"s3://{bucket}"):
                raise
        is_public = False
    if is_public:
        raise InvalidInput(
            f"The bucket policy of the output bucket {bucket} makes it public, so run outputs could be read without "
            "OperatorFlow's access check. Remove the public statements from the bucket policy."
        )
    logger.info("s3 bucket %s blocks public access", bucket)


def block_public_access(client, bucket: str) -> None:
    """Turn on all four public access block flags of a bucket."""
    with _translated(f"s3://{bucket}"):
        client.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={name: True for name in PUBLIC_ACCESS_BLOCK_FLAGS},
        )
    logger.info("s3 blocked public access to bucket %s", bucket)


def create_private_bucket(client, bucket: str) -> None:
    """Create a bucket and block public access to it before anything is written."""
    with _translated(f"s3://{bucket}"):
        client.create_bucket(Bucket=bucket)
    logger.info("s3 created bucket %s", bucket)
    block_public_access(client, bucket)


def presigned_download_url(client, location: str, expires_seconds: int) -> str:
    """Return a GET URL for one object, valid for `expires_seconds`; the client must sign with SigV4."""
    if not 1 <= expires_seconds <= MAX_PRESIGNED_URL_SECONDS:
        raise InvalidInput(
            f"Invalid download URL lifetime {expires_seconds} s: use 1 to {MAX_PRESIGNED_URL_SECONDS} seconds "
            "in OPERATORFLOW_S3_PRESIGNED_URL_SECONDS."
        )
    signature = getattr(client.meta.config, "signature_version", None)
    if signature != "s3v4":
        raise InvalidInput(f"Download URLs must be signed with SigV4, but the S3 client uses {signature!r}.")
    bucket, key = split_s3_location(location)
    with _translated(location):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                            ExpiresIn=expires_seconds)
    logger.info("s3 signed a download URL for %s valid %d s", location, expires_seconds)
    return url
