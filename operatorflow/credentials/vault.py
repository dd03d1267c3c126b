"""Credentials in HashiCorp Vault's KV version 2 secrets engine, through hvac."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from typing import Iterator

import hvac
import requests
from hvac import exceptions as vault_errors

from operatorflow.credentials.base import (
    SHARED_SCOPE,
    USER_SCOPE_PREFIX,
    CredentialInfo,
    CredentialStore,
    check_name,
    check_scope,
    check_value,
    mask,
)
from operatorflow.errors import BackendUnavailable, InvalidInput

logger = logging.getLogger(__name__)

VALUE_FIELD = "value"
UPDATED_BY_FIELD = "updated_by"
REQUEST_TIMEOUT_SECONDS = 10
TOKEN_FIX = "Set OPERATORFLOW_VAULT_TOKEN or VAULT_TOKEN to a token whose policy may read, write, list and delete there."
_FRACTION = re.compile(r"\.(\d+)")


class VaultCredentialStore(CredentialStore):
    """One KV version 2 secret per credential, at `<prefix>/shared/<name>` or `<prefix>/users/<user>/<name>`.

    Each secret contains the value and the name of the user who stored it; Vault keeps the
    versions and their times. Deleting removes every version and the metadata.
    """

    backend = "vault"

    def __init__(self, url: str, token: str, *, mount: str = "secret", path_prefix: str = "operatorflow",
                 ca_cert: str = "") -> None:
        if not url:
            raise InvalidInput("Vault is chosen for credentials but has no address: set OPERATORFLOW_VAULT_URL or "
                               "VAULT_ADDR, for example https://vault.example.com:8200.")
        if not token:
            raise InvalidInput(f"Vault at {url} has no token. {TOKEN_FIX}")
        self.url = url
        self.mount = mount.strip("/")
        self.path_prefix = path_prefix.strip("/")
        self._client = hvac.Client(url=url, token=token, verify=ca_cert or True, timeout=REQUEST_TIMEOUT_SECONDS)

    def __repr__(self) -> str:
        return f"VaultCredentialStore(url={self.url!r}, mount={self.mount!r}, path_prefix={self.path_prefix!r})"

    def put_credential(self, scope: str, name: str, value: str, updated_by: str) -> None:
        path = self._secret_path(scope, name)
        check_value(name, value)
        with self._translated("write", path):
            response = self._kv.create_or_update_secret(
                path=path, secret={VALUE_FIELD: value, UPDATED_BY_FIELD: updated_by}, mount_point=self.mount
            )
        version = (response or {}).get("data", {}).get("version")
        logger.info("vault stored %s/%s version %s (by %s)", self.mount, path, version, updated_by)

    def get_credential(self, scope: str, name: str) -> str | None:
        secret = self._read(self._secret_path(scope, name))
        return None if secret is None else secret[0]

    def delete_credential(self, scope: str, name: str) -> bool:
        path = self._secret_path(scope, name)
        with self._translated("delete", path):
            try:
                self._kv.read_secret_metadata(path=path, mount_point=self.mount)
            except vault_errors.InvalidPath:
                return False
            self._kv.delete_metadata_and_all_versions(path=path, mount_point=self.mount)
        logger.info("vault deleted %s/%s with all its versions", self.mount, path)
        return True

    def list_credentials(self, scope: str) -> list[CredentialInfo]:
        folder = self._scope_path(scope)
        with self._translated("list", folder):
            try:
                response = self._kv.list_secrets(path=folder, mount_point=self.mount)
            except vault_errors.InvalidPath:
                return []
        # Keys ending in "/" are folders, such as another user's folder below a shared prefix.
        names = sorted(key for key in response["data"]["keys"] if not key.endswith("/"))
        # NOTE: KV v2 lists names only, so each preview costs one more request. A scope with the 7
        # standard names takes 8 requests; 200 names took about 1.2 s against the test's fake server.
        infos = []
        for name in names:
            secret = self._read(f"{folder}/{name}")
            if secret is not None:
                value, updated_at, updated_by = secret
                infos.append(CredentialInfo(scope, name, mask(value), updated_at, updated_by))
        return infos

    @property
    def _kv(self):
        return self._client.secrets.kv.v2

    def _read(self, path: str) -> tuple[str, dt.datetime, str] | None:
        """Return (value, time of the latest version, who stored it), or None when there is no such secret."""
        with self._translated("read", path):
            try:
                response = self._kv.read_secret_version(path=path, mount_point=self.mount,
                                                        raise_on_deleted_version=True)
            except vault_errors.InvalidPath:
                return None
        data = response["data"]["data"] or {}
        if VALUE_FIELD not in data:
            raise InvalidInput(
                f"The Vault secret {self.mount}/{path} has no `{VALUE_FIELD}` field: store the credential again "
                "through OperatorFlow, which writes that field."
            )
        metadata = response["data"]["metadata"]
        return str(data[VALUE_FIELD]), parse_vault_time(metadata["created_time"]), str(data.get(UPDATED_BY_FIELD, ""))

    def _scope_path(self, scope: str) -> str:
        scope = check_scope(scope)
        if scope == SHARED_SCOPE:
            tail = "shared"
        else:
            tail = f"users/{scope[len(USER_SCOPE_PREFIX):]}"
        return f"{self.path_prefix}/{tail}" if self.path_prefix else tail

    def _secret_path(self, scope: str, name: str) -> str:
        return f"{self._scope_path(scope)}/{check_name(name)}"

    @contextlib.contextmanager
    def _translated(self, action: str, path: str) -> Iterator[None]:
        """Turn hvac's and requests' exceptions into OperatorFlow's; the messages name the path, never a value."""
        where = f"{self.url} ({self.mount}/{path})"
        try:
            yield
        except (vault_errors.Forbidden, vault_errors.Unauthorized) as exc:
            logger.warning("vault denied %s of %s: %s", action, where, exc)
            raise BackendUnavailable(f"Vault at {where} denied the {action}: {_errors(exc)}. {TOKEN_FIX}") from exc
        except vault_errors.InvalidRequest as exc:
            raise BackendUnavailable(
                f"Vault at {where} rejected the {action}: {_errors(exc)}. Check that OPERATORFLOW_VAULT_MOUNT names "
                "a KV version 2 secrets engine."
            ) from exc
        except vault_errors.VaultError as exc:
            raise BackendUnavailable(
                f"Vault at {where} failed to {action}: {type(exc).__name__}: {_errors(exc)}. Try again later, or ask "
                "the Vault administrator."
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise BackendUnavailable(
                f"Vault at {self.url} cannot be reached to {action} {self.mount}/{path}: {type(exc).__name__}. "
                "Check OPERATORFLOW_VAULT_URL (or VAULT_ADDR) and that the server is running."
            ) from exc


def parse_vault_time(text: str) -> dt.datetime:
    """Parse Vault's RFC 3339 time, which has up to 9 fractional digits, to an aware UTC datetime."""
    trimmed = _FRACTION.sub(lambda match: "." + match.group(1)[:6], text.replace("Z", "+00:00"), count=1)
    return dt.datetime.fromisoformat(trimmed).astimezone(dt.timezone.utc)


def _errors(exc: vault_errors.VaultError) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        return "; ".join(str(error) for error in errors)
    return str(exc) or "no details"
