"""Home page: one tile per part of OperatorFlow."""

import streamlit as st

from operatorflow import ui

user = ui.require_user()
st.title("OperatorFlow")
st.caption(f"Welcome, {user}. Pick what you want to do.")

TILES = [
    ("app_pages/sparkflow.py", "SparkFlow", ":material/bolt:",
     "Run Spark notebooks, such as the Shakespeare word count, and see their results."),
    ("app_pages/kubeflow.py", "KubeFlow", ":material/account_tree:",
     "Run ML pipelines, such as the taxi tip trainer, and see their metrics and outputs."),
    ("app_pages/inference.py", "Inference", ":material/model_training:",
     "Upload a CSV and get predictions from a model that one of your pipeline runs trained."),
    ("app_pages/monitoring.py", "Monitoring", ":material/monitoring:",
     "Follow your queued, running and finished runs, with charts of runs over time and durations."),
]

for row in (TILES[:2], TILES[2:]):
    for column, (page, title, icon, line) in zip(st.columns(2), row):
        with column.container(border=True):
            st.subheader(title)
            st.write(line)
            st.page_link(page, label=f"Open {title}", icon=icon)
