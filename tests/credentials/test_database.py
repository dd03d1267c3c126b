"""The database store's encryption: the generated key file, wrong keys, moved ciphertexts and key rotation."""

from __future__ import annotations

import logging
import stat

import pytest
import sqlalchemy as sa

from operatorflow.credentials import SHARED_SCOPE, user_scope
from operatorflow.credentials.database import DatabaseCredentialStore
from operatorflow.credentials.keys import generate_key, key_id, parse_key
from operatorflow.errors import InvalidInput
from operatorflow.registry.schema import credentials

SECRET = "dapi-0123456789abcdef-XYZW"


def stored_row(registry, scope, name):
    with registry.begin() as conn:
        return conn.execute(
            sa.select(credentials).where(credentials.c.scope == scope, credentials.c.name == name)
        ).one()


def test_key_file_generated_on_first_put(credentials_registry, tmp_path, caplog):
    home = tmp_path / "home"
    store = DatabaseCredentialStore(credentials_registry, home=home)
    caplog.set_level(logging.INFO)

    store.put_credential(SHARED_SCOPE, "smtp-password", SECRET, updated_by="root")

    key_file = home / "credentials.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = parse_key(key_file.read_text(), "key file")
    assert stored_row(credentials_registry, SHARED_SCOPE, "smtp-password").key_id == key_id(key)
    assert f"credentials generated a new key in {key_file}" in caplog.text


def test_key_file_not_created_by_reads(credentials_registry, tmp_path):
    home = tmp_path / "home"
    store = DatabaseCredentialStore(credentials_registry, home=home)

    assert store.get_credential(SHARED_SCOPE, "smtp-password") is None
    assert store.list_credentials(SHARED_SCOPE) == []
    assert not (home / "credentials.key").exists()


def test_ciphertext_hides_value(credentials_registry, tmp_path):
    store = DatabaseCredentialStore(credentials_registry, key=generate_key(), home=tmp_path)

    store.put_credential(SHARED_SCOPE, "smtp-password", SECRET, updated_by="root")

    row = stored_row(credentials_registry, SHARED_SCOPE, "smtp-password")
    assert SECRET not in row.ciphertext
    assert row.ciphertext.startswith("aesgcm1:")


def test_wrong_key_raises_naming_setting(credentials_registry, tmp_path):
    first, second = generate_key(), generate_key()
    DatabaseCredentialStore(credentials_registry, key=first, home=tmp_path).put_credential(
        SHARED_SCOPE, "smtp-password", SECRET, updated_by="root")
    store = DatabaseCredentialStore(credentials_registry, key=second, home=tmp_path)

    with pytest.raises(InvalidInput) as caught:
        store.get_credential(SHARED_SCOPE, "smtp-password")

    first_id, second_id = key_id(parse_key(first, "")), key_id(parse_key(second, ""))
    assert str(caught.value) == (
        f"Credential smtp-password in scope shared cannot be read: it was encrypted with key {first_id}, but the "
        f"configured key (OPERATORFLOW_CREDENTIALS_KEY) is key {second_id}. Set OPERATORFLOW_CREDENTIALS_KEY to "
        "the key that encrypted it (or add that key to OPERATORFLOW_CREDENTIALS_OLD_KEYS), or store the "
        "credential again."
    )
    assert first not in str(caught.value)
    assert second not in str(caught.value)


def test_missing_key_file_raises(credentials_registry, tmp_path):
    home = tmp_path / "home"
    DatabaseCredentialStore(credentials_registry, home=home).put_credential(
        SHARED_SCOPE, "smtp-password", SECRET, updated_by="root")
    stored_id = stored_row(credentials_registry, SHARED_SCOPE, "smtp-password").key_id
    (home / "credentials.key").unlink()
    store = DatabaseCredentialStore(credentials_registry, home=home)

    with pytest.raises(InvalidInput) as caught:
        store.list_credentials(SHARED_SCOPE)

    assert str(caught.value) == (
        f"Credential smtp-password in scope shared cannot be read: it was encrypted with key {stored_id}, and "
        f"neither OPERATORFLOW_CREDENTIALS_KEY is set nor the key file {home / 'credentials.key'} exists. Restore "
        "the key file or set OPERATORFLOW_CREDENTIALS_KEY to that key, or store the credential again."
    )


def test_ciphertext_moved_to_other_row_raises(credentials_registry, tmp_path):
    store = DatabaseCredentialStore(credentials_registry, key=generate_key(), home=tmp_path)
    store.put_credential(user_scope("ada"), "databricks-token", SECRET, updated_by="ada")
    store.put_credential(user_scope("bob"), "databricks-token", "bob-own-token-000000", updated_by="bob")
    ada = stored_row(credentials_registry, user_scope("ada"), "databricks-token")
    with credentials_registry.begin() as conn:
        conn.execute(credentials.update().where(credentials.c.scope == user_scope("bob"))
                     .values(ciphertext=ada.ciphertext))

    with pytest.raises(InvalidInput) as caught:
        store.get_credential(user_scope("bob"), "databricks-token")

    assert str(caught.value) == (
        f"Credential databricks-token in scope user:bob cannot be decrypted although its key {ada.key_id} is "
        "configured: the stored value was changed or copied from another credential. Store it again."
    )


def test_invalid_key_setting_raises(credentials_registry, tmp_path):
    store = DatabaseCredentialStore(credentials_registry, key="not-a-key", home=tmp_path)

    with pytest.raises(InvalidInput) as caught:
        store.put_credential(SHARED_SCOPE, "smtp-password", SECRET, updated_by="root")

    assert str(caught.value) == (
        "OPERATORFLOW_CREDENTIALS_KEY is not a valid credentials key: expected 32 bytes in URL-safe base64 "
        "(44 characters). Create one with `operatorflow credentials generate-key`."
    )


def test_old_key_reads_and_reencrypt_moves_to_new(credentials_registry, tmp_path):
    old, new = generate_key(), generate_key()
    DatabaseCredentialStore(credentials_registry, key=old, home=tmp_path).put_credential(
        SHARED_SCOPE, "smtp-password", SECRET, updated_by="root")
    before = stored_row(credentials_registry, SHARED_SCOPE, "smtp-password")
    rotated = DatabaseCredentialStore(credentials_registry, key=new, old_keys=f" {old} ,", home=tmp_path)

    assert rotated.get_credential(SHARED_SCOPE, "smtp-password") == SECRET
    assert rotated.reencrypt_credentials() == 1
    assert rotated.reencrypt_credentials() == 0

    after = stored_row(credentials_registry, SHARED_SCOPE, "smtp-password")
    assert after.key_id == key_id(parse_key(new, ""))
    assert (after.updated_at, after.updated_by) == (before.updated_at, before.updated_by)
    only_new = DatabaseCredentialStore(credentials_registry, key=new, home=tmp_path)
    assert only_new.get_credential(SHARED_SCOPE, "smtp-password") == SECRET


def test_store_repr_hides_key(credentials_registry, tmp_path):
    key = generate_key()
    store = DatabaseCredentialStore(credentials_registry, key=key, home=tmp_path)

    assert key not in repr(store)
