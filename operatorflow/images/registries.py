"""Registries that images are pushed to: credentials for a push, and the list of pushed images.

Two kinds are supported. Amazon ECR is recognised by its host name. Its push credentials come
from `ecr.get_authorization_token` with the server's AWS credentials, and its images are listed
with `describe_repositories` and `describe_images`. Any other registry must implement the
distribution API (`/v2/_catalog`, `/v2/<name>/tags/list`) and takes a user name and password, or none.
"""

from __future__ import annotations

import abc
import base64
import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable

from operatorflow.errors import BackendUnavailable, InvalidInput, NotFound, PermissionDenied
from operatorflow.images.builders import RegistryAuth
from operatorflow.images.references import RegistryTarget
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

SecretProvider = Callable[[str], "str | None"]
"""Returns the secret stored under a name (`registry-username`, `registry-password`), or None."""

USERNAME_SECRET = "registry-username"
PASSWORD_SECRET = "registry-password"
PAGE_SIZE = 100
MAX_PAGES = 1000
"""Upper bound on pages read from one listing, so a registry that keeps linking cannot loop forever."""
REQUEST_TIMEOUT_SECONDS = 30.0
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def settings_secret_provider(settings: Settings) -> SecretProvider:
    """Return a provider that reads the registry user name and password from settings, else the shared credentials.

    The shared credentials `registry-username` and `registry-password` are those an administrator
    stores on the Settings page; one registry account serves every user's pushes.
    """
    secrets = {USERNAME_SECRET: settings.registry_username, PASSWORD_SECRET: settings.registry_password}

    def provide(name: str) -> str | None:
        if secrets.get(name):
            return secrets[name]
        from operatorflow.credentials import resolve_credential

        return resolve_credential(None, name, settings)

    return provide


class ImageRegistry(abc.ABC):
    """A registry that images are pushed to and listed from."""

    def __init__(self, target: RegistryTarget) -> None:
        self.target = target

    @abc.abstractmethod
    def get_auth(self) -> RegistryAuth | None:
        """Return credentials for a push, or None when the registry takes anonymous pushes."""

    def prepare_push(self, repository: str) -> None:
        """Create what the registry needs before a push to `repository`; most registries need nothing."""

    @abc.abstractmethod
    def list_images(self) -> list[str]:
        """Return the full references of the images under the target's path, sorted."""


