"""Streamlit controls to share a run, or one's runs of a workflow, with other users and to revoke grants.

The controls appear only to users who may grant, but every change still goes through the service's check.
"""

from __future__ import annotations

import streamlit as st

from operatorflow.access import Grant
from operatorflow.errors import OperatorFlowError
from operatorflow.registry import Run
from operatorflow.service import OperatorFlow

_PERMISSIONS = {"view": "View runs, logs and outputs", "run": "View and re-run"}


def render_run_sharing(service: OperatorFlow, user: str, run: Run) -> None:
    """Draw a "Sharing" expander for one run, for its owner and administrators only."""
    if not service.can(user, "grant", run):
        return
    with st.expander("Sharing"):
        _render_grants(service, user, "run", run.id, key=f"run_sharing_{run.id}")


def render_workflow_sharing(service: OperatorFlow, user: str, workflow_name: str, key_prefix: str) -> None:
    """Draw a "Sharing" expander that shares all of the user's runs of a workflow, also later ones."""
    with st.expander(f"Share your runs of {workflow_name}"):
        _render_grants(service, user, "workflow", workflow_name, key=f"{key_prefix}_sharing_{workflow_name}")


def render_output_download(service: OperatorFlow, user: str, run: Run, objects: list[str]) -> None:
    """Draw a picker and a download for one output object, fetched through the service's access check.

    A local object is read into the page; an S3 object gets a short-lived download URL instead.
    """
    base = run.output_location.rstrip("/") + "/"
    picked, action = st.columns([4, 1], vertical_alignment="bottom")
    location = picked.selectbox("Object to download", objects, format_func=lambda item: item.removeprefix(base),
                                key=f"run_download_{run.id}")
    name = location.rsplit("/", 1)[-1]
    try:
        if location.startswith("s3://"):
            url = service.get_output_download_url(user, run.id, location)
            action.link_button("Download", url, icon=":material/download:")
        else:
            data = service.read_output_object(user, run.id, location)
            action.download_button("Download", data, file_name=name, on_click="ignore",
                                   icon=":material/download:", key=f"run_download_button_{run.id}")
    except OperatorFlowError as exc:
        st.error(str(exc))


def _render_grants(service: OperatorFlow, user: str, object_type: str, object_id: str, key: str) -> None:
    try:
        grants = service.list_grants(user, object_type, object_id)
    except OperatorFlowError as exc:
        st.error(str(exc))
        return

    if not grants:
        st.caption("Not shared with anyone.")
    for grant in grants:
        text, button = st.columns([4, 1], vertical_alignment="center")
        text.write(f"**{grant.grantee}** · {_PERMISSIONS.get(grant.permission, grant.permission)}")
        if button.button("Revoke", key=f"{key}_revoke_{grant.grantee}"):
            _revoke(service, user, grant)

    with st.form(f"{key}_form", clear_on_submit=True):
        grantee = st.text_input("User", key=f"{key}_grantee", placeholder="user name")
        permission = st.selectbox("Permission", list(_PERMISSIONS), format_func=_PERMISSIONS.get,
                                  key=f"{key}_permission")
        submitted = st.form_submit_button("Share", icon=":material/share:")
    if submitted:
        try:
            service.grant_access(user, object_type, object_id, grantee, permission)
        except OperatorFlowError as exc:
            st.error(str(exc))
        else:
            st.success(f"Shared with {grantee.strip()}.")


def _revoke(service: OperatorFlow, user: str, grant: Grant) -> None:
    try:
        service.revoke_access(user, grant.object_type, grant.object_id, grant.grantee, owner=grant.owner)
    except OperatorFlowError as exc:
        st.error(str(exc))
        return
    st.rerun()
