"""Image builders: podman, buildah or Docker run as child processes whose output is streamed line by line.

Credentials reach a builder only through an auth file that `push` writes into a private temporary
folder (mode 0600) and deletes afterwards, so they never appear on a command line or in a log.
"""

from __future__ import annotations

import abc
import base64
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable, Sequence

from operatorflow.errors import BackendUnavailable, OperationTimedOut

logger = logging.getLogger(__name__)

LineSink = Callable[[str], None]
"""Receives each output line of a command, without its line ending."""

NO_BUILDER_MESSAGE = (
    "Building images needs podman, buildah or Docker: install one (Debian: apt-get install podman runc buildah)."
)
DOCKERFILE_NAMES = ("Dockerfile", "Containerfile")


class Redactor:
    """Replaces every known secret in a text with `***` before it is shown or written to a log."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class ImageBuilder(abc.ABC):
    """Builds an image from a folder and pushes it to a registry; the output goes to `output`, line by line.

    Both methods return the command's exit status, so the caller decides how a failure is reported.
    """

    name: str
    """Name of the tool, as users know it: podman, buildah or docker."""

    @abc.abstractmethod
    def build(self, context: Path, dockerfile: Path, reference: str, build_args: dict[str, str],
              output: LineSink, timeout_seconds: float) -> int:
        """Build `dockerfile` with `context` as build context and tag the image `reference`."""

    @abc.abstractmethod
    def push(self, reference: str, auth: RegistryAuth | None, tls_verify: bool, output: LineSink,
             timeout_seconds: float) -> int:
        """Push the local image `reference` to the registry its name starts with."""


class RegistryAuth:
    """A user name and password (or an ECR token) for one registry host; the password is never printed."""

    def __init__(self, host: str, username: str, password: str) -> None:
        self.host = host
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        return f"RegistryAuth(host={self.host!r}, username={self.username!r}, password='***')"

    @property
    def encoded(self) -> str:
        """Return `user:password` in base64, as auth files store it."""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def secrets(self) -> list[str]:
        """Return every form of the secret that may turn up in a tool's output, for the redactor."""
        return [self.password, self.encoded]


class _CommandImageBuilder(ImageBuilder):
    """The shared part of the three tools: one executable, arguments built per tool, output streamed."""

    def __init__(self, executable: str) -> None:
        self.executable = executable

    def build(self, context: Path, dockerfile: Path, reference: str, build_args: dict[str, str],
              output: LineSink, timeout_seconds: float) -> int:
        arguments = [self.executable, "build", "--file", str(dockerfile), "--tag", reference]
        for key, value in build_args.items():
            arguments += ["--build-arg", f"{key}={value}"]
        arguments.append(str(context))
        return run_streaming(arguments, output, timeout_seconds, f"{self.name} build")

    def push(self, reference: str, auth: RegistryAuth | None, tls_verify: bool, output: LineSink,
             timeout_seconds: float) -> int:
        folder = Path(tempfile.mkdtemp(prefix="operatorflow-auth-"))
        try:
            auth_file = None
            if auth is not None:
                auth_file = _write_auth_file(folder, auth)
            arguments = self._push_arguments(reference, auth_file, tls_verify)
            return run_streaming(arguments, output, timeout_seconds, f"{self.name} push")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @abc.abstractmethod
    def _push_arguments(self, reference: str, auth_file: Path | None, tls_verify: bool) -> list[str]:
        """Return the push command line; it names the auth file, never the credentials."""


class _ContainersImageBuilder(_CommandImageBuilder):
    """podman and buildah, which share their push options, auth file and image storage."""

    def _push_arguments(self, reference: str, auth_file: Path | None, tls_verify: bool) -> list[str]:
        arguments = [self.executable, "push", f"--tls-verify={'true' if tls_verify else 'false'}"]
        if auth_file is not None:
            arguments += ["--authfile", str(auth_file)]
        return [*arguments, reference, f"docker://{reference}"]


