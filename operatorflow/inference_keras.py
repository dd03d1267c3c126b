"""Predictions with a Keras model that a taxi-tip-keras run wrote: its input encoding and a scikit-learn-like wrapper."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from operatorflow.errors import InvalidInput
from operatorflow.extras import EXTRAS

logger = logging.getLogger(__name__)

KERAS_BACKEND = "torch"
PREDICT_BATCH_SIZE = 1024


class KerasClassifier:
    """A binary Keras network with the `predict_proba` and `classes_` of a scikit-learn classifier.

    It encodes its input as the training step did: each numeric column with its missing values set to
    the training median, then one 0/1 column per category seen in training. Scaling is the network's
    own first layer.
    """

    classes_ = np.array([False, True])

    def __init__(self, network: Any, metadata: dict[str, Any]) -> None:
        self.network = network
        self.numeric_columns = list(metadata["numeric_columns"])
        self.categorical_columns = list(metadata.get("categorical_columns", []))
        self.medians = {column: float(value) for column, value in metadata["numeric_medians"].items()}
        self.categories = {column: list(values) for column, values in metadata.get("categories", {}).items()}

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        parts = [frame[self.numeric_columns].astype("float64").fillna(self.medians).to_numpy()]
        for column in self.categorical_columns:
            values = frame[column].to_numpy()
            parts.append(np.stack([values == category for category in self.categories[column]], axis=1))
        return np.concatenate(parts, axis=1).astype("float32")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Return one row per input row: the probabilities of False and True."""
        encoded = self.encode(frame)
        batches = [
            _tensor_to_numpy(self.network(encoded[start:start + PREDICT_BATCH_SIZE], training=False))
            for start in range(0, len(encoded), PREDICT_BATCH_SIZE)
        ]
        positive = np.concatenate(batches).reshape(-1).astype("float64")
        return np.stack([1.0 - positive, positive], axis=1)


def load_keras_classifier(path: Path, metadata: dict[str, Any], location: str) -> KerasClassifier:
    """Load a `.keras` file saved by taxi-tip-keras, or raise InvalidInput saying how to make it loadable."""
    missing = [key for key in ("numeric_columns", "numeric_medians") if key not in metadata]
    if missing:
        raise InvalidInput(
            f"The metadata of the Keras model at {location} lacks {', '.join(missing)}: run taxi-tip-keras again."
        )
    # Keras 3 reads its backend once, at its first import in the process.
    os.environ.setdefault("KERAS_BACKEND", KERAS_BACKEND)
    try:
        import keras
    except ImportError as exc:
        extra = EXTRAS["deep-learning"]
        raise InvalidInput(
            f"The model at {location} is a Keras model, and loading it needs the {extra.name} extra: {extra.install_hint}."
        ) from exc

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # safe_mode (the default) rejects Lambda layers, which would run code stored in the file.
            network = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        # Loading raises whatever the stored layers raise, for instance after a Keras upgrade.
        raise InvalidInput(
            f"The Keras model at {location} could not be loaded ({type(exc).__name__}: {_first_line(exc)}): "
            "run taxi-tip-keras again to train a new model."
        ) from exc
    for warning in caught:
        logger.warning("Loading model %s: %s: %s", location, warning.category.__name__, warning.message)
    return KerasClassifier(network, metadata)


def _tensor_to_numpy(tensor: Any) -> np.ndarray:
    # NOTE: `Model.predict` and `keras.ops.convert_to_numpy` call `np.array` on a torch tensor, and
    # with PyTorch 2.13.0 and NumPy 2.4 that raises a DeprecationWarning, because torch's
    # `Tensor.__array__` takes no `copy` argument. Asking the tensor for its array avoids that.
    if hasattr(tensor, "detach"):
        return tensor.detach().cpu().numpy()
    return np.asarray(tensor)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
