"""Inference: predict big tippers for an uploaded CSV of taxi trips with a model you trained."""

import plotly.express as px
import streamlit as st

from operatorflow import ui

user = ui.require_user()
service = ui.get_service()
st.title("Inference")
st.caption("Pick a model from one of your finished training runs and upload trips as CSV to get predictions.")

models = service.list_models(user)
if not models:
    st.info("You have no trained model yet: run the taxi-tip-trainer pipeline first, then come back.")
    st.page_link("app_pages/kubeflow.py", label="Open KubeFlow", icon=":material/account_tree:")
    st.stop()


def model_label(run) -> str:
    accuracy = (run.metrics or {}).get("accuracy")
    accuracy_text = f"accuracy {accuracy:.3f}" if isinstance(accuracy, (int, float)) else "accuracy -"
    shared = f" · shared by {run.owner}" if run.owner != user else ""
    return f"{run.workflow} · {run.id} · finished {ui.format_time(run.finished_at)} · {accuracy_text}{shared}"


by_id = {run.id: run for run in models}
run_id = st.selectbox("Model", list(by_id), format_func=lambda key: model_label(by_id[key]), key="inference_model")
upload = st.file_uploader(
    "Trips to score (CSV with the columns of examples/data/chicago_taxi_trips_unlabelled.csv)",
    type=["csv"],
    key="inference_upload",
)
if upload is None:
    st.stop()

try:
    predictions = service.predict(user, run_id, upload.getvalue())
except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
    ui.show_error(exc)
    st.stop()

big_tippers = int(predictions["big_tipper"].sum())
st.success(f"Scored {len(predictions):,} trips from {upload.name}: {big_tippers:,} predicted big tippers.")
st.dataframe(predictions, hide_index=True, width="stretch")
figure = px.histogram(
    predictions, x="big_tipper_probability", nbins=40, title="Predicted probability of a big tip"
)
st.plotly_chart(figure, key="inference_histogram")
st.download_button(
    "Download predictions (CSV)",
    predictions.to_csv(index=False).encode("utf-8"),
    file_name=f"predictions-{run_id}.csv",
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
    key="inference_download",
)
