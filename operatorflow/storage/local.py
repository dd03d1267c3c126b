"""Object store on the local file system: locations are paths or `file://` URIs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from operatorflow.errors import InvalidInput, NotFound
from operatorflow.storage.base import ObjectStore


class LocalObjectStore(ObjectStore):
    """Objects are files; relative locations resolve against `base_dir` (the project folder)."""

    def __init__(self, base_dir: Path) -> None:
        self._base_dir = Path(base_dir)

    def path_of(self, location: str) -> Path:
        if location.startswith("file://"):
            location = location[len("file://"):]
        if not location:
            raise InvalidInput("Empty location: give a folder or file path, or an s3://bucket/key location.")
        path = Path(location).expanduser()
        if not path.is_absolute():
            path = self._base_dir / path
        return path

    def read_bytes(self, location: str) -> bytes:
        path = self.path_of(location)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise NotFound(f"No object at {location}: check the location and that the run wrote it.") from exc

    def write_bytes(self, location: str, data: bytes) -> None:
        path = self.path_of(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a reader never sees half an object.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, location: str) -> bool:
        return self.path_of(location).exists()

    def list_objects(self, prefix: str) -> list[str]:
        root = self.path_of(prefix)
        if root.is_file():
            return [prefix.rstrip("/")]
        if not root.is_dir():
            return []
        base = prefix.rstrip("/")
        return sorted(f"{base}/{p.relative_to(root).as_posix()}" for p in root.rglob("*") if p.is_file())

    def upload_file(self, local_path: Path, location: str) -> None:
        target = self.path_of(location)
        if Path(local_path).resolve() == target.resolve():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, target)

    def download_file(self, location: str, local_path: Path) -> None:
        source = self.path_of(location)
        if not source.is_file():
            raise NotFound(f"No object at {location}: check the location.")
        local_path = Path(local_path)
        local_path.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != local_path.resolve():
            shutil.copyfile(source, local_path)
