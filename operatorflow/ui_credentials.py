"""Streamlit sections of the Settings page: stored credentials with masked values, and the form to store one."""

from __future__ import annotations

import streamlit as st

from operatorflow import ui
from operatorflow.credentials import STANDARD_NAMES, CredentialInfo
from operatorflow.errors import OperatorFlowError
from operatorflow.service import OperatorFlow

_NOTICE_KEY = "settings_notice"


def render_credentials(service: OperatorFlow, user: str, shared: bool) -> None:
    """Draw one scope's credentials with a delete button each, then the form that stores or replaces one."""
    prefix = "settings_shared" if shared else "settings_own"
    notice = st.session_state.pop(f"{_NOTICE_KEY}_{prefix}", None)
    if notice:
        st.success(notice)

    try:
        infos = service.credentials.list_credentials(user, shared=shared)
    except OperatorFlowError as exc:
        ui.show_error(exc)
        infos = None
    if infos == []:
        st.caption("None stored yet.")
    for info in infos or []:
        _credential_row(service, user, info, shared, prefix)

    _credential_form(service, user, shared, prefix)


def _credential_row(service: OperatorFlow, user: str, info: CredentialInfo, shared: bool, prefix: str) -> None:
    name, value, updated, action = st.columns([3, 2, 4, 1], vertical_alignment="center")
    name.markdown(f"**{info.name}**")
    value.code(info.preview, language=None)
    updated.caption(f"Updated {ui.format_time(info.updated_at)} by {info.updated_by}")
    if action.button("Delete", key=f"{prefix}_delete_{info.name}", icon=":material/delete:"):
        try:
            service.credentials.delete_credential(user, info.name, shared=shared)
        except OperatorFlowError as exc:
            ui.show_error(exc)
            return
        st.session_state[f"{_NOTICE_KEY}_{prefix}"] = f"Deleted {info.name}."
        st.rerun()


def _credential_form(service: OperatorFlow, user: str, shared: bool, prefix: str) -> None:
    # clear_on_submit: the browser empties the password field after saving, so the secret is not left on screen.
    with st.form(f"{prefix}_form", clear_on_submit=True):
        name = st.selectbox("Credential", STANDARD_NAMES, key=f"{prefix}_name",
                            help="Storing a name that exists replaces its value.")
        value = st.text_input("Value", type="password", key=f"{prefix}_value",
                              help="Shown again as at most its last 4 characters.")
        submitted = st.form_submit_button("Save", icon=":material/lock:")
    if not submitted:
        return
    try:
        service.credentials.set_credential(user, name, value, shared=shared)
    except OperatorFlowError as exc:
        ui.show_error(exc)
        return
    st.session_state[f"{_NOTICE_KEY}_{prefix}"] = f"Stored {name}."
    st.rerun()
