"""Credential stores for the contract suite: the database store on SQLite and PostgreSQL, and Vault through a fake server."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from operatorflow.credentials.database import DatabaseCredentialStore
from operatorflow.credentials.vault import VaultCredentialStore
from operatorflow.registry import RunRegistry
from operatorflow.registry.schema import users
from tests.conftest import _postgres_schema_url
from tests.vault_fake import TOKEN, FakeVault


@pytest.fixture
def fake_vault():
    vault = FakeVault()
    url = vault.start()
    vault.url = url
    yield vault
    vault.stop()


@pytest.fixture
def credentials_registry(tmp_path, clock):
    registry = RunRegistry(f"sqlite:///{tmp_path / 'registry.db'}", clock)
    yield registry
    registry.dispose()


@pytest.fixture(params=["database-sqlite", pytest.param("database-postgresql", marks=pytest.mark.postgres), "vault"])
def store(request, tmp_path, clock):
    """Each implementation of CredentialStore, empty."""
    if request.param == "vault":
        vault = request.getfixturevalue("fake_vault")
        yield VaultCredentialStore(vault.url, TOKEN, mount="secret", path_prefix="operatorflow")
        return

    if request.param == "database-sqlite":
        registry = RunRegistry(f"sqlite:///{tmp_path / 'registry.db'}", clock)
        yield DatabaseCredentialStore(registry, home=tmp_path / "home")
        registry.dispose()
        return

    admin, schema, url = _postgres_schema_url()
    registry = RunRegistry(url, clock)
    yield DatabaseCredentialStore(registry, home=tmp_path / "home")
    registry.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def add_user(registry: RunRegistry, name: str, is_admin: bool = False) -> None:
    """Insert an account row as the accounts store does, or set the role of an account that exists."""
    now = dt.datetime.now(dt.timezone.utc)
    with registry.begin() as conn:
        updated = conn.execute(users.update().where(users.c.name == name).values(is_admin=is_admin, updated_at=now))
        if updated.rowcount == 0:
            conn.execute(users.insert().values(name=name, source="local", is_admin=is_admin, disabled=False,
                                               created_at=now, updated_at=now, failed_sign_ins=0))
