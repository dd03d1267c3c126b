"""Object stores: a local folder by default, S3 for `s3://` locations."""

from __future__ import annotations

from pathlib import Path

from operatorflow.storage.base import ObjectStore, join_location
from operatorflow.storage.local import LocalObjectStore
from operatorflow.storage.s3 import S3ObjectStore, split_s3_location

__all__ = [
    "LocalObjectStore",
    "ObjectStore",
    "ObjectStores",
    "S3ObjectStore",
    "join_location",
    "split_s3_location",
]


class ObjectStores:
    """Picks the store for a location by its scheme; the S3 client is built only when first needed."""

    def __init__(self, base_dir: Path, s3_endpoint_url: str = "", s3_client=None) -> None:
        self.local = LocalObjectStore(base_dir)
        self._s3_endpoint_url = s3_endpoint_url
        self._s3: S3ObjectStore | None = S3ObjectStore(s3_client) if s3_client is not None else None

    def for_location(self, location: str) -> ObjectStore:
        if location.startswith("s3://"):
            return self._s3_store()
        if "://" in location and not location.startswith("file://"):
            from operatorflow.errors import InvalidInput

            scheme = location.split("://", 1)[0]
            raise InvalidInput(
                f"Unsupported location scheme {scheme}:// in {location!r}: use s3://bucket/key or a local path."
            )
        return self.local

    def _s3_store(self) -> S3ObjectStore:
        if self._s3 is None:
            import boto3

            from botocore.config import Config

            # SigV4, so that download URLs are signed with the current scheme and carry their expiry.
            client = boto3.client("s3", endpoint_url=self._s3_endpoint_url or None,
                                  config=Config(signature_version="s3v4"))
            self._s3 = S3ObjectStore(client)
        return self._s3

    def s3_client(self):
        """Return the boto3 S3 client, built at first use."""
        return self._s3_store().client
