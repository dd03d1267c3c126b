"""KubeFlow page with a Kubeflow Pipelines server: stored pipelines in the dropdown, the engine choice, outages."""

from __future__ import annotations

import pytest
import streamlit as st

from operatorflow.status import RunStatus
from tests.engines.test_kubeflow import SERVER_SPEC, upload
from tests.kfp_fake import TOKEN, FakeKubeflow
from tests.pages.conftest import USER, errors, finish_run, open_page, run

TRAINER = "taxi-tip-trainer"
KERAS = "taxi-tip-keras"
STORED = "kubeflow:fraud-model"
RUN_BUTTON = "FormSubmitter:kubeflow_run_form-Run"


@pytest.fixture
def fake():
    server = FakeKubeflow(namespaces={f"kubeflow-user-{USER}"})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kubeflow_env(fake, monkeypatch):
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_HOST", fake.host)
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_TOKEN", TOKEN)
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_NAMESPACE", "kubeflow-user-{user}")
    return fake


@pytest.fixture
def signed_in(kubeflow_env, signed_in_app):
    return signed_in_app


def test_dropdown_lists_catalog_and_stored_pipelines(signed_in, fake, tmp_path):
    upload(fake, tmp_path, "fraud-model", SERVER_SPEC)

    open_page(signed_in, "kubeflow")

    assert signed_in.selectbox(key="kubeflow_pipeline").options == [KERAS, TRAINER, "fraud-model (stored on Kubeflow)"]
    assert signed_in.selectbox(key=f"kubeflow_engine_{TRAINER}").options == ["local-pipeline", "kubeflow"]


def test_stored_pipeline_runs_on_kubeflow(signed_in, service, fake, tmp_path):
    upload(fake, tmp_path, "fraud-model", SERVER_SPEC)
    open_page(signed_in, "kubeflow")
    signed_in.selectbox(key="kubeflow_pipeline").set_value(STORED)
    run(signed_in)

    signed_in.text_input(key=f"kubeflow_param_{STORED}_epochs").set_value("12")
    signed_in.button(key=RUN_BUTTON).click()
    run(signed_in)

    [queued] = service.list_runs(USER)
    assert (queued.workflow, queued.engine) == (STORED, "kubeflow")
    assert queued.parameters == {"input_path": "s3://data/in.csv", "epochs": "12"}
    assert errors(signed_in) == []


def test_catalog_pipeline_can_pick_kubeflow(signed_in, service):
    open_page(signed_in, "kubeflow")

    signed_in.selectbox(key=f"kubeflow_engine_{TRAINER}").set_value("kubeflow")
    signed_in.button(key=RUN_BUTTON).click()
    run(signed_in)

    [queued] = service.list_runs(USER)
    assert (queued.workflow, queued.engine) == (TRAINER, "kubeflow")


def test_unreachable_server_shows_catalog_with_warning(signed_in, fake):
    fake.stop()

    open_page(signed_in, "kubeflow")

    assert signed_in.selectbox(key="kubeflow_pipeline").options == [KERAS, TRAINER]
    [warning] = [w.value for w in signed_in.warning]
    assert warning.startswith(
        f"Only the catalog's pipelines are listed, because the Kubeflow server's cannot be: Kubeflow at {fake.host} "
        "did not respond:"
    )
    assert errors(signed_in) == []


def test_pending_run_shows_how_long(signed_in, service):
    submitted = service.submit_run(USER, TRAINER, {}, engine="kubeflow")
    finish_run(service, submitted.id, RunStatus.RUNNING)
    service.registry.set_active_metrics(submitted.id, {"kubeflow_state": "PENDING",
                                                       "pending_since": "2026-01-01T00:00:00+00:00"})

    open_page(signed_in, "kubeflow")

    notes = [i.value for i in signed_in.info if "has been pending on kubeflow for" in i.value]
    assert len(notes) == 1
    assert notes[0].startswith(f"Run {submitted.id} has been pending on kubeflow for ")


def test_foreign_namespace_warns_without_traceback(signed_in, fake, monkeypatch, caplog):
    monkeypatch.setenv("OPERATORFLOW_KUBEFLOW_NAMESPACE", "team-secret")
    # The cached service and catalog were built with the earlier settings while signing in.
    st.cache_resource.clear()

    open_page(signed_in, "kubeflow")

    assert signed_in.selectbox(key="kubeflow_pipeline").options == [KERAS, TRAINER]
    assert [w.value for w in signed_in.warning] == [
        f"Only the catalog's pipelines are listed, because the Kubeflow server's cannot be: Kubeflow at {fake.host}: "
        "not permitted to list pipelines in namespace team-secret. Ask the Kubeflow administrator for access, or set "
        "OPERATORFLOW_KUBEFLOW_NAMESPACE to a namespace you may use."
    ]
    logged = [r for r in caplog.records if r.name == "operatorflow.ui_kubeflow"]
    assert len(logged) == 1
    assert "not permitted" in logged[0].getMessage()
    assert logged[0].exc_info is None
