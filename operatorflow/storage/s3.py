"""Object store on Amazon S3 (or an S3-compatible endpoint) through boto3."""

from __future__ import annotations

import logging
from pathlib import Path

from operatorflow.errors import BackendUnavailable, InvalidInput, NotFound, PermissionDenied
from operatorflow.storage.base import ObjectStore

logger = logging.getLogger(__name__)


def split_s3_location(location: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into bucket and key."""
    if not location.startswith("s3://"):
        raise InvalidInput(f"Invalid S3 location {location!r}: it must start with s3://bucket/.")
    bucket, _, key = location[len("s3://"):].partition("/")
    if not bucket:
        raise InvalidInput(f"Invalid S3 location {location!r}: the bucket name is missing.")
    return bucket, key


class S3ObjectStore(ObjectStore):
    def __init__(self, client) -> None:
        """`client` is a boto3 S3 client; the factory builds it from settings."""
        self._client = client

    @property
    def client(self):
        return self._client

    def read_bytes(self, location: str) -> bytes:
        bucket, key = split_s3_location(location)
        with _translated(location):
            response = self._client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read()

    def write_bytes(self, location: str, data: bytes) -> None:
        bucket, key = split_s3_location(location)
        with _translated(location):
            self._client.put_object(Bucket=bucket, Key=key, Body=data)
        logger.info("s3 put %s (%d bytes)", location, len(data))

    def exists(self, location: str) -> bool:
        return bool(self._list(location, max_keys=1))

    def list_objects(self, prefix: str) -> list[str]:
        return self._list(prefix)

    def _list(self, prefix: str, max_keys: int | None = None) -> list[str]:
        bucket, key = split_s3_location(prefix)
        found = []
        with _translated(prefix):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                for item in page.get("Contents", []):
                    # `data/a` must not match `data/ab`: keep exact matches and keys under the folder.
                    if item["Key"] == key or not key or key.endswith("/") or item["Key"].startswith(key + "/"):
                        found.append(f"s3://{bucket}/{item['Key']}")
                        if max_keys and len(found) >= max_keys:
                            return found
        return sorted(found)

    def upload_file(self, local_path: Path, location: str) -> None:
        bucket, key = split_s3_location(location)
        with _translated(location):
            self._client.upload_file(str(local_path), bucket, key)
        logger.info("s3 upload %s", location)

    def download_file(self, location: str, local_path: Path) -> None:
        bucket, key = split_s3_location(location)
        local_path = Path(local_path)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        with _translated(location):
            self._client.download_file(bucket, key, str(local_path))


class _translated:
    """Turn botocore errors into OperatorFlow errors that name the location."""

    def __init__(self, location: str) -> None:
        self._location = location

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None:
            return False
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NoSuchBucket", "NotFound"):
                raise NotFound(f"No object at {self._location}: check the bucket and key.") from exc
            if code in ("AccessDenied", "403", "AllAccessDisabled"):
                raise PermissionDenied(
                    f"Access to {self._location} was denied: check the AWS credentials and bucket policy."
                ) from exc
            raise BackendUnavailable(f"S3 request for {self._location} failed with {code}: {exc}") from exc
        if isinstance(exc, BotoCoreError):
            raise BackendUnavailable(
                f"S3 could not be reached for {self._location}: {exc}. Check OPERATORFLOW_S3_ENDPOINT_URL and the network."
            ) from exc
        return False
