"""The image service that the KubeFlow page and `operatorflow images` call: build, push and list images."""

from __future__ import annotations

import importlib
import logging
import os
import re
from pathlib import Path
from typing import Any, Callable

from operatorflow.clock import Clock
from operatorflow.errors import BackendUnavailable, InvalidInput, RunFailed
from operatorflow.images.builders import DOCKERFILE_NAMES, BUILDERS, ImageBuilder, Redactor, detect_image_builder
from operatorflow.images.jobs import ImageAction, ImageJob, ImageJobs
from operatorflow.images.references import (
    LOCAL_PREFIX,
    ImageName,
    RegistryTarget,
    parse_image_name,
    parse_registry_url,
)
from operatorflow.images.registries import (
    ImageRegistry,
    SecretProvider,
    build_image_registry,
    settings_secret_provider,
)
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

BuilderFactory = Callable[[Settings], ImageBuilder]
LIST_CACHE_SECONDS = 15.0
"""Seconds a registry listing is reused, because the page lists on every rerun and a listing costs a
request per repository. A successful push clears it."""
_BUILD_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ImageService:
    """Builds images from folders on the server, pushes them to the configured registry and lists them.

    Builds and pushes run as background jobs; one object serves every user, and it stores no
    credentials: they are fetched for each push and live only as long as the push.
    """

    def __init__(self, settings: Settings, builder_factory: BuilderFactory | None = None,
                 secret_provider: SecretProvider | None = None, jobs: ImageJobs | None = None,
                 clock: Clock | None = None, ecr_client_factory: Callable[..., Any] | None = None) -> None:
        self.settings = settings
        self._builder_factory = builder_factory or builder_factory_from_settings(settings)
        self._secret_provider = secret_provider or settings_secret_provider(settings)
        self._ecr_client_factory = ecr_client_factory
        self.clock = clock or Clock()
        self.jobs = jobs or ImageJobs(settings.home / "images", self.clock)
        self._builder: ImageBuilder | None = None
        self._listing: tuple[float, list[str]] | None = None

    # Configuration

    @property
    def registry_url(self) -> str:
        return self.settings.registry_url

    def get_builder(self) -> ImageBuilder:
        """Return the builder, detected on first use; raises BackendUnavailable when none is installed."""
        if self._builder is None:
            self._builder = self._builder_factory(self.settings)
        return self._builder

    def get_registry_target(self) -> RegistryTarget:
        """Return the push target from settings; raises InvalidInput when no registry is set."""
        return parse_registry_url(self.settings.registry_url, self.settings.registry_insecure)

    def get_image_reference(self, tag: str) -> str:
        """Return the full reference a `NAME:TAG` is built and pushed as, under the registry path."""
        image = parse_image_name(tag)
        if not self.settings.registry_url.strip():
            return f"{LOCAL_PREFIX}/{image}"
        return self.get_registry_target().reference(image)

    def list_build_roots(self) -> list[Path]:
        """Return the folders that build contexts must lie in."""
        configured = [p for p in self.settings.image_build_roots.split(os.pathsep) if p.strip()]
        roots = [Path(p).expanduser() for p in configured] or [self.settings.project_dir, self.settings.home]
        return [root.resolve() for root in roots]

    # Build and push

    def submit_build(self, user: str, context: str, tag: str, build_args: dict[str, str] | None = None,
                     echo: Callable[[str], None] | None = None) -> ImageJob:
        """Check the inputs, then start a background job that builds the folder's Dockerfile as `tag`."""
        folder, dockerfile = self._checked_context(context)
        reference = self.get_image_reference(tag)
        arguments = _checked_build_args(build_args or {})
        builder = self.get_builder()
        timeout = self.settings.image_job_timeout_seconds

        def step(job: ImageJob, output: Callable[[str], None]) -> None:
            output(f"{builder.name} build of {reference} from {folder}")
            status = builder.build(folder, dockerfile, reference, arguments, output, timeout)
            if status != 0:
                raise RunFailed(job.id, f"{builder.name} build of {reference} failed with exit status {status}; "
                                        "the build log shows why.")
            output(f"Built {reference}.")

        return self.jobs.start_job(user, ImageAction.BUILD, reference, step, echo)

    def submit_push(self, user: str, tag: str, echo: Callable[[str], None] | None = None) -> ImageJob:
        """Check the inputs, then start a background job that pushes the built image `tag` to the registry."""
        image = parse_image_name(tag)
        target = self.get_registry_target()
        reference = target.reference(image)
        registry = self._build_registry(target)
        builder = self.get_builder()
        timeout = self.settings.image_job_timeout_seconds

        def step(job: ImageJob, output: Callable[[str], None]) -> None:
            auth = registry.get_auth()
            redact = Redactor(auth.secrets() if auth else [])
            if not target.tls_verify:
                output(f"TLS verification is off for {target.host} (a loopback host or OPERATORFLOW_REGISTRY_INSECURE); "
                       "plain HTTP is allowed.")
            registry.prepare_push(target.repository(image))
            output(f"{builder.name} push of {reference}" + (f" as {auth.username}" if auth else " without sign-in"))
            status = builder.push(reference, auth, target.tls_verify, lambda line: output(redact(line)), timeout)
            if status != 0:
                raise RunFailed(job.id, f"{builder.name} push of {reference} failed with exit status {status}; "
                                        "the push log shows why. Build the image first if it is missing.")
            self._listing = None
            output(f"Pushed {reference}.")

        return self.jobs.start_job(user, ImageAction.PUSH, reference, step, echo)

    # Listing

    def list_pushed_images(self, refresh: bool = False) -> list[str]:
        """Return the full references of the images under the registry path; empty when no registry is set.

        A listing younger than LIST_CACHE_SECONDS is reused unless `refresh` is set.
        """
        if not self.settings.registry_url.strip():
            return []
        now = self.clock.monotonic()
        if not refresh and self._listing is not None and now - self._listing[0] < LIST_CACHE_SECONDS:
            return list(self._listing[1])
        references = self._build_registry(self.get_registry_target()).list_images()
        self._listing = (now, references)
        return list(references)

    def _build_registry(self, target: RegistryTarget) -> ImageRegistry:
        return build_image_registry(self.settings, target, self._secret_provider, self._ecr_client_factory)

    def _checked_context(self, context: str) -> tuple[Path, Path]:
        """Return the resolved build folder and its Dockerfile, or raise InvalidInput saying what is wrong."""
        if not context.strip():
            raise InvalidInput("The build folder is empty: give the path of a folder on the server that has a Dockerfile.")
        raw = Path(context.strip()).expanduser()
        folder = (raw if raw.is_absolute() else self.settings.project_dir / raw).resolve()
        roots = self.list_build_roots()
        if not any(folder.is_relative_to(root) for root in roots):
            allowed = ", ".join(str(r) for r in roots)
            raise InvalidInput(
                f"The build folder {folder} is outside the folders this server builds from ({allowed}): move it "
                "there, or ask an administrator to add its parent to OPERATORFLOW_IMAGE_BUILD_ROOTS."
            )
        if not folder.is_dir():
            raise InvalidInput(f"The build folder {folder} does not exist on the server: check the path.")
        for name in DOCKERFILE_NAMES:
            if (folder / name).is_file():
                return folder, folder / name
        raise InvalidInput(
            f"The build folder {folder} has no Dockerfile or Containerfile: add one, or pick the folder that has it."
        )


