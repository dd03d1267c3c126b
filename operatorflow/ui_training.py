"""Streamlit views of deep-learning runs: the training curve of a finished run and a missing extra."""

from __future__ import annotations

import json
import logging

import pandas as pd
import plotly.express as px
import streamlit as st

from operatorflow.extras import missing_extras_message
from operatorflow.registry import Run
from operatorflow.service import OperatorFlow
from operatorflow.workflows import Workflow

logger = logging.getLogger(__name__)

HISTORY_FILE = "history.json"
CURVES = (
    ("loss", "Loss per epoch", ["loss", "val_loss"]),
    ("accuracy", "Accuracy per epoch", ["accuracy", "val_accuracy"]),
)
"""Charts of the training curve: key suffix, title and the history columns drawn as lines."""


def render_training_curve(service: OperatorFlow, user: str, run: Run, objects: list[str]) -> None:
    """Draw loss and accuracy per epoch when the run's output objects include a history.json; else nothing."""
    histories = [location for location in objects if location.endswith("/" + HISTORY_FILE)]
    if not histories:
        return

    location = histories[0]
    history = read_history(service.read_output_object(user, run.id, location))
    if history is None:
        logger.warning("Run %s: %s is not a list of per-epoch records, so no training curve is drawn", run.id, location)
        st.warning(f"The training curve in {location} cannot be read: it must be a JSON list with one record "
                   "per epoch. The other outputs are shown below.")
        return

    st.markdown("**Training curve**")
    columns = st.columns(len(CURVES))
    for column, (key, title, names) in zip(columns, CURVES):
        present = [name for name in names if name in history.columns]
        if not present:
            continue
        long = history.melt(id_vars="epoch", value_vars=present, var_name="series", value_name="value")
        figure = px.line(long, x="epoch", y="value", color="series", markers=True, title=title,
                         labels={"value": key})
        column.plotly_chart(figure, key=f"training_curve_{key}_{run.id}")


def read_history(data: bytes) -> pd.DataFrame | None:
    """Parse history.json (a list of `{"epoch": 1, "loss": ..., ...}` records), or return None when it is not one."""
    try:
        records = json.loads(data)
    except ValueError:
        return None
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        return None

    frame = pd.DataFrame.from_records(records)
    if "epoch" not in frame.columns:
        frame.insert(0, "epoch", range(1, len(frame) + 1))
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().all().any():
        return None
    return numeric


def warn_missing_extras(service: OperatorFlow, workflow: Workflow) -> None:
    """Warn above the run form when the workflow needs an extra that is not installed."""
    message = missing_extras_message(service.settings, workflow)
    if message is not None:
        st.warning(message, icon=":material/warning:")
