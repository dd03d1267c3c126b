"""KubeFlow: run ML pipelines from the catalog and see their metrics and outputs."""

import streamlit as st

from operatorflow import ui, ui_training
from operatorflow.workflows import WorkflowKind

INPUT_PARAMETER = "input_path"

user = ui.require_user()
service = ui.get_service()
st.title("KubeFlow")
st.caption("Run a Kubeflow pipeline with your input and output locations; its steps run on the pipeline engine.")

ui.show_catalog_problems(service, WorkflowKind.PIPELINE)
pipelines = {workflow.name: workflow for workflow in service.list_workflows(WorkflowKind.PIPELINE)}
if not pipelines:
    st.info(f"The catalog has no pipelines: add one under {service.settings.catalog_dir / 'pipelines'}.")
    st.stop()

choice, badge = st.columns([5, 1], vertical_alignment="bottom")
name = choice.selectbox("Pipeline", list(pipelines), key="kubeflow_pipeline")
workflow = pipelines[name]
if workflow.description:
    st.caption(workflow.description)
ui_training.warn_missing_extras(service, workflow)

with st.form("kubeflow_run_form"):
    values = {}
    for parameter in sorted(workflow.parameters, key=lambda p: p.name != INPUT_PARAMETER):
        label = "Input location" if parameter.name == INPUT_PARAMETER else None
        values[parameter.name] = ui.parameter_input(
            parameter, key=f"kubeflow_param_{workflow.name}_{parameter.name}", label=label
        )
    output_location = st.text_input(
        "Output location",
        value=service.default_output_location(workflow.name),
        help="A folder or s3://bucket/prefix. {run_id} is replaced by the new run's id.",
        key=f"kubeflow_output_{workflow.name}",
    )
    submitted = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if submitted:
    try:
        run = service.submit_run(user, workflow.name, values, output_location=output_location)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
    else:
        st.success(f"Run {run.id} of {workflow.name} is queued; its outputs go to {run.output_location}.")
        st.session_state["kubeflow_selected_run"] = run.id

# The badge is drawn last, so a run queued above already counts.
current = {s.workflow.name: s.status for s in service.list_workflow_statuses(user, WorkflowKind.PIPELINE)}
with badge:
    ui.status_badge(current[name])

ui.render_workflow_runs(service, user, workflow.name, key_prefix="kubeflow",
                        empty_hint="No runs yet: check the locations and press Run.",
                        render_result=ui.render_pipeline_result)
