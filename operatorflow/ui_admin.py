"""The Administration page: accounts (add, disable, enable) and every access grant (list, revoke).

The router lists the page for administrators only, and every action is checked again by the
account service or the OperatorFlow service, so a stale page cannot act for a user who lost the role.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from operatorflow import ui
from operatorflow.accounts import AccountService
from operatorflow.errors import OperatorFlowError
from operatorflow.service import OperatorFlow

KEY = "admin"


def render_admin_page(service: OperatorFlow, account_service: AccountService, user: str) -> None:
    st.title("Administration")
    try:
        account_service.check_administrator(user, "open the Administration page")
    except OperatorFlowError as exc:
        ui.show_error(exc)
        st.stop()

    _show_outcome()
    _render_users(account_service, user)
    _render_grants(service, user)


def _render_users(account_service: AccountService, user: str) -> None:
    st.header("Accounts")
    users = account_service.users.list_users()
    st.dataframe(pd.DataFrame([{
        "User": u.name,
        "Email": u.email or "",
        "Source": u.source,
        "Administrator": u.is_admin,
        "Disabled": u.disabled,
        "Confirmed": u.confirmed,
        "Created": ui.format_time(u.created_at),
    } for u in users]), hide_index=True, width="stretch")

    names = [u.name for u in users]
    chosen, disable, enable = st.columns([4, 1, 1], vertical_alignment="bottom")
    name = chosen.selectbox("Account", names, index=None, key=f"{KEY}_account", placeholder="Pick an account")
    disable.button("Disable", key=f"{KEY}_disable", disabled=name is None, width="stretch",
                   on_click=_set_disabled, args=(account_service, user, name, True))
    enable.button("Enable", key=f"{KEY}_enable", disabled=name is None, width="stretch",
                  on_click=_set_disabled, args=(account_service, user, name, False))

    with st.form(f"{KEY}_add_user", clear_on_submit=True):
        st.subheader("Add an account")
        st.caption("The account is confirmed at once; a link that sets its password goes to the email address.")
        st.text_input("Username", key=f"{KEY}_new_name")
        st.text_input("Email", key=f"{KEY}_new_email")
        st.checkbox("Administrator", key=f"{KEY}_new_admin")
        st.form_submit_button("Add account", on_click=_add_user, args=(account_service, user))


def _render_grants(service: OperatorFlow, user: str) -> None:
    st.header("Access grants")
    try:
        grants = service.list_grants(user)
    except OperatorFlowError as exc:
        ui.show_error(exc)
        return
    if not grants:
        st.caption("Nobody has shared a run or a workflow yet. Owners share from a run's or a workflow's Sharing section.")
        return

    st.dataframe(pd.DataFrame([{
        "Object": f"{g.object_type} {g.object_id}",
        "Owner": g.owner,
        "Grantee": g.grantee,
        "Permission": g.permission,
        "Granted by": g.granted_by,
        "Granted": ui.format_time(g.created_at),
    } for g in grants]), hide_index=True, width="stretch")
    labels = {g.id: f"{g.object_type} {g.object_id} of {g.owner} → {g.grantee} ({g.permission})" for g in grants}
    chosen, revoke = st.columns([5, 1], vertical_alignment="bottom")
    grant_id = chosen.selectbox("Grant", list(labels), format_func=labels.get, index=None, key=f"{KEY}_grant",
                                placeholder="Pick a grant to revoke")
    grant = next((g for g in grants if g.id == grant_id), None)
    revoke.button("Revoke", key=f"{KEY}_revoke", disabled=grant is None, width="stretch",
                  on_click=_revoke, args=(service, user, grant))


# Button callbacks: they run before the script, so the tables drawn afterwards already show the change.


def _set_disabled(account_service: AccountService, user: str, name: str | None, disabled: bool) -> None:
    if name is None:
        return
    try:
        account_service.check_administrator(user, "disable or enable accounts")
        changed = account_service.set_disabled(name, disabled)
    except OperatorFlowError as exc:
        _outcome("error", exc)
        return
    _outcome("success", f"{changed.name} is {'disabled: its sessions have ended' if changed.disabled else 'enabled'}.")


def _add_user(account_service: AccountService, user: str) -> None:
    state = st.session_state
    try:
        account_service.check_administrator(user, "add accounts")
        added, _link = account_service.add_user(state[f"{KEY}_new_name"], state[f"{KEY}_new_email"],
                                                is_admin=bool(state[f"{KEY}_new_admin"]))
    except OperatorFlowError as exc:
        _outcome("error", exc)
        return
    _outcome("success", f"{added.name} added. A link that sets the password was sent to {added.email}.")


def _revoke(service: OperatorFlow, user: str, grant) -> None:
    if grant is None:
        return
    try:
        service.revoke_access(user, grant.object_type, grant.object_id, grant.grantee, owner=grant.owner)
    except OperatorFlowError as exc:
        _outcome("error", exc)
        return
    _outcome("success", f"Revoked {grant.grantee}'s {grant.permission} access to {grant.object_type} {grant.object_id}.")


def _outcome(level: str, message: str | BaseException) -> None:
    st.session_state[f"{KEY}_outcome"] = (level, message)


def _show_outcome() -> None:
    outcome = st.session_state.pop(f"{KEY}_outcome", None)
    if outcome is None:
        return
    level, message = outcome
    if level == "success":
        st.success(message)
    else:
        ui.show_error(message)
