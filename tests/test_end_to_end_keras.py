"""taxi-tip-keras end to end on the real data: the command line, a worker, kfp's local runner and Keras on the CPU."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from operatorflow.factory import build_service
from operatorflow.settings import PROJECT_DIR, load_settings

DATA = PROJECT_DIR / "examples" / "data"
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]


def _operatorflow(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPERATORFLOW_")}
    env.update({"OPERATORFLOW_HOME": str(home), "OPERATORFLOW_POLL_SECONDS": "0.2"})
    return subprocess.run([sys.executable, "-m", "operatorflow.cli", *args], env=env,
                          capture_output=True, text=True, timeout=600, cwd=PROJECT_DIR)


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory):
    """One taxi-tip-keras run with 4 epochs, shared by the tests of this module because training takes a while."""
    home = tmp_path_factory.mktemp("keras") / "home"
    output = home.parent / "models" / "{run_id}"

    result = _operatorflow(home, "run", "taxi-tip-keras", "--param", "epochs=4", "--output", str(output),
                           "--wait", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "SUCCEEDED", document
    return home, document


@pytest.mark.pipeline
def test_keras_beats_majority_baseline(keras_run):
    _, document = keras_run

    metrics = document["metrics"]

    assert metrics["accuracy"] > metrics["majority_baseline"]
    assert 0.5 < metrics["auc"] <= 1
    assert metrics["epochs"] == 4
    assert metrics["rows_used"] == metrics["train_rows"] + metrics["validation_rows"] + metrics["test_rows"]


@pytest.mark.pipeline
def test_keras_history_has_row_per_epoch(keras_run):
    _, document = keras_run
    history_dir = Path(document["output_location"], "train-keras-model", "history")

    records = json.loads((history_dir / "history.json").read_text())
    with (history_dir / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert [record["epoch"] for record in records] == [1, 2, 3, 4]
    assert all(list(record) == HISTORY_COLUMNS for record in records)
    assert all(0 <= record["val_accuracy"] <= 1 for record in records)
    assert records[-1]["loss"] < records[0]["loss"]
    assert [row["epoch"] for row in rows] == ["1", "2", "3", "4"]
    assert list(rows[0]) == HISTORY_COLUMNS


@pytest.mark.pipeline
# Model.predict converts torch tensors with np.array, and PyTorch 2.13.0's Tensor.__array__ then emits
# this DeprecationWarning under NumPy 2.4. The predictions are right all the same.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_keras_model_loads_back_and_predicts(keras_run):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    _, document = keras_run
    model_path = Path(document["output_location"], "train-keras-model", "model", "model.keras")

    network = keras.saving.load_model(model_path)
    metadata = json.loads((model_path.parent / "metadata.json").read_text())
    inputs = len(metadata["numeric_columns"]) + sum(len(v) for v in metadata["categories"].values())
    probabilities = network.predict(keras.ops.zeros((3, inputs)), verbose=0)

    assert probabilities.shape == (3, 1)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()


@pytest.mark.pipeline
def test_inference_matches_pipeline_accuracy(keras_run):
    home, document = keras_run
    service = build_service(load_settings(home=home, worker="none"))
    # The held-out rows of the run: the cleaned trips, split as the training step splits them.
    cleaned = pd.read_csv(Path(document["output_location"], "clean-trips", "cleaned_trips", "trips.csv"))
    _, test = train_test_split(cleaned, test_size=0.2, stratify=cleaned["big_tipper"], random_state=42)

    predictions = service.predict("local", document["id"], test.to_csv(index=False).encode())

    assert [r.id for r in service.list_models("local")] == [document["id"]]
    assert predictions["big_tipper_probability"].between(0, 1).all()
    accuracy = accuracy_score(test["big_tipper"], predictions["big_tipper"])
    assert accuracy == pytest.approx(document["metrics"]["accuracy"], abs=1e-6)


@pytest.mark.pipeline
def test_keras_model_scores_unlabelled_file(keras_run):
    home, document = keras_run
    service = build_service(load_settings(home=home, worker="none"))
    unlabelled = (DATA / "chicago_taxi_trips_unlabelled.csv").read_bytes()

    predictions = service.predict("local", document["id"], unlabelled)

    assert len(predictions) == unlabelled.decode().strip().count("\n")
    assert predictions["big_tipper_probability"].between(0, 1).all()
