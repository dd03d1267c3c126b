"""The object-store interface: whole objects addressed by location strings."""

from __future__ import annotations

import abc
from pathlib import Path


class ObjectStore(abc.ABC):
    """Reads and writes objects at locations of one scheme (`s3://bucket/key` or a local path).

    A location that ends in `/` or names a folder is a prefix: `list_objects`, `upload_folder` and
    `download_prefix` act on everything under it.
    """

    @abc.abstractmethod
    def read_bytes(self, location: str) -> bytes:
        """Return the object's content; raise NotFound when it does not exist."""

    @abc.abstractmethod
    def write_bytes(self, location: str, data: bytes) -> None:
        """Create or replace the object."""

    @abc.abstractmethod
    def exists(self, location: str) -> bool:
        """Return True when an object, or any object under the prefix, exists."""

    @abc.abstractmethod
    def list_objects(self, prefix: str) -> list[str]:
        """Return the locations of all objects under `prefix`, sorted."""

    @abc.abstractmethod
    def upload_file(self, local_path: Path, location: str) -> None:
        """Copy one local file to `location`."""

    @abc.abstractmethod
    def download_file(self, location: str, local_path: Path) -> None:
        """Copy one object to a local file, creating its folder."""

    def upload_folder(self, local_dir: Path, prefix: str) -> list[str]:
        """Copy every file under `local_dir` to `prefix`, keeping relative paths; return the locations."""
        written = []
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            location = join_location(prefix, path.relative_to(local_dir).as_posix())
            self.upload_file(path, location)
            written.append(location)
        return written

    def download_prefix(self, prefix: str, local_dir: Path) -> Path:
        """Copy a single object or everything under a prefix into `local_dir`; return the local path."""
        objects = self.list_objects(prefix)
        if objects == [prefix.rstrip("/")]:
            target = local_dir / prefix.rstrip("/").rsplit("/", 1)[-1]
            self.download_file(objects[0], target)
            return target

        base = prefix.rstrip("/") + "/"
        for location in objects:
            self.download_file(location, local_dir / location[len(base):])
        return local_dir


def join_location(prefix: str, *parts: str) -> str:
    """Join location parts with `/`, whatever the scheme."""
    location = prefix.rstrip("/")
    for part in parts:
        location = f"{location}/{part.strip('/')}"
    return location
