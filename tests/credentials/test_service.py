"""Permissions on credentials and the lookup order: the user's own, then the shared one."""

from __future__ import annotations

import pytest

from operatorflow.credentials import SHARED_SCOPE, CredentialService, user_scope
from operatorflow.credentials.database import DatabaseCredentialStore
from operatorflow.credentials.keys import generate_key
from operatorflow.credentials.service import registry_is_admin
from operatorflow.errors import NotFound, PermissionDenied
from tests.credentials.conftest import add_user


@pytest.fixture
def credential_service(credentials_registry, tmp_path):
    add_user(credentials_registry, "root", is_admin=True)
    add_user(credentials_registry, "ada")
    store = DatabaseCredentialStore(credentials_registry, key=generate_key(), home=tmp_path)
    return CredentialService(store, registry_is_admin(credentials_registry))


def test_admin_check_reads_users_table(credential_service):
    assert credential_service.is_admin("root") is True
    assert credential_service.is_admin("ada") is False
    assert credential_service.is_admin("nobody") is False


def test_non_admin_cannot_set_shared(credential_service):
    with pytest.raises(PermissionDenied) as caught:
        credential_service.set_credential("ada", "smtp-password", "password-000000001", shared=True)

    assert str(caught.value) == (
        "Only administrators may change shared credentials, and ada is not one: ask an administrator, "
        "or store the credential as your own."
    )
    assert credential_service.store.get_credential(SHARED_SCOPE, "smtp-password") is None


def test_non_admin_cannot_list_or_delete_shared(credential_service):
    credential_service.set_credential("root", "smtp-password", "password-000000001", shared=True)

    with pytest.raises(PermissionDenied):
        credential_service.list_credentials("ada", shared=True)
    with pytest.raises(PermissionDenied):
        credential_service.delete_credential("ada", "smtp-password", shared=True)
    assert credential_service.store.get_credential(SHARED_SCOPE, "smtp-password") == "password-000000001"


def test_admin_sets_and_deletes_shared(credential_service):
    credential_service.set_credential("root", "databricks-token", "dapi-shared-00000001", shared=True)

    [info] = credential_service.list_credentials("root", shared=True)
    assert (info.scope, info.name, info.preview, info.updated_by) == (SHARED_SCOPE, "databricks-token", "••••0001",
                                                                      "root")
    credential_service.delete_credential("root", "databricks-token", shared=True)
    assert credential_service.list_credentials("root", shared=True) == []


def test_resolve_prefers_own_then_shared(credential_service):
    credential_service.set_credential("root", "kubeflow-token", "shared-token-000001", shared=True)
    credential_service.set_credential("ada", "kubeflow-token", "ada-own-token-00001")

    assert credential_service.resolve_credential("ada", "kubeflow-token") == "ada-own-token-00001"
    assert credential_service.resolve_credential("bob", "kubeflow-token") == "shared-token-000001"
    assert credential_service.resolve_credential(None, "kubeflow-token") == "shared-token-000001"
    assert credential_service.resolve_credential("ada", "smtp-password") is None


def test_delete_missing_raises_not_found(credential_service):
    with pytest.raises(NotFound) as caught:
        credential_service.delete_credential("ada", "registry-password")

    assert str(caught.value) == (
        "There is no credential registry-password in your credentials; `operatorflow credentials list` shows them."
    )


def test_own_credentials_invisible_to_others(credential_service):
    credential_service.set_credential("ada", "registry-password", "ada-password-000001")

    assert credential_service.list_credentials("bob") == []
    assert credential_service.store.get_credential(user_scope("bob"), "registry-password") is None
