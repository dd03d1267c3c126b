"""Fixtures shared by the whole suite: isolated settings, a service, a registry on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

# No test may reach a cloud service: fake credentials, and no instance-metadata lookups.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
for _name in [n for n in os.environ if n.startswith("OPERATORFLOW_")]:
    del os.environ[_name]
# A developer's own Databricks variables or ~/.databrickscfg must not enable the engine in tests.
for _name in [n for n in os.environ if n.startswith("DATABRICKS_")]:
    del os.environ[_name]
os.environ["DATABRICKS_CONFIG_FILE"] = os.path.join(os.path.dirname(__file__), "no-such-databrickscfg")

from operatorflow.clock import FakeClock  # noqa: E402
from operatorflow.factory import build_service  # noqa: E402
from operatorflow.registry import RunRegistry  # noqa: E402
from operatorflow.settings import load_settings  # noqa: E402

POSTGRES_URL = os.environ.get("OPERATORFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path / "home", worker="none", poll_seconds=0.05)


@pytest.fixture
def service(settings):
    service = build_service(settings)
    yield service
    service.registry.dispose()


def _postgres_schema_url():
    """Create a schema of its own in the test database, so runs never see each other's rows."""
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable ({exc.orig}); `./test.sh` starts it.")
    separator = "&" if "?" in POSTGRES_URL else "?"
    return admin, schema, f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    admin, schema, url = _postgres_schema_url()
    yield url
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def registry(database_url, clock):
    registry = RunRegistry(database_url, clock)
    yield registry
    registry.dispose()
