"""One contract for every CredentialStore: the encrypted database store and Vault."""

from __future__ import annotations

import logging

import pytest

from operatorflow.credentials import SHARED_SCOPE, user_scope
from operatorflow.errors import InvalidInput

SECRET = "dapi-0123456789abcdef-XYZW"


def test_put_then_get_returns_value(store):
    store.put_credential(user_scope("ada"), "databricks-token", SECRET, updated_by="ada")

    assert store.get_credential(user_scope("ada"), "databricks-token") == SECRET


def test_get_missing_returns_none(store):
    assert store.get_credential(user_scope("ada"), "databricks-token") is None


def test_put_replaces_value_and_updater(store, clock):
    store.put_credential(SHARED_SCOPE, "smtp-password", "first-password-1234", updated_by="root")
    clock.advance(60)

    store.put_credential(SHARED_SCOPE, "smtp-password", "second-password-5678", updated_by="grace")

    assert store.get_credential(SHARED_SCOPE, "smtp-password") == "second-password-5678"
    [info] = store.list_credentials(SHARED_SCOPE)
    assert info.updated_by == "grace"
    assert info.preview == "••••5678"


def test_scopes_are_separate(store):
    store.put_credential(user_scope("ada"), "kubeflow-token", "ada-token-000000001", updated_by="ada")
    store.put_credential(user_scope("bob"), "kubeflow-token", "bob-token-000000002", updated_by="bob")

    assert store.get_credential(user_scope("ada"), "kubeflow-token") == "ada-token-000000001"
    assert store.get_credential(user_scope("bob"), "kubeflow-token") == "bob-token-000000002"
    assert store.get_credential(SHARED_SCOPE, "kubeflow-token") is None
    assert [i.name for i in store.list_credentials(user_scope("bob"))] == ["kubeflow-token"]


def test_delete_removes_value(store):
    store.put_credential(user_scope("ada"), "registry-password", SECRET, updated_by="ada")

    assert store.delete_credential(user_scope("ada"), "registry-password") is True
    assert store.get_credential(user_scope("ada"), "registry-password") is None
    assert store.list_credentials(user_scope("ada")) == []
    assert store.delete_credential(user_scope("ada"), "registry-password") is False


def test_list_sorted_with_masked_previews(store):
    scope = user_scope("ada")
    store.put_credential(scope, "registry-username", "ada", updated_by="ada")
    store.put_credential(scope, "databricks-token", SECRET, updated_by="ada")

    infos = store.list_credentials(scope)

    assert [(i.name, i.preview, i.updated_by, i.scope) for i in infos] == [
        ("databricks-token", "••••XYZW", "ada", scope),
        ("registry-username", "••••", "ada", scope),
    ]
    assert all(i.updated_at.tzinfo is not None for i in infos)
    assert SECRET not in repr(infos)


def test_list_empty_scope(store):
    assert store.list_credentials(SHARED_SCOPE) == []


def test_unicode_value_round_trips(store):
    value = "pässwörd-✓-with spaces and \"quotes\""

    store.put_credential(SHARED_SCOPE, "smtp-password", value, updated_by="root")

    assert store.get_credential(SHARED_SCOPE, "smtp-password") == value


def test_invalid_name_raises(store):
    with pytest.raises(InvalidInput) as caught:
        store.put_credential(SHARED_SCOPE, "../etc", SECRET, updated_by="root")

    assert str(caught.value) == (
        "Invalid credential name '../etc': use lowercase letters, digits and hyphens (at most 63 characters), "
        "for example databricks-token."
    )


def test_empty_value_raises(store):
    with pytest.raises(InvalidInput) as caught:
        store.put_credential(SHARED_SCOPE, "smtp-password", "  ", updated_by="root")

    assert str(caught.value) == "The value of credential smtp-password is empty: enter the secret itself."
    assert store.get_credential(SHARED_SCOPE, "smtp-password") is None


def test_invalid_scope_raises(store):
    with pytest.raises(InvalidInput) as caught:
        store.get_credential("team:data", "smtp-password")

    assert str(caught.value) == "Invalid credential scope 'team:data': use 'shared' or 'user:<name>'."


def test_value_never_logged(store, caplog):
    caplog.set_level(logging.DEBUG)

    store.put_credential(user_scope("ada"), "databricks-token", SECRET, updated_by="ada")
    store.get_credential(user_scope("ada"), "databricks-token")
    store.list_credentials(user_scope("ada"))
    store.delete_credential(user_scope("ada"), "databricks-token")

    assert SECRET not in caplog.text
    assert "databricks-token" in caplog.text
