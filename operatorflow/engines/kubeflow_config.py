"""Kubeflow Pipelines settings resolved without importing kfp: the endpoint, the credentials and the user's namespace."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Callable

from operatorflow.errors import InvalidInput
from operatorflow.settings import Settings

ENGINE_NAME = "kubeflow"
SERVICE_ACCOUNT_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"
"""Token that Kubernetes mounts into every pod; used when no other credential is set and the file exists."""
CREDENTIAL_NAME = "kubeflow-token"
"""Name of a user's Kubeflow token in the credentials store, which a `TokenProvider` reads."""
EXPERIMENT_PREFIX = "operatorflow-"
CREDENTIALS_FIX = (
    "Set OPERATORFLOW_KUBEFLOW_TOKEN (a bearer token), OPERATORFLOW_KUBEFLOW_TOKEN_FILE (a file with one) or "
    "OPERATORFLOW_KUBEFLOW_COOKIES (the session cookies of a Kubeflow behind a sign-in load balancer)."
)
STORED_TOKEN_FIX = f"Store a valid token as your credential {CREDENTIAL_NAME}, or ask an administrator to. "
"""Put before CREDENTIALS_FIX when users' stored tokens are in use."""

TokenProvider = Callable[[str], "str | None"]
"""Returns the bearer token of an OperatorFlow user, or None when the user stored none."""

_NAMESPACE_CHARACTERS = re.compile(r"[^a-z0-9-]+")
_MAX_NAMESPACE_LENGTH = 63


@dataclasses.dataclass(frozen=True)
class KubeflowAuth:
    """Credentials sent with every request: at most one bearer token source, plus session cookies."""

    token: str = dataclasses.field(default="", repr=False)
    token_file: str = ""
    """File read again at each request, because Kubernetes rotates mounted tokens."""
    cookies: str = dataclasses.field(default="", repr=False)
    source: str = "none"
    """Name of the credentials' source, for log lines and messages. It never contains the secret itself."""


def kubeflow_enabled(settings: Settings) -> bool:
    return bool(settings.kubeflow_host.strip())


def resolve_token_file(settings: Settings, default_file: str = SERVICE_ACCOUNT_TOKEN_FILE) -> str:
    """Return the token file of the settings, else the pod's service-account token when it exists, else ""."""
    if settings.kubeflow_token_file:
        return settings.kubeflow_token_file
    if kubeflow_enabled(settings) and os.path.isfile(default_file):
        return default_file
    return ""


def resolve_auth(settings: Settings, user: str, token_provider: TokenProvider | None = None,
                 default_token_file: str = SERVICE_ACCOUNT_TOKEN_FILE) -> KubeflowAuth:
    """Pick the bearer token in this order: the setting, the user's stored token, the token file.

    Cookies are sent whenever they are set, with or without a token.
    """
    cookies = settings.kubeflow_cookies.strip()
    if settings.kubeflow_token:
        return KubeflowAuth(token=settings.kubeflow_token, cookies=cookies, source="OPERATORFLOW_KUBEFLOW_TOKEN")
    if token_provider is not None:
        token = token_provider(user)
        if token:
            return KubeflowAuth(token=token, cookies=cookies, source=f"the stored credential {CREDENTIAL_NAME}")
    token_file = resolve_token_file(settings, default_token_file)
    if token_file:
        return KubeflowAuth(token_file=token_file, cookies=cookies, source=f"the token file {token_file}")
    if cookies:
        return KubeflowAuth(cookies=cookies, source="OPERATORFLOW_KUBEFLOW_COOKIES")
    return KubeflowAuth()


def resolve_namespace(settings: Settings, user: str) -> str:
    """Return the user's namespace: the setting with `{user}` replaced by a DNS-label form of the user name.

    `ada.lovelace@example.com` becomes `ada-lovelace-example-com`, the form Kubeflow profiles use.
    """
    template = settings.kubeflow_namespace.strip()
    if "{user}" not in template:
        return template
    label = _NAMESPACE_CHARACTERS.sub("-", user.lower()).strip("-")
    namespace = template.replace("{user}", label)
    if not label or len(namespace) > _MAX_NAMESPACE_LENGTH or not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?",
                                                                             namespace):
        raise InvalidInput(
            f"The Kubeflow namespace {namespace!r} made from OPERATORFLOW_KUBEFLOW_NAMESPACE={template!r} for user "
            f"{user!r} is not a valid Kubernetes namespace (lowercase letters, digits and '-', at most 63 characters): "
            "change the template or set a fixed namespace."
        )
    return namespace


def experiment_name(user: str) -> str:
    """Return the name of the user's own experiment, which groups the user's runs on the server."""
    return EXPERIMENT_PREFIX + user
