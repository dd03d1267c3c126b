"""Kubeflow pipeline that trains a small Keras network to predict big tippers on Chicago taxi trips."""

import importlib.util
from pathlib import Path

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

# OperatorFlow rejects a run of this pipeline before queueing it when this extra is not installed,
# because the training step imports Keras and PyTorch. The catalog reads this name without
# importing the file.
REQUIRES_EXTRAS = ("deep-learning",)

# NOTE: on a Kubeflow cluster the python:3.11 image lacks pandas, scikit-learn, Keras and PyTorch.
# Give the steps an image that has them (a CUDA build of PyTorch for gpu > 0) before submitting there.
BASE_IMAGE = "python:3.11"
GPU_RESOURCE = "nvidia.com/gpu"


def _load_trainer_module():
    """Import the sibling taxi_tip_trainer.py, so both pipelines clean the trips with one component.

    Catalog files are imported by path, not as a package, so a plain `import` would not find it.
    """
    path = Path(__file__).with_name("taxi_tip_trainer.py")
    spec = importlib.util.spec_from_file_location(f"{__name__}_taxi_tip_trainer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


clean_trips = _load_trainer_module().clean_trips


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_keras_model(
    cleaned_trips: Input[Dataset],
    test_fraction: float,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    model: Output[Model],
    history: Output[Artifact],
    metrics: Output[Metrics],
):
    """Train a dense network on a stratified split, write the model and its training curve, score the held-out rows."""
    import json
    import os
    import platform

    # Keras 3 reads its backend once, at its first import.
    os.environ.setdefault("KERAS_BACKEND", "torch")

    import keras
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    # The trainer's features, so both models can be compared on the same held-out rows. `tips` is
    # never a feature, because the label is computed from it.
    NUMERIC_COLUMNS = [
        "fare", "trip_miles", "trip_seconds", "trip_start_hour", "trip_start_day", "trip_start_month",
        "pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
        "pickup_community_area", "dropoff_community_area",
    ]
    CATEGORICAL_COLUMNS = ["payment_type", "company"]
    LABEL = "big_tipper"
    VALIDATION_FRACTION = 0.1

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}.")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be above 0, got {learning_rate}.")

    trips = pd.read_csv(os.path.join(cleaned_trips.path, "trips.csv"), dtype={c: str for c in CATEGORICAL_COLUMNS})
    missing = [column for column in NUMERIC_COLUMNS + CATEGORICAL_COLUMNS if column not in trips.columns]
    if missing:
        raise ValueError(f"The cleaned trips lack the feature column(s) {', '.join(missing)}.")
    if trips[LABEL].nunique() < 2:
        raise ValueError("The cleaned trips contain one class only, so no classifier can be trained.")

    keras.utils.set_random_seed(seed)
    train, test = train_test_split(trips, test_size=test_fraction, stratify=trips[LABEL], random_state=seed)
    train, validation = train_test_split(
        train, test_size=VALIDATION_FRACTION, stratify=train[LABEL], random_state=seed
    )

    # Medians and category lists come from the training rows only. Inference in OperatorFlow applies
    # the same encoding from metadata.json: missing numbers become the median, and each category
    # seen in training gets a 0/1 column (an unseen or missing category sets none of them).
    medians = {column: float(train[column].median()) for column in NUMERIC_COLUMNS}
    categories = {column: sorted(train[column].dropna().unique().tolist()) for column in CATEGORICAL_COLUMNS}

    def encode(frame):
        parts = [frame[NUMERIC_COLUMNS].astype("float64").fillna(medians).to_numpy()]
        for column in CATEGORICAL_COLUMNS:
            values = frame[column].to_numpy()
            parts.append(np.stack([values == category for category in categories[column]], axis=1))
        return np.concatenate(parts, axis=1).astype("float32")

    x_train, x_validation, x_test = encode(train), encode(validation), encode(test)
    y_train = train[LABEL].to_numpy("float32")
    y_validation = validation[LABEL].to_numpy("float32")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        # A network this small gains nothing from PyTorch's threads, which slow each other down when
        # other processes share the cores. On random data of this shape, one thread trained an epoch
        # in 2.7 s and two threads in 25 s (batch size 64, 2 cores busy with other work, PyTorch 2.13.0).
        torch.set_num_threads(1)
    print(f"train_keras_model: {len(train)} training, {len(validation)} validation and {len(test)} held-out rows, "
          f"{x_train.shape[1]} inputs, seed {seed}, Keras {keras.__version__} on {keras.backend.backend()} ({device})")

    normalization = keras.layers.Normalization()
    normalization.adapt(x_train)
    network = keras.Sequential([
        keras.Input(shape=(x_train.shape[1],)),
        normalization,
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    network.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                    loss="binary_crossentropy", metrics=["accuracy"])
    fitted = network.fit(x_train, y_train, validation_data=(x_validation, y_validation),
                         epochs=epochs, batch_size=batch_size, verbose=2)

    # The Model artifact is a folder: the network and what inference needs to encode its input.
    os.makedirs(model.path, exist_ok=True)
    network.save(os.path.join(model.path, "model.keras"))
    metadata = {
        "framework": "keras",
        "feature_columns": NUMERIC_COLUMNS + CATEGORICAL_COLUMNS,
        "numeric_columns": NUMERIC_COLUMNS,
        "categorical_columns": CATEGORICAL_COLUMNS,
        "numeric_medians": medians,
        "categories": categories,
        "label": LABEL,
        "label_rule": "tips > 0.2 * fare",
        "positive_class": True,
        "train_rows": len(train),
        "validation_rows": len(validation),
        "majority_class": bool(train[LABEL].mode()[0]),
        "seed": seed,
        "test_fraction": test_fraction,
        "library_versions": {
            "python": platform.python_version(),
            "keras": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "torch": torch.__version__,
            "pandas": pd.__version__,
            "numpy": np.__version__,
        },
    }
    with open(os.path.join(model.path, "metadata.json"), "w") as handle:
        json.dump(metadata, handle, indent=2)
    model.metadata["framework"] = "keras"
    model.metadata["train_rows"] = len(train)

    # One row per epoch, as JSON (for the app's chart) and as CSV (for a spreadsheet).
    names = ["loss", "accuracy", "val_loss", "val_accuracy"]
    rows = [
        {"epoch": epoch + 1, **{name: float(fitted.history[name][epoch]) for name in names}}
        for epoch in range(len(fitted.history["loss"]))
    ]
    os.makedirs(history.path, exist_ok=True)
    with open(os.path.join(history.path, "history.json"), "w") as handle:
        json.dump(rows, handle, indent=2)
    pd.DataFrame(rows, columns=["epoch", *names]).to_csv(os.path.join(history.path, "history.csv"), index=False)
    history.metadata["epochs"] = len(rows)

    truth = test[LABEL].to_numpy()
    probability = network.predict(x_test, batch_size=1024, verbose=0).reshape(-1)
    accuracy = accuracy_score(truth, probability >= 0.5)
    auc = roc_auc_score(truth, probability)
    majority_baseline = accuracy_score(truth, [metadata["majority_class"]] * len(test))
    print(f"train_keras_model: accuracy {accuracy:.4f}, AUC {auc:.4f}, majority baseline {majority_baseline:.4f}")
    metrics.log_metric("accuracy", round(float(accuracy), 6))
    metrics.log_metric("auc", round(float(auc), 6))
    metrics.log_metric("majority_baseline", round(float(majority_baseline), 6))
    metrics.log_metric("rows_used", len(train) + len(validation) + len(test))
    metrics.log_metric("train_rows", len(train))
    metrics.log_metric("validation_rows", len(validation))
    metrics.log_metric("test_rows", len(test))
    metrics.log_metric("epochs", len(rows))


@dsl.pipeline(
    name="taxi-tip-keras",
    description="Train a small Keras network that predicts big tippers (tip above 20% of the fare) from Chicago taxi trips.",
)
def taxi_tip_keras(
    input_path: str = "examples/data/chicago_taxi_trips.csv",
    epochs: int = 10,
    batch_size: int = 128,
    learning_rate: float = 0.001,
    gpu: int = 0,
    test_fraction: float = 0.2,
    seed: int = 42,
):
    """Train a Keras network that predicts big tippers from Chicago taxi trips.

    Args:
        input_path: CSV of taxi trips with fares and tips. A relative path starts at the project folder.
        epochs: Passes over the training rows.
        batch_size: Rows per gradient step.
        learning_rate: Step size of the Adam optimizer.
        gpu: NVIDIA GPUs for the training step; 0 trains on the CPU.
        test_fraction: Share of the cleaned trips held out to evaluate the model.
        seed: Random seed of the splits and the network's initial weights.
    """
    cleaned = clean_trips(input_path=input_path)
    # kfp fixes whether a task requests accelerators when the pipeline is compiled, so each branch
    # has a task of its own. The CPU branch comes first, so its task (the one local runs use) is
    # named train-keras-model, and the GPU branch's task train-keras-model-2.
    with dsl.If(gpu == 0, name="on-cpu"):
        train_keras_model(
            cleaned_trips=cleaned.outputs["cleaned_trips"], test_fraction=test_fraction, seed=seed,
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        )
    with dsl.Else(name="on-gpu"):
        on_gpu = train_keras_model(
            cleaned_trips=cleaned.outputs["cleaned_trips"], test_fraction=test_fraction, seed=seed,
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        )
        on_gpu.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(gpu)