class DistributionRegistry(ImageRegistry):
    """A registry that speaks the distribution HTTP API, with HTTP basic authentication or none.

    NOTE: registries that hand out bearer tokens from a separate token service (Docker Hub, GitLab,
    Harbor) are not supported for listing yet: a listing there fails with "requires bearer token
    authentication". Pushing works, because podman handles that exchange itself.
    """

    def __init__(self, target: RegistryTarget, secret_provider: SecretProvider, page_size: int = PAGE_SIZE) -> None:
        super().__init__(target)
        self._secret_provider = secret_provider
        self._page_size = page_size

    def get_auth(self) -> RegistryAuth | None:
        username = self._secret_provider(USERNAME_SECRET) or ""
        password = self._secret_provider(PASSWORD_SECRET) or ""
        if not username and not password:
            return None
        if not username or not password:
            missing = USERNAME_SECRET if not username else PASSWORD_SECRET
            raise InvalidInput(
                f"The registry credentials for {self.target.host} lack {missing}: store both "
                f"{USERNAME_SECRET} and {PASSWORD_SECRET}, or neither for a registry without sign-in."
            )
        return RegistryAuth(self.target.host, username, password)

    def list_images(self) -> list[str]:
        auth = self.get_auth()
        prefix = f"{self.target.path}/" if self.target.path else ""
        repositories = [
            name
            for name in self._read_pages(f"/v2/_catalog?n={self._page_size}", "repositories", auth)
            if name.startswith(prefix)
        ]

        references = []
        for repository in repositories:
            quoted = urllib.parse.quote(repository, safe="/")
            tags = self._read_pages(f"/v2/{quoted}/tags/list?n={self._page_size}", "tags", auth)
            references += [f"{self.target.host}/{repository}:{tag}" for tag in tags]
        logger.info("images listed %s repositories and %s tags on %s", len(repositories), len(references),
                    self.target.host)
        return sorted(references)

    def get_manifest_digest(self, repository: str, tag: str) -> str:
        """Return the digest the registry reports for a tag's manifest (`Docker-Content-Digest`)."""
        quoted = urllib.parse.quote(repository, safe="/")
        accept = ", ".join([
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ])
        headers, _ = self._get(f"/v2/{quoted}/manifests/{tag}", self.get_auth(), {"Accept": accept}, "HEAD")
        return headers.get("Docker-Content-Digest", "")

    def _read_pages(self, path: str, key: str, auth: RegistryAuth | None) -> list[str]:
        """Follow the `Link: <...>; rel="next"` headers of a listing and collect `key` from every page."""
        items: list[str] = []
        for _ in range(MAX_PAGES):
            headers, body = self._get(path, auth)
            items += body.get(key) or []
            match = _NEXT_LINK.search(headers.get("Link", ""))
            if not match:
                return items
            # The link is relative to the registry's host; keep only path and query, so it cannot
            # send the credentials to another host.
            link = urllib.parse.urlsplit(match.group(1))
            path = f"{link.path}?{link.query}" if link.query else link.path
        raise BackendUnavailable(
            f"The registry {self.target.host} returned more than {MAX_PAGES} pages for {key}; "
            "the listing was stopped. Check the registry, or narrow OPERATORFLOW_REGISTRY_URL to a path."
        )

    def _get(self, path: str, auth: RegistryAuth | None, headers: dict[str, str] | None = None,
             method: str = "GET") -> tuple[Any, dict[str, Any]]:
        url = self.target.api_url + path
        request = urllib.request.Request(url, headers=dict(headers or {}), method=method)
        if auth is not None:
            request.add_header("Authorization", f"Basic {auth.encoded}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                raw = response.read()
                return response.headers, json.loads(raw) if raw and method == "GET" else {}
        except urllib.error.HTTPError as exc:
            raise self._translate_http_error(exc, path) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise BackendUnavailable(
                f"The registry at {self.target.api_url} could not be reached ({exc}): check "
                "OPERATORFLOW_REGISTRY_URL and that the registry is running."
            ) from exc
        except json.JSONDecodeError as exc:
            raise BackendUnavailable(
                f"The registry at {self.target.api_url} returned something other than JSON for {path}: "
                "check that OPERATORFLOW_REGISTRY_URL names an image registry."
            ) from exc

    def _translate_http_error(self, exc: urllib.error.HTTPError, path: str) -> Exception:
        challenge = exc.headers.get("WWW-Authenticate", "") if exc.headers else ""
        if exc.code == 401 and challenge.lower().startswith("bearer"):
            return BackendUnavailable(
                f"The registry {self.target.host} requires bearer token authentication, which the image "
                "list does not support yet; push still works, and the list works on registries with basic "
                "authentication."
            )
        if exc.code == 401:
            return PermissionDenied(
                f"The registry {self.target.host} rejected the credentials (HTTP 401): check the stored "
                f"{USERNAME_SECRET} and {PASSWORD_SECRET}."
            )
        if exc.code == 403:
            return PermissionDenied(
                f"The registry {self.target.host} denied access to {path} (HTTP 403): ask its administrator "
                "for pull access to the catalog."
            )
        if exc.code == 404:
            return NotFound(f"The registry {self.target.host} has nothing at {path} (HTTP 404).")
        return BackendUnavailable(
            f"The registry {self.target.host} failed on {path} with HTTP {exc.code}: try again, or check the registry."
        )


class ECRRegistry(ImageRegistry):
    """Amazon ECR, through boto3 with the server's AWS credentials.

    NOTE: the tests run these calls against moto on 127.0.0.1, which implements the ECR API but does not
    serve the registry protocol, so a real push to ECR has not been tried by the test suite.
    """

    def __init__(self, target: RegistryTarget, endpoint_url: str = "",
                 client_factory: Callable[..., Any] | None = None) -> None:
        super().__init__(target)
        import boto3

        factory = client_factory or boto3.client
        region = target.ecr_region
        self._client = factory("ecr", region_name=region, endpoint_url=endpoint_url or None)

    def get_auth(self) -> RegistryAuth:
        response = self._call("get_authorization_token")
        token = response["authorizationData"][0]["authorizationToken"]
        username, _, password = base64.b64decode(token).decode().partition(":")
        if not password:
            raise BackendUnavailable(
                f"ECR returned an authorization token for {self.target.host} without a password part; try again."
            )
        return RegistryAuth(self.target.host, username, password)

    def prepare_push(self, repository: str) -> None:
        """Create the ECR repository when it is missing, because ECR rejects a push to an unknown one."""
        try:
            self._call("describe_repositories", repositoryNames=[repository])
            return
        except NotFound:
            pass
        self._call("create_repository", repositoryName=repository)
        logger.info("images ecr created repository %s", repository)

    def list_images(self) -> list[str]:
        prefix = f"{self.target.path}/" if self.target.path else ""
        repositories = [
            repository["repositoryName"]
            for repository in self._pages("describe_repositories", "repositories")
            if repository["repositoryName"].startswith(prefix)
        ]
        references = []
        for repository in repositories:
            for detail in self._pages("describe_images", "imageDetails", repositoryName=repository):
                references += [f"{self.target.host}/{repository}:{tag}" for tag in detail.get("imageTags", [])]
        logger.info("images listed %s ECR repositories and %s tags on %s", len(repositories), len(references),
                    self.target.host)
        return sorted(references)

    def _pages(self, operation: str, key: str, **arguments: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = self._call(operation, **arguments)
            items += response.get(key, [])
            token = response.get("nextToken")
            if not token:
                return items
            arguments["nextToken"] = token
        raise BackendUnavailable(f"ECR returned more than {MAX_PAGES} pages for {operation}; the listing was stopped.")

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        """Call one ECR operation and translate botocore's exceptions into OperatorFlow's."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return getattr(self._client, operation)(**arguments)
        except NoCredentialsError as exc:
            raise PermissionDenied(
                f"ECR {operation} for {self.target.host} needs AWS credentials: configure them for the server "
                "(environment, ~/.aws or an instance role)."
            ) from exc
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            if code == "RepositoryNotFoundException":
                raise NotFound(f"ECR repository not found on {self.target.host}: {message}") from exc
            if code in ("AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"):
                raise PermissionDenied(
                    f"ECR {operation} on {self.target.host} was denied ({code}): give the server's AWS "
                    "identity the ecr permissions for it."
                ) from exc
            raise BackendUnavailable(f"ECR {operation} on {self.target.host} failed ({code}: {message}).") from exc
        except BotoCoreError as exc:
            raise BackendUnavailable(f"ECR {operation} on {self.target.host} failed: {exc}.") from exc


def build_image_registry(settings: Settings, target: RegistryTarget, secret_provider: SecretProvider,
                         ecr_client_factory: Callable[..., Any] | None = None) -> ImageRegistry:
    """Return the registry implementation for the target: ECR by its host name, otherwise the distribution API."""
    if target.ecr_region:
        return ECRRegistry(target, settings.registry_ecr_endpoint_url, ecr_client_factory)
    return DistributionRegistry(target, secret_provider)
