"""Streamlit section "Run a container image": the form for container workflows and their runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from operatorflow import ui
from operatorflow.errors import OperatorFlowError
from operatorflow.containers.spec import BUILTIN_NAME, RESOURCE_PARAMETERS
from operatorflow.registry import Run
from operatorflow.service import OperatorFlow
from operatorflow.workflows import Workflow, WorkflowKind

KEY = "kubeflow_container"
_RESOURCE_LABELS = {
    "cpu": "CPUs",
    "memory": "Memory",
    "ephemeral_storage": "Ephemeral storage",
    "gpu_count": "GPUs",
    "gpu_type": "GPU type",
}


def list_images(service: OperatorFlow) -> list[str]:
    """Return the images pushed to this installation's registry, to offer in the image picker.

    A registry that cannot be listed gives an empty list and a caption saying why, so the image can
    still be typed in.
    """
    from operatorflow import ui_images

    try:
        return ui_images.get_image_service(service).list_pushed_images()
    except OperatorFlowError as exc:
        st.caption(f"Pushed images cannot be listed: {exc}")
        return []


def render_container_section(service: OperatorFlow, user: str) -> None:
    """Draw the container-workflow picker, its run form and the user's runs of the picked workflow."""
    st.header("Run a container image")
    st.caption(
        "Run any image with your command, arguments and resources. The input is mounted read-only at "
        "INPUT_PATH, the output folder read-write at OUTPUT_PATH; {input} and {output} in the arguments "
        "are those paths."
    )
    ui.show_catalog_problems(service, WorkflowKind.CONTAINER)
    workflows = {workflow.name: workflow for workflow in service.list_workflows(WorkflowKind.CONTAINER)}
    name = st.selectbox("Container workflow", list(workflows), key=f"{KEY}_workflow")
    workflow = workflows[name]
    if workflow.description:
        st.caption(workflow.description)

    with st.form(f"{KEY}_run_form"):
        if workflow.name == BUILTIN_NAME:
            values = _image_inputs(service, workflow)
        else:
            values = {
                p.name: ui.parameter_input(p, key=f"{KEY}_param_{workflow.name}_{p.name}")
                for p in workflow.parameters
                if p.name not in RESOURCE_PARAMETERS
            }
        values.update(_resource_inputs(workflow))
        output_location = st.text_input(
            "Output location",
            value=service.default_output_location(workflow.name),
            help="A folder or s3://bucket/prefix, mounted at OUTPUT_PATH. {run_id} is replaced by the new run's id.",
            key=f"{KEY}_output_{workflow.name}",
        )
        engine = st.selectbox("Engine", service.list_engines(workflow.name), key=f"{KEY}_engine_{workflow.name}")
        submitted = st.form_submit_button("Run container", type="primary", icon=":material/play_arrow:")

    if submitted:
        try:
            run = service.submit_run(user, workflow.name, values, output_location=output_location, engine=engine)
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            st.success(f"Run {run.id} of {workflow.name} is queued on {run.engine}; its outputs go to {run.output_location}.")
            st.session_state[f"{KEY}_selected_run"] = run.id

    ui.render_workflow_runs(service, user, workflow.name, key_prefix=KEY,
                            empty_hint="No container runs yet: fill in the image and press Run container.",
                            render_result=render_container_result)


def _image_inputs(service: OperatorFlow, workflow: Workflow) -> dict[str, str]:
    key = f"{KEY}_param_{workflow.name}"
    images = list_images(service)
    if images:
        image = st.selectbox("Image", images, index=None, accept_new_options=True, key=f"{key}_image",
                             placeholder="Pick a pushed image or type a name") or ""
    else:
        image = st.text_input("Image", key=f"{key}_image", placeholder="registry.example.com/team/tool:1.0")
    command = st.text_input("Command", key=f"{key}_command", placeholder="sh -c",
                            help="Replaces the image's entrypoint: shell-like words or a JSON list. Empty keeps it.")
    args = st.text_area("Arguments", key=f"{key}_args", height=80,
                        placeholder='"wc -l {input}/* > {output}/counts.txt"',
                        help="Shell-like words or a JSON list; quote an argument that contains spaces. "
                             "Empty keeps the image's own.")
    env = st.text_area("Environment", key=f"{key}_env", height=80, placeholder="KEY=VALUE, one per line")
    input_location = st.text_input("Input location", key=f"{key}_input",
                                   help="A folder, a file or s3://bucket/prefix, mounted read-only. Optional.")
    return {"image": image, "command": command, "args": args, "env": env, "input": input_location}


def _resource_inputs(workflow: Workflow) -> dict[str, str]:
    parameters = {p.name: p for p in workflow.parameters if p.name in RESOURCE_PARAMETERS}
    columns = st.columns(len(parameters))
    return {
        name: column.text_input(_RESOURCE_LABELS[name], value=parameter.default, help=parameter.label,
                                key=f"{KEY}_param_{workflow.name}_{name}")
        for column, (name, parameter) in zip(columns, parameters.items())
    }


def render_container_result(service: OperatorFlow, user: str, run: Run) -> None:
    """Draw a finished container run: image, exit code and the objects it wrote."""
    result = service.get_run_result(user, run.id)
    if isinstance(result, dict):
        st.caption(f"Image {result.get('image', '?')} exited with code {result.get('exit_code', '?')}.")
    st.markdown("**Output objects**")
    objects = service.list_output_objects(user, run.id)
    if not objects:
        st.caption(f"No objects under {run.output_location}.")
        return
    base = run.output_location.rstrip("/") + "/"
    frame = pd.DataFrame([(location.removeprefix(base), location) for location in objects],
                         columns=["object", "location"])
    st.dataframe(frame, hide_index=True, width="stretch")
