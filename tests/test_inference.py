"""Predictions from a trained taxi model: loading it from a run output, reading uploads, scoring."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
from kfp.dsl import Dataset, Model

from operatorflow import inference
from operatorflow.errors import InvalidInput, NotFound
from operatorflow.pipelines.loader import load_pipeline
from operatorflow.settings import PROJECT_DIR
from operatorflow.storage import ObjectStores

TAXI_PIPELINE = PROJECT_DIR / "catalog" / "pipelines" / "taxi_tip_trainer.py"
TRIPS = PROJECT_DIR / "examples" / "data" / "chicago_taxi_trips.csv"
UNLABELLED = PROJECT_DIR / "examples" / "data" / "chicago_taxi_trips_unlabelled.csv"
WHAT_TO_UPLOAD = (
    "upload a CSV of taxi trips with a header row, with the columns of "
    "examples/data/chicago_taxi_trips_unlabelled.csv."
)


@pytest.fixture(scope="module")
def run_output(tmp_path_factory):
    """A run output folder laid out as the runner writes it, with a model trained by the pipeline's own steps."""
    output = tmp_path_factory.mktemp("run-output")
    steps = sys.modules[load_pipeline(TAXI_PIPELINE).pipeline_func.__module__]
    cleaned = Dataset(uri=str(output / "clean-trips" / "cleaned_trips"))
    model = Model(uri=str(output / "train-model" / "model"))
    held_out = Dataset(uri=str(output / "train-model" / "test_trips"))

    steps.clean_trips.python_func(input_path=str(TRIPS), cleaned_trips=cleaned)
    steps.train_model.python_func(
        cleaned_trips=cleaned, test_fraction=0.2, seed=42, model=model, test_trips=held_out
    )

    return output


@pytest.fixture(scope="module")
def model(run_output):
    return inference.load_model(ObjectStores(PROJECT_DIR), str(run_output))


def test_predictions_for_unlabelled_trips(model):
    unlabelled = pd.read_csv(UNLABELLED)

    predictions = inference.predict(model, inference.read_upload(UNLABELLED.read_bytes(), model))

    assert len(predictions) == 3604
    assert predictions["big_tipper_probability"].between(0, 1).all()
    assert (predictions["big_tipper"] == (predictions["big_tipper_probability"] >= 0.5)).all()
    assert predictions["trip_start_timestamp"].tolist() == unlabelled["trip_start_timestamp"].tolist()
    assert predictions["big_tipper"].dtype == bool


def test_predictions_keep_extra_columns(model):
    upload = pd.read_csv(UNLABELLED).head(5).assign(trip_id=["a", "b", "c", "d", "e"])

    predictions = inference.predict(model, inference.read_upload(upload.to_csv(index=False).encode(), model))

    assert predictions["trip_id"].tolist() == ["a", "b", "c", "d", "e"]


def test_empty_categorical_column_still_scored(model):
    upload = pd.read_csv(UNLABELLED).head(3).assign(company=None)

    predictions = inference.predict(model, inference.read_upload(upload.to_csv(index=False).encode(), model))

    assert predictions["big_tipper_probability"].between(0, 1).all()


def test_model_metadata_lists_features_without_tips(model):
    assert "tips" not in model.feature_columns
    assert model.categorical_columns == ["payment_type", "company"]
    assert model.location.endswith("/train-model/model/model.joblib")


def test_upload_missing_columns_rejected(model):
    data = b"fare,tips,payment_type\n10.0,1.0,Cash\n"

    with pytest.raises(InvalidInput) as raised:
        inference.read_upload(data, model)

    assert str(raised.value) == (
        "The uploaded CSV lacks the column(s) trip_miles, trip_seconds, trip_start_hour, trip_start_day, "
        "trip_start_month, pickup_latitude, pickup_longitude, dropoff_latitude, dropoff_longitude, "
        f"pickup_community_area, dropoff_community_area, company that the model needs: {WHAT_TO_UPLOAD}"
    )


def test_binary_upload_rejected(model):
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

    with pytest.raises(InvalidInput) as raised:
        inference.read_upload(data, model)

    assert str(raised.value).startswith("The uploaded file is not a readable CSV (")
    assert str(raised.value).endswith(f"): {WHAT_TO_UPLOAD}")


def test_empty_upload_rejected(model):
    with pytest.raises(InvalidInput) as raised:
        inference.read_upload(b"  \n", model)

    assert str(raised.value) == f"The uploaded file is empty: {WHAT_TO_UPLOAD}"


def test_header_only_upload_rejected(model):
    header = UNLABELLED.read_text().splitlines()[0] + "\n"

    with pytest.raises(InvalidInput) as raised:
        inference.read_upload(header.encode(), model)

    assert str(raised.value) == f"The uploaded CSV has a header but no rows: {WHAT_TO_UPLOAD}"


def test_text_in_numeric_column_rejected(model):
    upload = pd.read_csv(UNLABELLED).head(3)
    upload["fare"] = upload["fare"].astype(object)
    upload.loc[1, "fare"] = "twelve"

    with pytest.raises(InvalidInput) as raised:
        inference.read_upload(upload.to_csv(index=False).encode(), model)

    assert str(raised.value) == (
        "Column fare of the upload must contain numbers, but data row 2 contains 'twelve': "
        "fix the value or leave the cell empty."
    )


def test_output_without_model_not_found(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")

    with pytest.raises(NotFound) as raised:
        inference.load_model(ObjectStores(tmp_path), str(tmp_path))

    assert str(raised.value) == (
        f"The run output at {tmp_path} contains no model.joblib or model.keras, so it has no model: "
        "pick a finished taxi-tip-trainer or taxi-tip-keras run."
    )


def test_model_without_metadata_not_found(tmp_path, run_output):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.joblib").write_bytes((run_output / "train-model" / "model" / "model.joblib").read_bytes())

    with pytest.raises(NotFound) as raised:
        inference.load_model(ObjectStores(tmp_path), str(tmp_path))

    assert str(raised.value) == (
        f"The model at {tmp_path}/model/model.joblib has no metadata.json next to it, so its feature "
        "columns are unknown: pick a finished taxi-tip-trainer or taxi-tip-keras run."
    )


def test_unreadable_model_file_rejected(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.joblib").write_bytes(b"not a pickle")
    (tmp_path / "model" / "metadata.json").write_text('{"feature_columns": ["fare"]}')

    with pytest.raises(InvalidInput) as raised:
        inference.load_model(ObjectStores(tmp_path), str(tmp_path))

    assert str(raised.value).startswith(f"The model at {tmp_path}/model/model.joblib could not be loaded (")
    assert str(raised.value).endswith("): run taxi-tip-trainer again to train a new model.")


def test_unreadable_keras_model_rejected(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.keras").write_bytes(b"not a zip file")
    (tmp_path / "model" / "metadata.json").write_text(
        '{"feature_columns": ["fare"], "numeric_columns": ["fare"], "numeric_medians": {"fare": 1.0}}'
    )

    with pytest.raises(InvalidInput) as raised:
        inference.load_model(ObjectStores(tmp_path), str(tmp_path))

    assert str(raised.value).startswith(f"The Keras model at {tmp_path}/model/model.keras could not be loaded (")
    assert str(raised.value).endswith("): run taxi-tip-keras again to train a new model.")
