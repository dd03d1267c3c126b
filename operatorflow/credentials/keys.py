"""Keys of the database credential store: AES-256-GCM with the scope and name as associated data."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from operatorflow.errors import InvalidInput

logger = logging.getLogger(__name__)

KEY_SETTING = "OPERATORFLOW_CREDENTIALS_KEY"
OLD_KEYS_SETTING = "OPERATORFLOW_CREDENTIALS_OLD_KEYS"
KEY_FILE = "credentials.key"
KEY_BYTES = 32
NONCE_BYTES = 12
CIPHERTEXT_PREFIX = "aesgcm1:"
"""Marker of the ciphertext format, so that a later format can be recognized."""
_KEY_ID_CONTEXT = b"operatorflow credentials key id\x00"


def generate_key() -> str:
    """Return a new random key in the form the settings take (URL-safe base64 of 32 bytes)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """Return the fingerprint stored next to each ciphertext; it identifies the key without revealing it."""
    return hashlib.sha256(_KEY_ID_CONTEXT + key).hexdigest()[:16]


class DecryptionFailed(Exception):
    """Raised by Keyring.decrypt; the store turns it into InvalidInput naming the credential."""


class Keyring:
    """The current key, which encrypts, and earlier keys, which only decrypt, by fingerprint."""

    def __init__(self, current: bytes | None, old: list[bytes] | None = None, source: str = KEY_SETTING) -> None:
        self.current_id = key_id(current) if current is not None else None
        self.source = source
        """Where the current key came from, for error messages: the setting or the key file's path."""
        self._ciphers = {key_id(key): AESGCM(key) for key in (old or [])}
        if current is not None:
            self._ciphers[key_id(current)] = AESGCM(current)

    def __repr__(self) -> str:
        return f"Keyring(current_id={self.current_id!r}, key_ids={sorted(self._ciphers)!r})"

    def knows(self, stored_key_id: str) -> bool:
        return stored_key_id in self._ciphers

    def encrypt(self, plaintext: str, associated_data: bytes) -> tuple[str, str]:
        """Return (ciphertext text, key id) under the current key."""
        if self.current_id is None:
            raise ValueError("the keyring has no current key to encrypt with")
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current_id].encrypt(nonce, plaintext.encode("utf-8"), associated_data)
        return CIPHERTEXT_PREFIX + base64.b64encode(nonce + sealed).decode("ascii"), self.current_id

    def decrypt(self, ciphertext: str, stored_key_id: str, associated_data: bytes) -> str:
        cipher = self._ciphers.get(stored_key_id)
        if cipher is None:
            raise DecryptionFailed("unknown key")
        if not ciphertext.startswith(CIPHERTEXT_PREFIX):
            raise DecryptionFailed("unknown format")
        try:
            raw = base64.b64decode(ciphertext[len(CIPHERTEXT_PREFIX):], validate=True)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionFailed("authentication failed") from exc


def parse_key(text: str, source: str) -> bytes:
    """Decode a key given as URL-safe base64; the error names where it came from, never the key."""
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise InvalidInput(
            f"{source} is not a valid credentials key: expected {KEY_BYTES} bytes in URL-safe base64 "
            "(44 characters). Create one with `operatorflow credentials generate-key`."
        )
    return key


def load_keyring(configured_key: str, old_keys: str, home: Path, create: bool) -> Keyring:
    """Build the keyring from the settings, else from `home/credentials.key`.

    With no key configured, the key file is read, or created (mode 0600) when `create` is true.
    When it is missing and `create` is false, the keyring has no current key, so it reads nothing.
    """
    old = [parse_key(part, f"An entry of {OLD_KEYS_SETTING}") for part in old_keys.split(",") if part.strip()]
    if configured_key:
        return Keyring(parse_key(configured_key, KEY_SETTING), old, KEY_SETTING)

    path = home / KEY_FILE
    if not path.is_file():
        if not create:
            return Keyring(None, old, str(path))
        _create_key_file(path)
    mode = path.stat().st_mode & 0o077
    if mode:
        logger.warning("credentials key file %s is readable by other users: run `chmod 600 %s`", path, path)
    return Keyring(parse_key(path.read_text(encoding="ascii"), f"The key file {path}"), old, str(path))


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file first, then linked into place: os.link fails when the
    # file exists, so when two processes start at once both end up with the first one's key.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(generate_key() + "\n")
        os.link(temporary, path)
    except FileExistsError:
        return
    finally:
        os.unlink(temporary)
    logger.info("credentials generated a new key in %s; back it up, because stored credentials cannot be read "
                "without it (or set %s)", path, KEY_SETTING)
