"""Credential settings: the backend choice, Vault from the environment, and secrets kept out of repr."""

from __future__ import annotations

import pytest

from operatorflow.credentials import build_credential_store
from operatorflow.credentials.database import DatabaseCredentialStore
from operatorflow.credentials.keys import generate_key
from operatorflow.credentials.vault import VaultCredentialStore
from operatorflow.errors import InvalidInput
from operatorflow.factory import build_service
from operatorflow.settings import load_settings
from tests.vault_fake import TOKEN


def test_settings_repr_hides_keys_and_token(tmp_path):
    key, old_key = generate_key(), generate_key()

    settings = load_settings(home=tmp_path, credentials_key=key, credentials_old_keys=old_key,
                             vault_token="vault-token-0123456789")

    assert key not in repr(settings)
    assert old_key not in repr(settings)
    assert "vault-token-0123456789" not in repr(settings)


def test_default_backend_is_database(settings, credentials_registry):
    assert isinstance(build_credential_store(settings, credentials_registry), DatabaseCredentialStore)


def test_unknown_backend_raises(settings, credentials_registry):
    with pytest.raises(InvalidInput) as caught:
        build_credential_store(load_settings(home=settings.home, credentials_backend="file"), credentials_registry)

    assert str(caught.value) == "Invalid OPERATORFLOW_CREDENTIALS_BACKEND 'file': use database or vault."


def test_vault_backend_reads_vault_environment(settings, fake_vault, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_CREDENTIALS_BACKEND", "vault")
    monkeypatch.setenv("OPERATORFLOW_HOME", str(settings.home))
    monkeypatch.setenv("VAULT_ADDR", fake_vault.url)
    monkeypatch.setenv("VAULT_TOKEN", TOKEN)
    service = build_service(load_settings())

    service.credentials.set_credential("ada", "kubeflow-token", "ada-token-000000001")

    assert isinstance(service.credentials.store, VaultCredentialStore)
    assert "operatorflow/users/ada/kubeflow-token" in fake_vault.mounts["secret"]
    assert service.credentials.resolve_credential("ada", "kubeflow-token") == "ada-token-000000001"
    service.registry.dispose()
