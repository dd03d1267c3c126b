"""The Databricks engine's token from the credentials store, between the setting and DATABRICKS_TOKEN."""

from __future__ import annotations

import dataclasses

import pytest

from operatorflow.clock import FakeClock
from operatorflow.credentials import DATABRICKS_TOKEN, SHARED_SCOPE, user_scope
from operatorflow.credentials.service import clear_cached_services
from operatorflow.engines.databricks import DatabricksEngine, make_databricks_config
from operatorflow.factory import build_service
from tests.databricks_fake import TOKEN, FakeSdkClock, FakeWorkspace


@pytest.fixture
def fake():
    workspace = FakeWorkspace()
    workspace.host = workspace.start()
    yield workspace
    workspace.stop()


@pytest.fixture
def no_token_settings(settings, fake):
    clear_cached_services()
    yield dataclasses.replace(settings, databricks_host=fake.host, databricks_token="")
    clear_cached_services()


@pytest.fixture
def store(no_token_settings):
    service = build_service(no_token_settings)
    yield service.credentials.store
    service.registry.dispose()


def make_engine(settings) -> DatabricksEngine:
    config = make_databricks_config(settings, retry_timeout_seconds=60, clock=FakeSdkClock())
    return DatabricksEngine(settings, config=config, clock=FakeClock())


def test_stored_shared_token_used(no_token_settings, store):
    store.put_credential(SHARED_SCOPE, DATABRICKS_TOKEN, TOKEN, updated_by="root")

    engine = make_engine(no_token_settings)

    assert engine.list_clusters() == []


def test_stored_token_before_environment(no_token_settings, store, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", "expired")
    store.put_credential(SHARED_SCOPE, DATABRICKS_TOKEN, TOKEN, updated_by="root")

    config = make_databricks_config(no_token_settings, retry_timeout_seconds=60, clock=FakeSdkClock())

    assert config.token == TOKEN


def test_setting_before_stored_token(no_token_settings, store):
    store.put_credential(SHARED_SCOPE, DATABRICKS_TOKEN, "stored-token-0000001", updated_by="root")
    settings = dataclasses.replace(no_token_settings, databricks_token=TOKEN)

    config = make_databricks_config(settings, retry_timeout_seconds=60, clock=FakeSdkClock())

    assert config.token == TOKEN


def test_environment_used_without_stored_token(no_token_settings, store, monkeypatch):
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    store.put_credential(user_scope("ada"), DATABRICKS_TOKEN, "ada-own-token-000001", updated_by="ada")

    config = make_databricks_config(no_token_settings, retry_timeout_seconds=60, clock=FakeSdkClock())

    assert config.token == TOKEN
