"""Monitoring: your queued, running and finished runs, with charts of runs over time and durations."""

import plotly.express as px
import streamlit as st

from operatorflow import ui
from operatorflow.status import RunStatus

REFRESH_SECONDS = 3
MAX_RUNS = 500
GROUPS = [
    ("Queued", [RunStatus.QUEUED]),
    ("Running", [RunStatus.RUNNING, RunStatus.CANCELLING]),
    ("Finished", [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELED]),
]

user = ui.require_user()
service = ui.get_service()
st.title("Monitoring")
st.caption(f"Your runs and those shared with you (every run for an administrator), newest first "
           f"(at most {MAX_RUNS}); this page refreshes every {REFRESH_SECONDS} s.")


@st.fragment(run_every=REFRESH_SECONDS)
def show_runs() -> None:
    try:
        runs = service.list_runs(user, limit=MAX_RUNS)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
        return
    if not runs:
        st.info("You have no runs yet: start one on the SparkFlow or KubeFlow page.")
        return

    for title, statuses in GROUPS:
        group = [run for run in runs if run.status in statuses]
        st.subheader(f"{title} ({len(group)})")
        if group:
            st.dataframe(ui.runs_frame(group), hide_index=True, width="stretch")
        else:
            st.caption(f"No {title.lower()} runs.")

    frame = ui.runs_frame(runs)
    # Hours as text on a category axis: a time axis would draw one hour of runs as a hair-thin bar.
    frame["hour"] = [f"{run.created_at:%Y-%m-%d %H}:00" for run in runs]
    per_hour = frame.groupby(["hour", "status"], as_index=False).size().rename(columns={"size": "runs"})
    over_time = px.bar(per_hour.sort_values("hour"), x="hour", y="runs", color="status",
                       title="Runs created per hour (UTC)", color_discrete_map=ui.STATUS_CHART_COLORS)
    over_time.update_xaxes(type="category")
    left, right = st.columns(2)
    left.plotly_chart(over_time, key="monitoring_runs_over_time")

    finished = frame.dropna(subset=["duration (s)"])
    if finished.empty:
        right.caption("Durations appear once a run has finished.")
        return
    durations = px.strip(finished, x="workflow", y="duration (s)", color="status", hover_data=["run"],
                         title="Run durations per workflow", color_discrete_map=ui.STATUS_CHART_COLORS)
    right.plotly_chart(durations, key="monitoring_durations")


show_runs()
