"""A fake image builder for page and command-line tests that need no podman.

`build` checks its inputs as a real builder would and remembers the image. `push` uploads a small
but valid OCI image through the registry's distribution API with the credentials it receives, so
the registry lists it as it lists an image pushed by podman. Select it with
`image_builder="tests.images.fakes:make_fake_builder"`.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from operatorflow.images import ImageBuilder, RegistryAuth
from operatorflow.settings import Settings

FAILING_BUILD_ARG = "FAKE_FAIL"
"""A build argument that makes the fake build fail with exit status 1, as a broken Dockerfile would."""
BLOCKING_BUILD_ARG = "FAKE_BLOCK"
"""A build argument that makes the fake build wait until `release_builds` is called."""
SLOW_BUILD_ARG = "FAKE_SLOW_SECONDS"
"""A build argument that makes the fake build pause this many seconds between two output lines,
for a browser test in another process to watch the log grow."""

_built: set[tuple[str, str]] = set()
_release = threading.Event()


def make_fake_builder(settings: Settings) -> ImageBuilder:
    return FakeImageBuilder(str(settings.home))


def release_builds() -> None:
    _release.set()


class FakeImageBuilder(ImageBuilder):
    name = "fake-builder"

    def __init__(self, scope: str) -> None:
        # Images are remembered per data folder, so tests never see each other's builds.
        self._scope = scope

    def build(self, context: Path, dockerfile: Path, reference: str, build_args: dict[str, str],
              output, timeout_seconds: float) -> int:
        output(f"STEP 1/1: reading {dockerfile.name} in {context}")
        if BLOCKING_BUILD_ARG in build_args:
            _release.clear()
            _release.wait(timeout_seconds)
        if SLOW_BUILD_ARG in build_args:
            output("STEP 2/3: waiting")
            time.sleep(min(float(build_args[SLOW_BUILD_ARG]), timeout_seconds))
            output("STEP 3/3: done waiting")
        if FAILING_BUILD_ARG in build_args:
            output("error: the build failed on purpose")
            return 1
        for key, value in sorted(build_args.items()):
            output(f"build argument {key}={value}")
        _built.add((self._scope, reference))
        output(f"Successfully tagged {reference}")
        return 0

    def push(self, reference: str, auth: RegistryAuth | None, tls_verify: bool, output,
             timeout_seconds: float) -> int:
        if (self._scope, reference) not in _built:
            output(f"Error: {reference}: image not known")
            return 125
        host, _, rest = reference.partition("/")
        repository, _, tag = rest.rpartition(":")
        scheme = "https" if tls_verify else "http"
        upload_image(f"{scheme}://{host}", repository, tag, auth)
        output(f"Writing manifest to image destination {reference}")
        return 0


def upload_image(base_url: str, repository: str, tag: str, auth: RegistryAuth | None) -> str:
    """Upload a one-layer OCI image and tag it; return the manifest's digest."""
    layer = _one_file_layer()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [_digest(gzip.decompress(layer))]},
    }).encode()
    for blob in (layer, config):
        _upload_blob(base_url, repository, blob, auth)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _digest(layer),
                    "size": len(layer)}],
    }).encode()
    _request(f"{base_url}/v2/{repository}/manifests/{tag}", auth, "PUT", manifest,
             {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    return _digest(manifest)


def _upload_blob(base_url: str, repository: str, blob: bytes, auth: RegistryAuth | None) -> None:
    response = _request(f"{base_url}/v2/{repository}/blobs/uploads/", auth, "POST", b"")
    location = urllib.parse.urljoin(base_url, response.headers["Location"])
    separator = "&" if "?" in location else "?"
    _request(f"{location}{separator}digest={_digest(blob)}", auth, "PUT", blob,
             {"Content-Type": "application/octet-stream"})


def _request(url: str, auth: RegistryAuth | None, method: str, body: bytes, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    if auth is not None:
        token = base64.b64encode(f"{auth.username}:{auth.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response


def _one_file_layer() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        info = tarfile.TarInfo("hello.txt")
        data = b"hello\n"
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
