"""Image names, tags and the registry they are pushed to, parsed and checked before any command runs."""

from __future__ import annotations

import dataclasses
import re

from operatorflow.errors import InvalidInput

DEFAULT_TAG = "latest"
LOCAL_PREFIX = "localhost"
"""Prefix of images built while no registry is set; podman and buildah name local images this way."""

# The name and tag grammar of the OCI distribution specification. A name is lowercase path components
# joined by `/`, and each component is alphanumeric runs separated by `.`, `_`, `__` or dashes.
# A tag has at most 128 characters.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
_MAX_NAME_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class ImageName:
    """A repository name under the registry path and a tag, as the user writes it: `sample:1.0`."""

    name: str
    tag: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


@dataclasses.dataclass(frozen=True)
class RegistryTarget:
    """The registry that images are pushed to: its host, the path under it, and how to reach it."""

    host: str
    """Host and optional port, such as `127.0.0.1:5000` or `123456789012.dkr.ecr.eu-west-1.amazonaws.com`."""
    path: str
    """Path under the host that every image name goes below, such as `team`; may be empty."""
    tls_verify: bool
    """False only for a loopback host or when `registry_insecure` is set: podman then also accepts plain HTTP."""

    @property
    def ecr_region(self) -> str | None:
        """Return the AWS region when the host is an Amazon ECR registry, else None."""
        match = _ECR_HOST.match(self.host)
        return match.group("region") if match else None

    @property
    def api_url(self) -> str:
        """Return the base URL of the registry's HTTP API: plain HTTP when TLS is not verified."""
        scheme = "http" if not self.tls_verify else "https"
        return f"{scheme}://{self.host}"

    def repository(self, image: ImageName) -> str:
        """Return the repository path inside the registry, such as `team/sample`."""
        return f"{self.path}/{image.name}" if self.path else image.name

    def reference(self, image: ImageName) -> str:
        """Return the full image reference, such as `127.0.0.1:5000/team/sample:1.0`."""
        return f"{self.host}/{self.repository(image)}:{image.tag}"


def parse_image_name(value: str) -> ImageName:
    """Parse `NAME[:TAG]` as given by a user; the tag defaults to `latest`."""
    text = value.strip()
    if not text:
        raise InvalidInput("The image tag is empty: give a name and a tag, for example sample:1.0.")

    name, _, tag = text.rpartition(":") if ":" in text.rsplit("/", 1)[-1] else (text, "", DEFAULT_TAG)
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == LOCAL_PREFIX):
        raise InvalidInput(
            f"Invalid image tag {value!r}: give the name without a registry host, for example sample:1.0. "
            "Images go under the registry path set in OPERATORFLOW_REGISTRY_URL."
        )
    if len(name) > _MAX_NAME_LENGTH or not _NAME.match(name):
        raise InvalidInput(
            f"Invalid image name {name!r} in {value!r}: use lowercase letters, digits and the separators "
            ". _ - between them, with / between path parts, for example team/sample:1.0."
        )
    if not _TAG.match(tag):
        raise InvalidInput(
            f"Invalid image tag {tag!r} in {value!r}: use up to 128 letters, digits, _ . or -, "
            "not starting with . or -, for example 1.0."
        )
    return ImageName(name, tag)


def parse_registry_url(url: str, insecure: bool = False) -> RegistryTarget:
    """Parse the `registry_url` setting, such as `127.0.0.1:5000/team` or an ECR host, into a target.

    A scheme is accepted and dropped, because image references carry none.
    """
    text = url.strip()
    for scheme in ("https://", "http://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    text = text.strip("/")
    if not text:
        raise InvalidInput(
            "No registry is set: set OPERATORFLOW_REGISTRY_URL to the registry and path to push to, "
            "for example 127.0.0.1:5000/team or 123456789012.dkr.ecr.eu-west-1.amazonaws.com."
        )

    host, _, path = text.partition("/")
    if not host or " " in host:
        raise InvalidInput(f"Invalid OPERATORFLOW_REGISTRY_URL {url!r}: start it with a host name, "
                           "for example 127.0.0.1:5000/team.")
    if path and not _NAME.match(path):
        raise InvalidInput(
            f"Invalid path {path!r} in OPERATORFLOW_REGISTRY_URL {url!r}: use lowercase letters, digits and "
            ". _ - between them, with / between path parts."
        )
    loopback = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    tls_verify = not (insecure or loopback in _LOOPBACK_HOSTS)
    return RegistryTarget(host=host, path=path, tls_verify=tls_verify)
