"""The "Build and push an image" section of KubeFlow: the build form, the live job log and the pushed images."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from operatorflow import ui
from operatorflow.errors import OperatorFlowError
from operatorflow.images import ImageJobStatus, ImageService, parse_build_args
from operatorflow.service import OperatorFlow

JOB_STATUS_COLORS = {
    ImageJobStatus.RUNNING: "blue",
    ImageJobStatus.SUCCEEDED: "green",
    ImageJobStatus.FAILED: "red",
}
LOG_TAIL_BYTES = 20_000
"""Bytes from the end of a job's log that the page shows."""


@st.cache_resource(show_spinner=False)
def get_image_service(_service: OperatorFlow) -> ImageService:
    """Return the process-wide image service, whose job records every session shares.

    It stores no credentials: each push fetches them and drops them when it ends.
    """
    return ImageService(_service.settings, clock=_service.clock)


def render_image_builds(service: OperatorFlow, user: str) -> None:
    """Draw the build form, the user's latest build or push with its live log, and the pushed images."""
    images = get_image_service(service)
    st.subheader("Build and push an image")
    registry = service.settings.registry_url
    if registry:
        st.caption(f"Builds a folder on the server with podman, buildah or Docker and pushes the image under {registry}.")
    else:
        st.caption("Builds a folder on the server with podman, buildah or Docker. No registry is set, so images "
                   "stay on the server: set OPERATORFLOW_REGISTRY_URL to push them.")
    # A missing tool is shown before the form is filled in, not only after Build is pressed.
    try:
        images.get_builder()
    except OperatorFlowError as exc:
        st.warning(str(exc))

    with st.form("kubeflow_image_form"):
        context = st.text_input(
            "Build folder on the server", key="kubeflow_image_context",
            help="A folder with a Dockerfile or Containerfile, inside "
                 + ", ".join(str(root) for root in images.list_build_roots()) + ". Relative paths start at "
                 + str(service.settings.project_dir) + ".",
        )
        tag = st.text_input("Image name and tag", key="kubeflow_image_tag", placeholder="sample:1.0",
                            help="The registry path is added in front, and the tag defaults to latest.")
        build_args = st.text_area("Build arguments", key="kubeflow_image_build_args", height=68,
                                  help="One KEY=VALUE per line, for the Dockerfile's ARG instructions.")
        build_column, push_column = st.columns(2)
        build = build_column.form_submit_button("Build", icon=":material/construction:", width="stretch")
        push = push_column.form_submit_button("Push", icon=":material/upload:", width="stretch")

    if build:
        try:
            arguments = parse_build_args(build_args.splitlines())
            job = images.submit_build(user, context, tag, arguments)
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            st.success(f"Building {job.image} as job {job.id}; the log follows below.")
    if push:
        try:
            job = images.submit_push(user, tag)
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            st.success(f"Pushing {job.image} as job {job.id}; the log follows below.")

    jobs = images.jobs.list_jobs(user)
    if jobs:
        latest = jobs[0]
        # The fragment reruns on its own only while the job runs, so a finished log stays still.
        run_every = ui.LIVE_REFRESH_SECONDS if latest.is_active else None
        st.fragment(_render_job, run_every=run_every)(images, user, latest.id, latest.is_active)
    else:
        st.caption("No builds or pushes yet: fill in the folder and the tag, then press Build.")

    _render_pushed_images(images)


def _render_job(images: ImageService, user: str, job_id: str, was_active: bool) -> None:
    job = images.jobs.get_job(user, job_id)
    if was_active and not job.is_active:
        # Rerun the whole page once, so the timer stops and the image list shows a new push.
        st.rerun(scope="app")
    with st.container(border=True, key="kubeflow_image_job"):
        title, badge = st.columns([5, 1], vertical_alignment="center")
        title.markdown(f"**{job.action.value.capitalize()}** of `{job.image}` · job `{job.id}` · "
                       f"started {ui.format_time(job.created_at)}")
        with badge:
            st.badge(job.status.value, color=JOB_STATUS_COLORS[job.status])  # type: ignore[arg-type]
        if job.error_message:
            st.error(job.error_message)
        st.code(images.jobs.read_job_log(user, job.id, LOG_TAIL_BYTES) or "(no output yet)", language=None)


def _render_pushed_images(images: ImageService) -> None:
    st.markdown("**Pushed images**")
    try:
        references = images.list_pushed_images()
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        ui.show_error(exc)
        return
    if not references:
        st.caption("No pushed images under the registry path yet.")
        return
    st.dataframe(pd.DataFrame({"image": references}), hide_index=True, width="stretch",
                 key="kubeflow_pushed_images")

