"""A tiny local image for container tests: the machine's static busybox imported as a root filesystem.

No image can be pulled in the test environment, so `podman import` turns a tarball of busybox and
its command links into an image. Tests skip with the reason when podman cannot run a container.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

from operatorflow.settings import Settings

BUSYBOX = Path("/bin/busybox")
COMMANDS = ("sh", "cat", "echo", "ls", "sleep", "wc", "env", "mkdir", "grep", "cut", "tr", "head", "true")


def find_podman_problem() -> str | None:
    """Return why podman cannot be used for the tests, or None when it is installed with busybox beside it."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman runc)"
    if not BUSYBOX.is_file():
        return f"{BUSYBOX} is missing, and the test image is built from it (apt-get install busybox-static)"
    return None


def busybox_tarball() -> bytes:
    """Return a root filesystem with /bin/busybox and a link per command, as a tar archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder in ("bin", "tmp", "mnt"):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if folder == "tmp" else 0o755
            archive.addfile(info)
        archive.add(BUSYBOX, arcname="bin/busybox")
        for command in COMMANDS:
            info = tarfile.TarInfo(f"bin/{command}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            archive.addfile(info)
    return buffer.getvalue()


def import_busybox_image(podman: str) -> str:
    """Import the busybox root filesystem as a new image; return its name."""
    name = f"localhost/operatorflow-test-busybox:{uuid.uuid4().hex[:8]}"
    subprocess.run([podman, "import", "--change", "CMD [\"/bin/sh\"]", "-", name], input=busybox_tarball(),
                   capture_output=True, check=True, timeout=120)
    return name


def check_runs(podman: str, image: str) -> str | None:
    """Run `true` in the image with the engine's default options; return podman's error, or None when it works."""
    options = Settings().local_container_run_options.split()
    completed = subprocess.run([podman, "run", "--rm", *options, image, "true"], capture_output=True, text=True,
                               timeout=120, check=False)
    if completed.returncode == 0:
        return None
    return completed.stderr.strip() or f"exit code {completed.returncode}"


def remove_image(podman: str, image: str) -> None:
    subprocess.run([podman, "rmi", "--force", image], capture_output=True, timeout=120, check=False)
