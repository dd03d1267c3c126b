"""Fixtures for image tests: Debian's docker-registry on 127.0.0.1 and a locally made base image."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import bcrypt
import pytest

from tests.aws import free_port

REGISTRY_BINARY = "/usr/bin/docker-registry"
REGISTRY_USER = "builder"
REGISTRY_PASSWORD = "Reg1stry-s3cret"
REGISTRY_START_SECONDS = 15.0
BUSYBOX = Path("/usr/bin/busybox")
SAMPLE_CONTEXT = Path(__file__).parent / "sample"
FAKE_BUILDER = "tests.images.fakes:make_fake_builder"


class RegistryServer:
    """A running docker-registry with htpasswd authentication, storing its images in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        htpasswd = folder / "htpasswd"
        hashed = bcrypt.hashpw(REGISTRY_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        htpasswd.write_text(f"{REGISTRY_USER}:{hashed}\n", encoding="utf-8")
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(folder / "storage")}},
            "http": {"addr": self.host},
            "auth": {"htpasswd": {"realm": "operatorflow-test", "path": str(htpasswd)}},
        }
        self.config_path = folder / "config.yml"
        # JSON is valid YAML, so no YAML writer is needed.
        self.config_path.write_text(json.dumps(config), encoding="utf-8")
        self.log_path = folder / "registry.log"
        self._process: subprocess.Popen | None = None

    def start(self) -> "RegistryServer":
        log = self.log_path.open("wb")
        self._process = subprocess.Popen([REGISTRY_BINARY, "serve", str(self.config_path)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + REGISTRY_START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"docker-registry exited at start: {self.log_path.read_text()}")
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # 401: it is up and requires credentials
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"docker-registry did not respond within {REGISTRY_START_SECONDS} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)

    def get_json(self, path: str) -> tuple[dict, dict]:
        """GET a registry API path with the test credentials; return the headers and the JSON body."""
        request = urllib.request.Request(f"{self.url}{path}", headers={
            "Authorization": "Basic " + base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode(),
            "Accept": "application/vnd.oci.image.manifest.v1+json, "
                      "application/vnd.docker.distribution.manifest.v2+json",
        })
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(response.headers), json.loads(response.read())


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory):
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip(f"{REGISTRY_BINARY} is missing: apt-get install docker-registry (scripts/test-services.sh does)")
    server = RegistryServer(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()


@pytest.fixture
def registry_settings(settings, registry_server):
    """Settings that push under a path of the test registry that is unique to this test."""
    url = f"{registry_server.host}/t{uuid.uuid4().hex[:10]}"
    yield dataclasses.replace(settings, registry_url=url, registry_username=REGISTRY_USER,
                              registry_password=REGISTRY_PASSWORD)
    remove_local_images(url + "/")


def remove_local_images(prefix: str) -> None:
    """Delete the images that tests built under `prefix` from podman's storage, which buildah shares."""
    podman = shutil.which("podman")
    if podman is None:
        return
    listed = subprocess.run([podman, "images", "--format", "{{.Repository}}:{{.Tag}}"],
                            capture_output=True, text=True, timeout=60)
    references = [line for line in listed.stdout.splitlines() if line.startswith(prefix)]
    if references:
        subprocess.run([podman, "rmi", "--force", *references], capture_output=True, timeout=120)


def import_busybox_base(podman: str, folder: Path, image: str) -> None:
    """Import a root filesystem containing only a static busybox and a few applet links as `image`."""
    archive = folder / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in ("sh", "echo", "cat", "ls", "sleep"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    subprocess.run([podman, "import", str(archive), image], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def base_image(tmp_path_factory):
    """Import a base image made of a static busybox, for the sample build to start FROM."""
    podman = shutil.which("podman")
    if podman is None or not BUSYBOX.exists():
        pytest.skip("podman and a static /usr/bin/busybox are needed: apt-get install podman runc busybox-static")
    # A name of this session's own, so test runs side by side never remove each other's base image.
    image = f"localhost/operatorflow-test-base:{uuid.uuid4().hex[:10]}"
    import_busybox_base(podman, tmp_path_factory.mktemp("base"), image)
    yield image
    subprocess.run([podman, "rmi", "--force", image], capture_output=True, timeout=120)