class PodmanImageBuilder(_ContainersImageBuilder):
    name = "podman"


class BuildahImageBuilder(_ContainersImageBuilder):
    name = "buildah"


class DockerImageBuilder(_CommandImageBuilder):
    """Docker, through its client and a running Docker daemon.

    NOTE: the Docker daemon, not the client, decides whether a registry may be reached over plain HTTP:
    it does so for 127.0.0.0/8 and for registries in its `insecure-registries` setting only, whatever
    `registry_insecure` is set to. A push to another plain-HTTP registry fails with "server gave HTTP
    response to HTTPS client".
    """

    name = "docker"

    def _push_arguments(self, reference: str, auth_file: Path | None, tls_verify: bool) -> list[str]:
        # Docker reads credentials from config.json in the folder that --config names.
        arguments = [self.executable]
        if auth_file is not None:
            arguments += ["--config", str(auth_file.parent)]
        return [*arguments, "push", reference]


BUILDERS: dict[str, type[_CommandImageBuilder]] = {
    "podman": PodmanImageBuilder,
    "buildah": BuildahImageBuilder,
    "docker": DockerImageBuilder,
}
"""Builders by tool name, in the order `detect_image_builder` tries them."""


def detect_image_builder(preferred: str = "") -> ImageBuilder:
    """Return the builder for `preferred`, or for the first of podman, buildah and docker on PATH."""
    names = [preferred] if preferred else list(BUILDERS)
    for name in names:
        executable = shutil.which(name)
        if executable:
            logger.info("images using %s at %s", name, executable)
            return BUILDERS[name](executable)
    if preferred:
        raise BackendUnavailable(
            f"OPERATORFLOW_IMAGE_BUILDER is {preferred!r}, but no {preferred} command is on PATH: install it, "
            "or leave the setting empty to use whichever of podman, buildah and Docker is installed."
        )
    raise BackendUnavailable(NO_BUILDER_MESSAGE)


def run_streaming(arguments: list[str], output: LineSink, timeout_seconds: float, label: str) -> int:
    """Run a command, pass each line of its merged stdout and stderr to `output`, and return its exit status.

    The command runs in a process group of its own, so at the deadline the whole group is killed,
    including children that keep the output pipe open. OperationTimedOut is raised after that.
    """
    logger.info("images running %s", " ".join(arguments))
    try:
        process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, errors="replace", bufsize=1,
                                   start_new_session=True)
    except OSError as exc:
        raise BackendUnavailable(f"Could not start {arguments[0]}: {exc}. {NO_BUILDER_MESSAGE}") from exc

    timed_out = threading.Event()

    def kill_at_deadline() -> None:
        timed_out.set()
        _kill_group(process.pid)

    timer = threading.Timer(timeout_seconds, kill_at_deadline)
    timer.daemon = True
    with _running_lock:
        _running_groups.add(process.pid)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            output(line.rstrip("\r\n"))
        status = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            _kill_group(process.pid)
            process.wait()
        with _running_lock:
            _running_groups.discard(process.pid)

    if timed_out.is_set():
        raise OperationTimedOut(
            f"{label} did not finish within {timeout_seconds:g} s and was stopped; "
            "raise OPERATORFLOW_IMAGE_JOB_TIMEOUT_SECONDS for longer builds."
        )
    logger.info("images %s exited with status %s", label, status)
    return status


def stop_running_commands() -> None:
    """Kill every build or push command this process started that is still running.

    The command line calls it on Ctrl-C, which reaches only its own process group, not the commands'.
    """
    with _running_lock:
        groups = list(_running_groups)
    for group in groups:
        _kill_group(group)


_running_groups: set[int] = set()
_running_lock = threading.Lock()


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass
    logger.info("images killed process group %s", group)


def _write_auth_file(folder: Path, auth: RegistryAuth) -> Path:
    """Write the credentials in the auth file format that podman, buildah and Docker share."""
    path = folder / "config.json"
    document = {"auths": {auth.host: {"auth": auth.encoded}}}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
    return path
