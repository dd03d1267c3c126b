"""Batch predictions with a model that a taxi-tip-trainer or taxi-tip-keras run wrote to its output location."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from operatorflow.errors import InvalidInput, NotFound
from operatorflow.storage import ObjectStores

logger = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
KERAS_MODEL_FILE = "model.keras"
MODEL_FILES = (MODEL_FILE, KERAS_MODEL_FILE)
METADATA_FILE = "metadata.json"
PROBABILITY_COLUMN = "big_tipper_probability"
PREDICTION_COLUMN = "big_tipper"
THRESHOLD = 0.5
EXAMPLE_UPLOAD = "examples/data/chicago_taxi_trips_unlabelled.csv"


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    estimator: Any
    """A fitted scikit-learn estimator, or a KerasClassifier, with `predict_proba`, fed the feature columns of `metadata`."""
    metadata: dict[str, Any]
    """The training step's metadata.json: feature columns, label rule, library versions, row counts."""
    location: str
    """Object-store location of the model.joblib or model.keras it was loaded from."""

    @property
    def feature_columns(self) -> list[str]:
        return list(self.metadata["feature_columns"])

    @property
    def categorical_columns(self) -> list[str]:
        return list(self.metadata.get("categorical_columns", []))

    @property
    def numeric_columns(self) -> list[str]:
        categorical = set(self.categorical_columns)
        return [column for column in self.metadata.get("numeric_columns", self.feature_columns) if column not in categorical]


def is_model_location(location: str) -> bool:
    """Return True for the location of a model file that `load_model` can load."""
    return location.endswith(tuple("/" + name for name in MODEL_FILES))


def load_model(stores: ObjectStores, output_location: str) -> TrainedModel:
    """Find model.joblib or model.keras and metadata.json under a run's output location, download and load them.

    NOTE: joblib unpickles, which runs code stored in the file. Only files written by OperatorFlow's own
    pipeline runs may come here, and the service offers only the outputs of the user's finished runs.
    """
    store = stores.for_location(output_location)
    objects = store.list_objects(output_location)
    models = [location for location in objects if is_model_location(location)]
    if not models:
        raise NotFound(
            f"The run output at {output_location} contains no {' or '.join(MODEL_FILES)}, so it has no model: "
            "pick a finished taxi-tip-trainer or taxi-tip-keras run."
        )
    if len(models) > 1:
        logger.warning("Output %s contains %d models, using %s", output_location, len(models), models[0])
    model_location = models[0]
    folder_location, model_file = model_location.rsplit("/", 1)
    metadata_location = f"{folder_location}/{METADATA_FILE}"
    if metadata_location not in objects:
        raise NotFound(
            f"The model at {model_location} has no {METADATA_FILE} next to it, so its feature columns are "
            "unknown: pick a finished taxi-tip-trainer or taxi-tip-keras run."
        )

    with tempfile.TemporaryDirectory(prefix="operatorflow-model-") as folder:
        local_model = Path(folder) / model_file
        store.download_file(model_location, local_model)
        metadata = json.loads(store.read_bytes(metadata_location))
        if model_file == KERAS_MODEL_FILE:
            from operatorflow.inference_keras import load_keras_classifier

            estimator = load_keras_classifier(local_model, metadata, model_location)
        else:
            estimator = _load_estimator(local_model, model_location)

    if not metadata.get("feature_columns"):
        raise InvalidInput(f"The metadata at {metadata_location} lists no feature_columns: retrain the model.")
    logger.info("Loaded model %s (%d feature columns)", model_location, len(metadata["feature_columns"]))
    return TrainedModel(estimator=estimator, metadata=metadata, location=model_location)


def read_upload(data: bytes, model: TrainedModel) -> pd.DataFrame:
    """Parse an uploaded CSV and check that it has the model's feature columns. Other columns are kept."""
    what_to_upload = f"upload a CSV of taxi trips with a header row, with the columns of {EXAMPLE_UPLOAD}"
    if not data.strip():
        raise InvalidInput(f"The uploaded file is empty: {what_to_upload}.")

    categorical = {column: str for column in model.categorical_columns}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = pd.read_csv(io.BytesIO(data), dtype=categorical, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise InvalidInput(f"The uploaded file is not a readable CSV ({_first_line(exc)}): {what_to_upload}.") from exc
    for warning in caught:
        logger.warning("Reading an upload: %s: %s", warning.category.__name__, warning.message)

    missing = [column for column in model.feature_columns if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"The uploaded CSV lacks the column(s) {', '.join(missing)} that the model needs: {what_to_upload}."
        )
    if frame.empty:
        raise InvalidInput(f"The uploaded CSV has a header but no rows: {what_to_upload}.")

    for column in model.numeric_columns:
        frame[column] = _numeric_column(frame[column], column)
    for column in model.categorical_columns:
        # An all-empty column is read as float; the one-hot encoder was fitted on text.
        frame[column] = frame[column].astype(object)
    return frame


def predict(model: TrainedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Return the input rows, in order, with the big-tipper probability and the prediction at 0.5."""
    try:
        probabilities = model.estimator.predict_proba(frame[model.feature_columns])
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"The model could not score the uploaded rows: {_first_line(exc)}. Check the values against {EXAMPLE_UPLOAD}."
        ) from exc

    positive = list(model.estimator.classes_).index(model.metadata.get("positive_class", True))
    result = frame.copy()
    result[PROBABILITY_COLUMN] = probabilities[:, positive].astype(float)
    result[PREDICTION_COLUMN] = result[PROBABILITY_COLUMN] >= THRESHOLD
    return result


def _load_estimator(path: Path, location: str) -> Any:
    import joblib

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            estimator = joblib.load(path)
    except Exception as exc:
        # Unpickling raises whatever the stored classes raise, for instance after a library upgrade.
        raise InvalidInput(
            f"The model at {location} could not be loaded ({type(exc).__name__}: {_first_line(exc)}): "
            "run taxi-tip-trainer again to train a new model."
        ) from exc
    # scikit-learn warns when another version saved the model, because predictions may then differ.
    for warning in caught:
        logger.warning("Loading model %s: %s: %s", location, warning.category.__name__, warning.message)
    if not hasattr(estimator, "predict_proba"):
        raise InvalidInput(f"The object in {location} is not a classifier with predict_proba: retrain the model.")
    return estimator


def _numeric_column(values: pd.Series, column: str) -> pd.Series:
    converted = pd.to_numeric(values, errors="coerce")
    invalid = values.notna() & converted.isna()
    if invalid.any():
        row = int(invalid.idxmax())
        raise InvalidInput(
            f"Column {column} of the upload must contain numbers, but data row {row + 1} contains "
            f"{values[row]!r}: fix the value or leave the cell empty."
        )
    return converted.astype(float)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
