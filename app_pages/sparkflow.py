"""SparkFlow: run Spark notebooks from the catalog and follow their runs."""

import pandas as pd
import streamlit as st

from operatorflow import ui, ui_databricks, ui_schedules
from operatorflow.workflows import WorkflowKind

user = ui.require_user()
service = ui.get_service()
st.title("SparkFlow")
st.caption("Run a Spark notebook with your parameters; the run starts on the Spark engine within seconds.")

ui.show_catalog_problems(service, WorkflowKind.NOTEBOOK)
notebooks = {workflow.name: workflow for workflow in service.list_workflows(WorkflowKind.NOTEBOOK)}
if not notebooks:
    st.info(f"The catalog has no notebooks: add one under {service.settings.catalog_dir / 'notebooks'}.")
    st.stop()

# Filled at the end, so a run queued further down already counts in the catalog's status.
catalog = st.empty()

name = st.selectbox("Notebook", list(notebooks), key="sparkflow_notebook")
workflow = notebooks[name]

with st.form("sparkflow_run_form"):
    st.markdown(f"**Parameters of {workflow.name}**")
    values = {
        p.name: ui.parameter_input(p, key=f"sparkflow_param_{workflow.name}_{p.name}") for p in workflow.parameters
    }
    engine = st.selectbox("Engine", service.list_engines(workflow.name), key=f"sparkflow_engine_{workflow.name}")
    submitted = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if submitted:
    try:
        run = service.submit_run(user, workflow.name, values, engine=engine)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
    else:
        st.success(f"Run {run.id} of {workflow.name} is queued.")
        st.session_state["sparkflow_selected_run"] = run.id

statuses = service.list_workflow_statuses(user, WorkflowKind.NOTEBOOK)
catalog.dataframe(
    pd.DataFrame(
        [
            {
                "notebook": s.workflow.name,
                "description": s.workflow.description,
                "status": s.status,
                "last run": f"{s.last_run.id} · {s.last_run.status.value}" if s.last_run else "—",
            }
            for s in statuses
        ]
    ),
    hide_index=True,
    width="stretch",
)

# Schedules and the workspace come before the runs, whose list can grow long.
ui_schedules.render_schedules(service, user, workflow, key_prefix="sparkflow")
ui_databricks.render_databricks_workspace(service, user)

ui.render_workflow_runs(service, user, workflow.name, key_prefix="sparkflow",
                        empty_hint="No runs yet: set the parameters and press Run.", render_result=ui.render_notebook_result)
