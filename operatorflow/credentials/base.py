"""The credential store interface, scopes, standard credential names and masked previews."""

from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import re

from operatorflow.errors import InvalidInput

SHARED_SCOPE = "shared"
"""Scope of the credentials an administrator stores for every user."""
USER_SCOPE_PREFIX = "user:"

DATABRICKS_TOKEN = "databricks-token"
KUBEFLOW_TOKEN = "kubeflow-token"
REGISTRY_USERNAME = "registry-username"
REGISTRY_PASSWORD = "registry-password"
SMTP_PASSWORD = "smtp-password"
AWS_ACCESS_KEY_ID = "aws-access-key-id"
AWS_SECRET_ACCESS_KEY = "aws-secret-access-key"
STANDARD_NAMES = (
    DATABRICKS_TOKEN,
    KUBEFLOW_TOKEN,
    REGISTRY_USERNAME,
    REGISTRY_PASSWORD,
    SMTP_PASSWORD,
    AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY,
)
"""Names that OperatorFlow's engines and services look up; other names are stored but unused."""

MAX_VALUE_LENGTH = 16384
"""Characters of one credential value; a long JWT or a PEM key fits, a pasted file by mistake does not."""
PREVIEW_MIN_LENGTH = 12
"""Values shorter than this show no characters at all in a preview, because 4 characters of them would reveal too much."""
PREVIEW_MASK = "••••"

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")


@dataclasses.dataclass(frozen=True)
class CredentialInfo:
    """A stored credential as lists show it: never the value, at most its last 4 characters."""

    scope: str
    name: str
    preview: str
    updated_at: dt.datetime
    updated_by: str


class CredentialStore(abc.ABC):
    """Secret values by scope (`shared` or `user:<name>`) and name.

    Implementations check names and scopes but not permissions: the credential service decides
    who may read or change a scope. No method puts a value in a log line or an exception message.
    """

    backend: str

    @abc.abstractmethod
    def put_credential(self, scope: str, name: str, value: str, updated_by: str) -> None:
        """Store `value`, replacing the credential of that scope and name if there is one."""

    @abc.abstractmethod
    def get_credential(self, scope: str, name: str) -> str | None:
        """Return the stored value, or None when the scope has no credential of that name."""

    @abc.abstractmethod
    def delete_credential(self, scope: str, name: str) -> bool:
        """Delete the credential; return False when there was none."""

    @abc.abstractmethod
    def list_credentials(self, scope: str) -> list[CredentialInfo]:
        """Return the credentials of one scope, sorted by name, with masked previews."""


def user_scope(user: str) -> str:
    """Return the scope of a user's own credentials."""
    if not _USER.match(user or ""):
        raise InvalidInput(f"Invalid user name {user!r}: use letters, digits and . _ @ - (at most 255 characters).")
    return USER_SCOPE_PREFIX + user


def check_scope(scope: str) -> str:
    """Return `scope` when it is `shared` or `user:<valid name>`; raise InvalidInput otherwise."""
    if scope == SHARED_SCOPE:
        return scope
    if scope.startswith(USER_SCOPE_PREFIX):
        return user_scope(scope[len(USER_SCOPE_PREFIX):])
    raise InvalidInput(f"Invalid credential scope {scope!r}: use 'shared' or 'user:<name>'.")


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InvalidInput(
            f"Invalid credential name {name!r}: use lowercase letters, digits and hyphens (at most 63 characters), "
            f"for example {DATABRICKS_TOKEN}."
        )
    return name


def check_value(name: str, value: str) -> str:
    """Return the value when it can be stored; the error names the credential, never the value."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"The value of credential {name} is empty: enter the secret itself.")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput(
            f"The value of credential {name} has {len(value)} characters, more than the maximum "
            f"{MAX_VALUE_LENGTH}: check that you pasted the secret and not a whole file."
        )
    if "\x00" in value:
        raise InvalidInput(f"The value of credential {name} contains a NUL character: enter the secret as text.")
    return value


def mask(value: str) -> str:
    """Return a preview: the mask, plus the last 4 characters when the value has at least PREVIEW_MIN_LENGTH."""
    if len(value) < PREVIEW_MIN_LENGTH:
        return PREVIEW_MASK
    return PREVIEW_MASK + value[-4:]
