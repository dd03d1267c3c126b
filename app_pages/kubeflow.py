"""KubeFlow: run ML pipelines from the catalog and see their metrics and outputs."""

import streamlit as st

from operatorflow import ui, ui_containers, ui_images, ui_training
from operatorflow.engines.kubeflow import SERVER_WORKFLOW_PREFIX
from operatorflow.errors import OperatorFlowError
from operatorflow.extras import declared_extras
from operatorflow.status import ACTIVE_STATUSES
from operatorflow.ui_kubeflow import get_kubeflow_catalog, list_server_pipeline_names
from operatorflow.workflows import WorkflowKind

INPUT_PARAMETER = "input_path"

user = ui.require_user()
service = ui.get_service()
st.title("KubeFlow")
st.caption("Run a Kubeflow pipeline with your input and output locations; its steps run on the pipeline engine.")

ui.show_catalog_problems(service, WorkflowKind.PIPELINE)
pipelines = {workflow.name: workflow for workflow in service.list_workflows(WorkflowKind.PIPELINE)}
kubeflow_catalog = get_kubeflow_catalog(service)
server_names = list_server_pipeline_names(kubeflow_catalog, user)
if not pipelines and not server_names:
    st.info(f"The catalog has no pipelines: add one under {service.settings.catalog_dir / 'pipelines'}.")
    st.stop()


def _pipeline_label(option: str) -> str:
    if option.startswith(SERVER_WORKFLOW_PREFIX):
        return f"{option.removeprefix(SERVER_WORKFLOW_PREFIX)} (stored on Kubeflow)"
    return option


choice, badge = st.columns([5, 1], vertical_alignment="bottom")
# A pipeline that needs an optional extra is not the first pick, because a fresh install lacks the extra.
first = next((i for i, w in enumerate(pipelines.values()) if not declared_extras(w.path)), 0)
name = choice.selectbox("Pipeline", [*pipelines, *server_names], index=first, format_func=_pipeline_label,
                        key="kubeflow_pipeline")
on_server = name not in pipelines
if on_server:
    try:
        workflow = kubeflow_catalog.get_server_workflow(user, name)
    except OperatorFlowError as exc:
        ui.show_error(exc)
        st.stop()
    st.caption("Runs the latest version stored on the Kubeflow server.")
else:
    workflow = pipelines[name]
if workflow.description:
    st.caption(workflow.description)
engines = [workflow.engine] if on_server else service.list_engines(workflow.name)
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
    engine = engines[0]
    if len(engines) > 1:
        engine = st.selectbox("Engine", engines, key=f"kubeflow_engine_{workflow.name}",
                              help="local-pipeline runs the steps on this machine; kubeflow on the Kubeflow server.")
    submitted = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if submitted:
    try:
        if on_server:
            run = kubeflow_catalog.submit_server_pipeline_run(user, workflow.name, values, output_location)
        else:
            run = service.submit_run(user, workflow.name, values, output_location=output_location, engine=engine)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
    else:
        st.success(f"Run {run.id} of {workflow.name} is queued; its outputs go to {run.output_location}.")
        st.session_state["kubeflow_selected_run"] = run.id

# The badge is drawn last, so a run queued above already counts.
current = {s.workflow.name: s.status for s in service.list_workflow_statuses(user, WorkflowKind.PIPELINE)}
if on_server:
    active = service.list_runs(user, workflow=workflow.name, statuses=ACTIVE_STATUSES, limit=1)
    current[name] = "RUNNING" if active else "AVAILABLE"
with badge:
    ui.status_badge(current[name])

ui.render_workflow_runs(service, user, workflow.name, key_prefix="kubeflow",
                        empty_hint="No runs yet: check the locations and press Run.",
                        render_result=ui.render_pipeline_result)

ui_containers.render_container_section(service, user)
ui_images.render_image_builds(service, user)
