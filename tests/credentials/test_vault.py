"""The Vault store against the fake KV version 2 server: paths, versions, and errors translated in one place."""

from __future__ import annotations

import socket

import pytest

from operatorflow.credentials import SHARED_SCOPE, user_scope
from operatorflow.credentials.vault import VaultCredentialStore, parse_vault_time
from operatorflow.errors import BackendUnavailable, InvalidInput
from tests.vault_fake import TOKEN


def test_secret_paths_and_versions(fake_vault):
    store = VaultCredentialStore(fake_vault.url, TOKEN, mount="secret", path_prefix="team/operatorflow")

    store.put_credential(user_scope("ada"), "kubeflow-token", "first-token-000001", updated_by="ada")
    store.put_credential(user_scope("ada"), "kubeflow-token", "second-token-00002", updated_by="ada")

    secret = fake_vault.mounts["secret"]["team/operatorflow/users/ada/kubeflow-token"]
    assert secret.current_version == 2
    assert secret.versions[1].data == {"value": "first-token-000001", "updated_by": "ada"}
    assert store.get_credential(user_scope("ada"), "kubeflow-token") == "second-token-00002"


def test_delete_removes_every_version(fake_vault):
    store = VaultCredentialStore(fake_vault.url, TOKEN)
    store.put_credential(SHARED_SCOPE, "smtp-password", "first-password-0001", updated_by="root")
    store.put_credential(SHARED_SCOPE, "smtp-password", "second-password-002", updated_by="root")

    assert store.delete_credential(SHARED_SCOPE, "smtp-password") is True

    assert "operatorflow/shared/smtp-password" not in fake_vault.mounts["secret"]
    assert ("DELETE", "/v1/secret/metadata/operatorflow/shared/smtp-password") in fake_vault.requests


def test_list_skips_folders(fake_vault):
    store = VaultCredentialStore(fake_vault.url, TOKEN, path_prefix="")
    store.put_credential(user_scope("ada"), "kubeflow-token", "ada-token-00000001", updated_by="ada")
    store.put_credential(user_scope("ada.lovelace"), "kubeflow-token", "other-token-000002", updated_by="x")

    assert [i.name for i in store.list_credentials(user_scope("ada"))] == ["kubeflow-token"]


def test_wrong_token_raises_backend_unavailable(fake_vault):
    store = VaultCredentialStore(fake_vault.url, "wrong-token")

    with pytest.raises(BackendUnavailable) as caught:
        store.get_credential(SHARED_SCOPE, "smtp-password")

    assert str(caught.value) == (
        f"Vault at {fake_vault.url} (secret/operatorflow/shared/smtp-password) denied the read: permission denied. "
        "Set OPERATORFLOW_VAULT_TOKEN or VAULT_TOKEN to a token whose policy may read, write, list and delete there."
    )


def test_unknown_mount_raises_backend_unavailable(fake_vault):
    store = VaultCredentialStore(fake_vault.url, TOKEN, mount="kv")

    with pytest.raises(BackendUnavailable) as caught:
        store.put_credential(SHARED_SCOPE, "smtp-password", "password-000000001", updated_by="root")

    assert str(caught.value).startswith(
        f"Vault at {fake_vault.url} (kv/operatorflow/shared/smtp-password) failed to write: InvalidPath: "
        "no handler for route"
    )
    assert "password-000000001" not in str(caught.value)


def test_unreachable_server_raises_backend_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = VaultCredentialStore(f"http://127.0.0.1:{port}", TOKEN)

    with pytest.raises(BackendUnavailable) as caught:
        store.list_credentials(SHARED_SCOPE)

    assert str(caught.value) == (
        f"Vault at http://127.0.0.1:{port} cannot be reached to list secret/operatorflow/shared: ConnectionError. "
        "Check OPERATORFLOW_VAULT_URL (or VAULT_ADDR) and that the server is running."
    )


def test_missing_address_raises():
    with pytest.raises(InvalidInput) as caught:
        VaultCredentialStore("", TOKEN)

    assert str(caught.value) == (
        "Vault is chosen for credentials but has no address: set OPERATORFLOW_VAULT_URL or VAULT_ADDR, "
        "for example https://vault.example.com:8200."
    )


def test_missing_token_raises(fake_vault):
    with pytest.raises(InvalidInput) as caught:
        VaultCredentialStore(fake_vault.url, "")

    assert str(caught.value) == (
        f"Vault at {fake_vault.url} has no token. Set OPERATORFLOW_VAULT_TOKEN or VAULT_TOKEN to a token whose "
        "policy may read, write, list and delete there."
    )


def test_vault_time_with_nanoseconds_parsed():
    parsed = parse_vault_time("2018-03-22T02:24:06.945319214Z")

    assert parsed.isoformat() == "2018-03-22T02:24:06.945319+00:00"
