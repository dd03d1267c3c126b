"""Permission checks on credentials, and the lookup that engines and services use."""

from __future__ import annotations

import functools
import logging
import os
from typing import Callable

import sqlalchemy as sa

from operatorflow.credentials.base import (
    SHARED_SCOPE,
    CredentialInfo,
    CredentialStore,
    check_name,
    check_value,
    user_scope,
)
from operatorflow.errors import InvalidInput, NotFound, PermissionDenied
from operatorflow.registry import RunRegistry
from operatorflow.registry.schema import users
from operatorflow.settings import Settings, load_settings

logger = logging.getLogger(__name__)

BACKENDS = ("database", "vault")


class CredentialService:
    """Credentials as users see them: their own, and the shared ones that only administrators change.

    Permissions are checked here, so the page and the command line cannot skip them.
    """

    def __init__(self, store: CredentialStore, is_admin: Callable[[str], bool]) -> None:
        self.store = store
        self._is_admin = is_admin

    def is_admin(self, user: str) -> bool:
        return bool(self._is_admin(user))

    def list_credentials(self, user: str, shared: bool = False) -> list[CredentialInfo]:
        """Return the user's own credentials, or with `shared` the shared ones (administrators only)."""
        return self.store.list_credentials(self._scope(user, shared, "list"))

    def set_credential(self, user: str, name: str, value: str, shared: bool = False) -> None:
        """Store or replace one credential of the user, or with `shared` one for everyone (administrators only)."""
        scope = self._scope(user, shared, "change")
        check_value(check_name(name), value)
        self.store.put_credential(scope, name, value, updated_by=user)

    def delete_credential(self, user: str, name: str, shared: bool = False) -> None:
        scope = self._scope(user, shared, "delete")
        if not self.store.delete_credential(scope, check_name(name)):
            where = "shared credentials" if shared else "your credentials"
            raise NotFound(f"There is no credential {name} in {where}; `operatorflow credentials list` shows them.")

    def resolve_credential(self, user: str | None, name: str) -> str | None:
        """Return the user's own value, else the shared one, else None. With `user` None, only the shared one."""
        name = check_name(name)
        if user is not None:
            own = self.store.get_credential(user_scope(user), name)
            if own is not None:
                return own
        return self.store.get_credential(SHARED_SCOPE, name)

    def reencrypt_credentials(self, user: str) -> int:
        """Encrypt every value that an old key encrypted with the current key (administrators only)."""
        from operatorflow.credentials.database import DatabaseCredentialStore

        self._scope(user, True, "re-encrypt")
        if not isinstance(self.store, DatabaseCredentialStore):
            raise InvalidInput(
                f"Re-encryption applies to the database store only, and OPERATORFLOW_CREDENTIALS_BACKEND is "
                f"{self.store.backend}: Vault encrypts its secrets itself."
            )
        return self.store.reencrypt_credentials()

    def _scope(self, user: str, shared: bool, action: str) -> str:
        scope = user_scope(user)
        if not shared:
            return scope
        if not self.is_admin(user):
            logger.warning("credentials denied %s the %s of shared credentials: not an administrator", user, action)
            raise PermissionDenied(
                f"Only administrators may {action} shared credentials, and {user} is not one: ask an administrator, "
                "or store the credential as your own."
            )
        return SHARED_SCOPE


def build_credential_store(settings: Settings, registry: RunRegistry) -> CredentialStore:
    """Build the store that OPERATORFLOW_CREDENTIALS_BACKEND chooses; the database one shares the registry."""
    if settings.credentials_backend == "database":
        from operatorflow.credentials.database import DatabaseCredentialStore

        return DatabaseCredentialStore(registry, key=settings.credentials_key, old_keys=settings.credentials_old_keys,
                                       home=settings.home)
    if settings.credentials_backend == "vault":
        from operatorflow.credentials.vault import VaultCredentialStore

        return VaultCredentialStore(
            settings.vault_url or os.environ.get("VAULT_ADDR", ""),
            settings.vault_token or os.environ.get("VAULT_TOKEN", ""),
            mount=settings.vault_mount,
            path_prefix=settings.vault_path_prefix,
            ca_cert=settings.vault_ca_cert,
        )
    raise InvalidInput(
        f"Invalid OPERATORFLOW_CREDENTIALS_BACKEND {settings.credentials_backend!r}: use {' or '.join(BACKENDS)}."
    )


def registry_is_admin(registry: RunRegistry) -> Callable[[str], bool]:
    """Return a check of the `users` table's is_admin flag; a user without a row is no administrator."""

    def is_admin(user: str) -> bool:
        with registry.begin() as conn:
            flag = conn.execute(sa.select(users.c.is_admin).where(users.c.name == user)).scalar_one_or_none()
        return bool(flag)

    return is_admin


def build_credential_service(settings: Settings, registry: RunRegistry) -> CredentialService:
    return CredentialService(build_credential_store(settings, registry), registry_is_admin(registry))


def resolve_credential(user: str | None, name: str, settings: Settings | None = None) -> str | None:
    """Return the user's own credential `name`, else the shared one, else None.

    For code that has settings but no service, such as engines and mail senders. With `user`
    None only the shared credential counts. The store is built once per settings and process.
    """
    return _cached_service(settings or load_settings()).resolve_credential(user, name)


_cached_registries: list[RunRegistry] = []


@functools.lru_cache(maxsize=8)
def _cached_service(settings: Settings) -> CredentialService:
    registry = RunRegistry(settings.resolved_database_url)
    _cached_registries.append(registry)
    return build_credential_service(settings, registry)


def clear_cached_services() -> None:
    """Forget the stores that resolve_credential built and close their databases (for tests)."""
    _cached_service.cache_clear()
    while _cached_registries:
        _cached_registries.pop().dispose()