def _checked_build_args(build_args: dict[str, str]) -> dict[str, str]:
    for key in build_args:
        if not _BUILD_ARG_NAME.match(key):
            raise InvalidInput(
                f"Invalid build argument name {key!r}: use letters, digits and _, not starting with a digit, "
                "for example BASE_IMAGE=..."
            )
    return dict(build_args)


def parse_build_args(pairs: list[str]) -> dict[str, str]:
    """Parse `KEY=VALUE` strings, as `--build-arg` and the page's text area give them."""
    arguments = {}
    for pair in pairs:
        if not pair.strip():
            continue
        key, separator, value = pair.partition("=")
        if not separator:
            raise InvalidInput(f"Invalid build argument {pair!r}: write it as KEY=VALUE, for example BASE_IMAGE=busybox.")
        arguments[key.strip()] = value
    return _checked_build_args(arguments)


def builder_factory_from_settings(settings: Settings) -> BuilderFactory:
    """Return the factory that `image_builder` names: a tool name, `module:callable`, or empty to detect one."""
    choice = settings.image_builder.strip()
    if not choice or choice in BUILDERS:
        return lambda _settings: detect_image_builder(choice)
    module_name, separator, attribute = choice.partition(":")
    if not separator:
        raise InvalidInput(
            f"Invalid OPERATORFLOW_IMAGE_BUILDER {choice!r}: use podman, buildah, docker, a module:callable "
            "that returns an ImageBuilder, or leave it empty to use whichever tool is installed."
        )
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"OPERATORFLOW_IMAGE_BUILDER {choice!r} cannot be loaded: {exc}.") from exc


def list_pushed_images(settings: Settings, secret_provider: SecretProvider | None = None) -> list[str]:
    """Return the full references of the pushed images under the configured registry path, sorted.

    Empty when no registry is set. Raises BackendUnavailable or PermissionDenied when the registry
    cannot be listed, so a form can show why its list is empty.
    """
    return ImageService(settings, secret_provider=secret_provider).list_pushed_images()
