"""Streamlit section for periodic schedules of a workflow: the form to create one and the user's schedules."""

from __future__ import annotations

import zoneinfo

import streamlit as st

from operatorflow import ui
from operatorflow.errors import OperatorFlowError
from operatorflow.schedules import CRON_EXAMPLE, DEFAULT_TIMEZONE, ScheduleView
from operatorflow.service import OperatorFlow
from operatorflow.workflows import Workflow

_TIMEZONES = sorted(zoneinfo.available_timezones())


def render_schedules(service: OperatorFlow, user: str, workflow: Workflow, key_prefix: str) -> None:
    """Draw the schedule form for `workflow` and the user's schedules of workflows of the same kind."""
    st.subheader("Schedules")
    st.caption(
        "Run this notebook periodically. Times are cron expressions in the chosen time zone. Slots missed "
        "while no worker ran are caught up once: the latest one runs, the older ones are skipped and counted."
    )
    with st.expander(f"New schedule for {workflow.name}"):
        _schedule_form(service, user, workflow, key_prefix)

    views = [v for v in service.schedules.list_schedules(user) if v.schedule.kind == workflow.kind.value]
    if not views:
        st.caption("No schedules yet: open the form above to create one.")
        return
    for view in views:
        _schedule_row(service, user, view, key_prefix)


def _schedule_form(service: OperatorFlow, user: str, workflow: Workflow, key_prefix: str) -> None:
    with st.form(f"{key_prefix}_schedule_form"):
        cron = st.text_input("Cron expression", value="0 3 * * *", key=f"{key_prefix}_schedule_cron",
                             help=f"Minute hour day-of-month month day-of-week, for example {CRON_EXAMPLE}.")
        timezone = st.selectbox("Time zone", _TIMEZONES, index=_TIMEZONES.index(DEFAULT_TIMEZONE),
                                key=f"{key_prefix}_schedule_timezone")
        values = {
            p.name: ui.parameter_input(p, key=f"{key_prefix}_schedule_param_{workflow.name}_{p.name}")
            for p in workflow.parameters
        }
        engine = st.selectbox("Engine", service.list_engines(workflow.name),
                              key=f"{key_prefix}_schedule_engine_{workflow.name}",
                              help="On Databricks the schedule becomes a Databricks job with a schedule.")
        created = st.form_submit_button("Create schedule", icon=":material/schedule:")

    if not created:
        return
    try:
        schedule = service.schedules.create_schedule(user, workflow.name, cron, timezone, values, engine=engine)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
        return
    st.success(f"Schedule {schedule.id} of {workflow.name} created ({schedule.cron}, {schedule.timezone}).")


def _schedule_row(service: OperatorFlow, user: str, view: ScheduleView, key_prefix: str) -> None:
    schedule = view.schedule
    with st.container(border=True, key=f"{key_prefix}_schedule_{schedule.id}"):
        title, badge = st.columns([4, 1], vertical_alignment="center")
        title.markdown(f"**{schedule.workflow}** · `{schedule.cron}` · {schedule.timezone} · id `{schedule.id}`")
        with badge:
            st.badge("PAUSED" if schedule.paused else "ACTIVE", color="orange" if schedule.paused else "green")

        if schedule.paused:
            st.caption("Paused: no runs until it is resumed, then it continues from the next slot.")
        else:
            times = ", ".join(ui.format_time(t) for t in view.next_run_times) or "—"
            st.caption(f"Next runs: {times}")
        parameters = ", ".join(f"{k}={v}" for k, v in sorted(schedule.parameters.items()))
        st.caption(f"Parameters: {parameters or 'none'} · last run: {schedule.last_run_id or '—'}")
        if schedule.missed_slots:
            st.warning(f"{schedule.missed_slots} slot(s) were missed while no worker ran and were skipped; "
                       "only the latest missed slot ran.", icon=":material/history:")
        if schedule.last_error:
            st.error(schedule.last_error)

        toggle, delete = st.columns(2)
        label = "Resume" if schedule.paused else "Pause"
        if toggle.button(label, key=f"{key_prefix}_schedule_toggle_{schedule.id}"):
            _act(service.schedules.resume_schedule if schedule.paused else service.schedules.pause_schedule,
                 user, schedule.id)
        if delete.button("Delete", key=f"{key_prefix}_schedule_delete_{schedule.id}"):
            _act(service.schedules.delete_schedule, user, schedule.id)


def _act(action, user: str, schedule_id: str) -> None:
    try:
        action(user, schedule_id)
    except OperatorFlowError as exc:
        ui.show_error(exc)
        return
    st.rerun()

