"""KubeFlow page with taxi-tip-keras: the training curve of a finished run and the missing-extra warning."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from operatorflow.status import RunStatus
from tests.pages.conftest import USER, errors, finish_run, open_page, run

KERAS = "taxi-tip-keras"
RUN_BUTTON = "FormSubmitter:kubeflow_run_form-Run"
EXTRA_MESSAGE = (
    "taxi-tip-keras needs the deep-learning extra: run ./start.sh --with-deep-learning "
    "(installs Keras and the CPU build of PyTorch)"
)
HISTORY = [
    {"epoch": 1, "loss": 0.61, "accuracy": 0.70, "val_loss": 0.55, "val_accuracy": 0.74},
    {"epoch": 2, "loss": 0.50, "accuracy": 0.77, "val_loss": 0.49, "val_accuracy": 0.78},
    {"epoch": 3, "loss": 0.45, "accuracy": 0.80, "val_loss": 0.47, "val_accuracy": 0.79},
]


def _finished_keras_run(service, history_text: str):
    submitted = service.submit_run(USER, KERAS, {"epochs": "3"})
    folder = Path(submitted.output_location) / "train-keras-model" / "history"
    folder.mkdir(parents=True)
    (folder / "history.json").write_text(history_text, encoding="utf-8")
    finish_run(service, submitted.id, RunStatus.SUCCEEDED, metrics={"accuracy": 0.8, "auc": 0.85, "rows_used": 100})
    return submitted


def _traces(chart) -> dict[str, list[float]]:
    """Return each line's y values; plotly sends number arrays as base64 with a numpy dtype."""
    figure = json.loads(chart.proto.spec)
    traces = {}
    for trace in figure["data"]:
        values = trace["y"]
        if isinstance(values, dict):
            values = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
        traces[trace["name"]] = values
    return traces


def open_keras(at):
    """Open the KubeFlow page with taxi-tip-keras picked; the page opens on a pipeline that needs no extra."""
    open_page(at, "kubeflow")
    at.selectbox(key="kubeflow_pipeline").set_value(KERAS)
    return run(at)


def test_page_opens_on_pipeline_without_extra(signed_in_app):
    open_page(signed_in_app, "kubeflow")

    assert signed_in_app.selectbox(key="kubeflow_pipeline").value == "taxi-tip-trainer"


def test_finished_run_draws_training_curve(signed_in_app, service):
    _finished_keras_run(service, json.dumps(HISTORY))

    open_keras(signed_in_app)

    loss, accuracy = signed_in_app.get("plotly_chart")
    assert _traces(loss) == {"loss": [0.61, 0.50, 0.45], "val_loss": [0.55, 0.49, 0.47]}
    assert _traces(accuracy) == {"accuracy": [0.70, 0.77, 0.80], "val_accuracy": [0.74, 0.78, 0.79]}
    assert errors(signed_in_app) == []


def test_unreadable_history_warns_and_shows_outputs(signed_in_app, service):
    submitted = _finished_keras_run(service, '{"loss": "not a list"}')

    open_keras(signed_in_app)

    assert signed_in_app.get("plotly_chart") == []
    location = f"{submitted.output_location}/train-keras-model/history/history.json"
    assert [w.value for w in signed_in_app.warning] == [
        f"The training curve in {location} cannot be read: it must be a JSON list with one record per epoch. "
        "The other outputs are shown below."
    ]
    assert signed_in_app.dataframe[-1].value["location"].tolist() == [location]


def test_trainer_run_has_no_training_curve(signed_in_app, service):
    submitted = service.submit_run(USER, "taxi-tip-trainer", {})
    finish_run(service, submitted.id, RunStatus.SUCCEEDED, metrics={"accuracy": 0.9})

    open_page(signed_in_app, "kubeflow")
    signed_in_app.selectbox(key="kubeflow_pipeline").set_value("taxi-tip-trainer")
    run(signed_in_app)

    assert signed_in_app.get("plotly_chart") == []


@pytest.fixture
def bare_pipeline_python(tmp_path, monkeypatch):
    """Point local pipelines at a new virtual environment without packages, so Keras is missing there."""
    bare = tmp_path / "bare-python"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    monkeypatch.setenv("OPERATORFLOW_PIPELINE_PYTHON", str(bare / "bin" / "python"))


def test_missing_extra_warns_and_run_is_rejected(bare_pipeline_python, signed_in_app, service):
    open_keras(signed_in_app)

    assert [w.value for w in signed_in_app.warning] == [EXTRA_MESSAGE]
    signed_in_app.button(key=RUN_BUTTON).click()
    run(signed_in_app)
    assert errors(signed_in_app) == [EXTRA_MESSAGE]
    assert service.list_runs(USER) == []
