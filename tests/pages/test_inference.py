"""Inference page: model choice, predictions for an uploaded CSV, and the errors of a bad upload."""

from __future__ import annotations

import shutil
import sys

import pandas as pd
import pytest
from kfp.dsl import Dataset, Model

from operatorflow.pipelines.loader import load_pipeline
from operatorflow.settings import PROJECT_DIR
from operatorflow.status import RunStatus
from tests.pages.conftest import USER, errors, finish_run, open_page, run

TRAINER = "taxi-tip-trainer"
TRIPS = PROJECT_DIR / "examples" / "data" / "chicago_taxi_trips.csv"
UNLABELLED = PROJECT_DIR / "examples" / "data" / "chicago_taxi_trips_unlabelled.csv"


@pytest.fixture(scope="module")
def trained_output(tmp_path_factory):
    """A run output folder with a model trained by the pipeline's own steps, laid out as the runner writes it."""
    output = tmp_path_factory.mktemp("trained")
    steps = sys.modules[load_pipeline(PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_trainer.py")
                        .pipeline_func.__module__]
    cleaned = Dataset(uri=str(output / "clean-trips" / "cleaned_trips"))
    steps.clean_trips.python_func(input_path=str(TRIPS), cleaned_trips=cleaned)
    steps.train_model.python_func(
        cleaned_trips=cleaned, test_fraction=0.2, seed=42,
        model=Model(uri=str(output / "train-model" / "model")),
        test_trips=Dataset(uri=str(output / "train-model" / "test_trips")),
    )
    return output


@pytest.fixture
def model_run(service, trained_output):
    submitted = service.submit_run(USER, TRAINER, {})
    shutil.copytree(trained_output, submitted.output_location)
    finish_run(service, submitted.id, RunStatus.SUCCEEDED, metrics={"accuracy": 0.875, "auc": 0.93})
    return service.get_run(USER, submitted.id)


def upload(at, name: str, data: bytes):
    at.file_uploader(key="inference_upload").set_value((name, data, "text/csv"))
    return run(at)


def test_no_model_points_to_kubeflow(signed_in_app):
    open_page(signed_in_app, "inference")

    assert signed_in_app.info[0].value == (
        "You have no trained model yet: run the taxi-tip-trainer pipeline first, then come back."
    )
    assert [link.label for link in signed_in_app.get("page_link")] == ["Open KubeFlow"]
    assert signed_in_app.get("file_uploader") == []


def test_model_label_names_run_and_accuracy(signed_in_app, model_run):
    open_page(signed_in_app, "inference")

    model = signed_in_app.selectbox(key="inference_model")
    assert model.value == model_run.id
    assert model.format_func(model_run.id).startswith(f"{TRAINER} · {model_run.id} · finished ")
    assert model.format_func(model_run.id).endswith(" · accuracy 0.875")


def test_unlabelled_upload_gives_predictions(signed_in_app, model_run):
    open_page(signed_in_app, "inference")

    upload(signed_in_app, "unlabelled.csv", UNLABELLED.read_bytes())

    predictions = signed_in_app.dataframe[0].value
    assert len(predictions) == 3604
    assert {"big_tipper_probability", "big_tipper"} <= set(predictions.columns)
    assert predictions["big_tipper_probability"].between(0, 1).all()
    assert len(signed_in_app.get("plotly_chart")) == 1
    assert len(signed_in_app.get("download_button")) == 1
    assert signed_in_app.success[0].value.startswith("Scored 3,604 trips from unlabelled.csv: ")


def test_wrong_columns_upload_shows_error(signed_in_app, model_run):
    open_page(signed_in_app, "inference")
    wrong = pd.DataFrame({"city": ["Chicago"], "fare_usd": [12.5]}).to_csv(index=False).encode()

    upload(signed_in_app, "wrong.csv", wrong)

    [message] = errors(signed_in_app)
    assert message.startswith("The uploaded CSV lacks")
    assert message.endswith("examples/data/chicago_taxi_trips_unlabelled.csv.")
    assert signed_in_app.dataframe == []
