"""Credentials encrypted in the registry database's `credentials` table."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import sqlalchemy as sa

from operatorflow.credentials.base import CredentialInfo, CredentialStore, check_name, check_scope, check_value, mask
from operatorflow.credentials.keys import KEY_SETTING, OLD_KEYS_SETTING, DecryptionFailed, Keyring, load_keyring
from operatorflow.errors import InvalidInput
from operatorflow.registry import RunRegistry
from operatorflow.registry.schema import credentials

logger = logging.getLogger(__name__)


class DatabaseCredentialStore(CredentialStore):
    """AES-256-GCM ciphertexts in the registry database; the key stays outside it.

    The scope and name are the associated data of each ciphertext, so a ciphertext copied to
    another row fails to decrypt instead of handing one user's secret to another.
    """

    backend = "database"

    def __init__(self, registry: RunRegistry, *, key: str = "", old_keys: str = "", home: Path) -> None:
        self._registry = registry
        self._key = key
        self._old_keys = old_keys
        self._home = home
        self._keyring: Keyring | None = None
        self._keyring_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DatabaseCredentialStore(registry={self._registry.url!r})"

    def put_credential(self, scope: str, name: str, value: str, updated_by: str) -> None:
        scope, name = check_scope(scope), check_name(name)
        check_value(name, value)
        ciphertext, key_id = self._get_keyring(create=True).encrypt(value, _associated_data(scope, name))
        row = {"ciphertext": ciphertext, "key_id": key_id, "updated_at": self._registry.clock.now(),
               "updated_by": updated_by}

        replace = (credentials.update()
                   .where(credentials.c.scope == scope, credentials.c.name == name)
                   .values(**row))
        try:
            with self._registry.begin() as conn:
                if not conn.execute(replace).rowcount:
                    conn.execute(credentials.insert().values(scope=scope, name=name, **row))
        except sa.exc.IntegrityError:
            # Another process inserted the same credential between the update and the insert.
            with self._registry.begin() as conn:
                conn.execute(replace)
        logger.info("credentials stored %s in scope %s (key %s, by %s)", name, scope, key_id, updated_by)

    def get_credential(self, scope: str, name: str) -> str | None:
        scope, name = check_scope(scope), check_name(name)
        with self._registry.begin() as conn:
            row = conn.execute(
                sa.select(credentials.c.ciphertext, credentials.c.key_id)
                .where(credentials.c.scope == scope, credentials.c.name == name)
            ).first()
        if row is None:
            return None
        return self._decrypt(scope, name, row.ciphertext, row.key_id)

    def delete_credential(self, scope: str, name: str) -> bool:
        scope, name = check_scope(scope), check_name(name)
        with self._registry.begin() as conn:
            deleted = conn.execute(
                credentials.delete().where(credentials.c.scope == scope, credentials.c.name == name)
            ).rowcount
        if deleted:
            logger.info("credentials deleted %s in scope %s", name, scope)
        return bool(deleted)

    def list_credentials(self, scope: str) -> list[CredentialInfo]:
        scope = check_scope(scope)
        with self._registry.begin() as conn:
            rows = conn.execute(
                sa.select(credentials).where(credentials.c.scope == scope).order_by(credentials.c.name)
            ).all()
        return [
            CredentialInfo(scope, row.name, mask(self._decrypt(scope, row.name, row.ciphertext, row.key_id)),
                           row.updated_at, row.updated_by)
            for row in rows
        ]

    def reencrypt_credentials(self) -> int:
        """Encrypt every value that an old key encrypted with the current key; return how many changed.

        Update times stay as they are, because the values do not change.
        """
        keyring = self._get_keyring(create=True)
        with self._registry.begin() as conn:
            rows = conn.execute(
                sa.select(credentials).where(credentials.c.key_id != keyring.current_id)
            ).all()
        for row in rows:
            value = self._decrypt(row.scope, row.name, row.ciphertext, row.key_id)
            ciphertext, key_id = keyring.encrypt(value, _associated_data(row.scope, row.name))
            with self._registry.begin() as conn:
                conn.execute(
                    credentials.update()
                    .where(credentials.c.scope == row.scope, credentials.c.name == row.name,
                           credentials.c.key_id == row.key_id)
                    .values(ciphertext=ciphertext, key_id=key_id)
                )
        logger.info("credentials re-encrypted %d value(s) with key %s", len(rows), keyring.current_id)
        return len(rows)

    def _decrypt(self, scope: str, name: str, ciphertext: str, stored_key_id: str) -> str:
        keyring = self._get_keyring(create=False)
        if not keyring.knows(stored_key_id):
            if keyring.current_id is None:
                raise InvalidInput(
                    f"Credential {name} in scope {scope} cannot be read: it was encrypted with key {stored_key_id}, "
                    f"and neither {KEY_SETTING} is set nor the key file {keyring.source} exists. Restore the key "
                    f"file or set {KEY_SETTING} to that key, or store the credential again."
                )
            raise InvalidInput(
                f"Credential {name} in scope {scope} cannot be read: it was encrypted with key {stored_key_id}, but "
                f"the configured key ({keyring.source}) is key {keyring.current_id}. Set {KEY_SETTING} to the key "
                f"that encrypted it (or add that key to {OLD_KEYS_SETTING}), or store the credential again."
            )
        try:
            return keyring.decrypt(ciphertext, stored_key_id, _associated_data(scope, name))
        except DecryptionFailed as exc:
            raise InvalidInput(
                f"Credential {name} in scope {scope} cannot be decrypted although its key {stored_key_id} is "
                "configured: the stored value was changed or copied from another credential. Store it again."
            ) from exc

    def _get_keyring(self, create: bool) -> Keyring:
        with self._keyring_lock:
            if self._keyring is None or (create and self._keyring.current_id is None):
                keyring = load_keyring(self._key, self._old_keys, self._home, create)
                if keyring.current_id is None:
                    # The key file does not exist yet: look again at the next call rather than caching its absence.
                    return keyring
                self._keyring = keyring
            return self._keyring


def _associated_data(scope: str, name: str) -> bytes:
    return f"{scope}\n{name}".encode("utf-8")
