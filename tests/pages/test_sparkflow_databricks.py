"""SparkFlow page with a Databricks workspace configured: the workspace section and the engine choice."""

from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from operatorflow.factory import build_service
from operatorflow.status import RunStatus
from tests.databricks_fake import FakeWorkspace
from tests.pages.conftest import (
    HOME_SCRIPT, PASSWORD, RUN_TIMEOUT_SECONDS, USER, confirm_from_outbox, open_page, register, run, sign_in,
)

WORD_COUNT = "shakespeare-wordcount"


@pytest.fixture
def fake():
    workspace = FakeWorkspace()
    workspace.host = workspace.start()
    yield workspace
    workspace.stop()


@pytest.fixture
def databricks_app(app_env, fake, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_DATABRICKS_HOST", fake.host)
    monkeypatch.setenv("OPERATORFLOW_DATABRICKS_TOKEN", "fake")
    at = run(AppTest.from_file(str(HOME_SCRIPT), default_timeout=RUN_TIMEOUT_SECONDS))
    register(at, USER, PASSWORD)
    confirm_from_outbox(at, app_env)
    sign_in(at, USER, PASSWORD)
    return at


def frame_with_column(at, column: str):
    [frame] = [d.value for d in at.dataframe if column in d.value.columns]
    return frame


def test_workspace_section_lists_notebooks_and_clusters(databricks_app, fake):
    fake.put_notebook(f"/Shared/operatorflow/{WORD_COUNT}", "print(1)\n")
    fake.put_notebook("/Shared/operatorflow/etl", "print(2)\n")
    fake.add_cluster("0101-abc", "shared analytics", state="TERMINATED")

    open_page(databricks_app, "sparkflow")

    assert "Databricks workspace" in [h.value for h in databricks_app.subheader]
    notebooks = frame_with_column(databricks_app, "path").set_index("notebook")
    assert notebooks.loc["etl", "status"] == "AVAILABLE"
    assert notebooks.loc["etl", "runnable here"] == "no: not in the local catalog"
    assert notebooks.loc[WORD_COUNT, "runnable here"] == "yes"
    clusters = frame_with_column(databricks_app, "cluster")
    assert clusters.to_dict("records") == [{"cluster": "shared analytics", "id": "0101-abc", "state": "TERMINATED"}]


def test_run_form_queues_run_on_chosen_engine(databricks_app, service):
    open_page(databricks_app, "sparkflow")
    engine = databricks_app.selectbox(key=f"sparkflow_engine_{WORD_COUNT}")
    assert engine.options == ["local-spark", "databricks"]

    engine.set_value("databricks")
    databricks_app.button(key="FormSubmitter:sparkflow_run_form-Run").click()
    run(databricks_app)

    [queued] = service.list_runs(USER)
    assert queued.engine == "databricks"
    assert queued.status is RunStatus.QUEUED


def test_notebook_shows_running_while_databricks_run_active(databricks_app, app_env, fake):
    fake.put_notebook(f"/Shared/operatorflow/{WORD_COUNT}", "print(1)\n")
    service = build_service(dataclasses.replace(app_env, databricks_host=fake.host, databricks_token="fake"))
    service.submit_run(USER, WORD_COUNT, {}, engine="databricks")
    service.registry.dispose()

    open_page(databricks_app, "sparkflow")

    notebooks = frame_with_column(databricks_app, "path").set_index("notebook")
    assert notebooks.loc[WORD_COUNT, "status"] == "RUNNING"


def test_rejected_token_shows_what_to_set(app_env, fake, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_DATABRICKS_HOST", fake.host)
    monkeypatch.setenv("OPERATORFLOW_DATABRICKS_TOKEN", "expired")
    at = run(AppTest.from_file(str(HOME_SCRIPT), default_timeout=RUN_TIMEOUT_SECONDS))
    register(at, USER, PASSWORD)
    confirm_from_outbox(at, app_env)
    sign_in(at, USER, PASSWORD)

    open_page(at, "sparkflow")

    [message] = [e.value for e in at.error]
    assert message.startswith(f"Databricks at {fake.host} denied the request to list the workspace folder")
    assert "OPERATORFLOW_DATABRICKS_TOKEN or DATABRICKS_TOKEN" in message
    assert "expired" not in message
