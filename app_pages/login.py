"""Sign-in page: sign in, create an account, confirm it from the emailed link, reset a forgotten password."""

import streamlit as st

from operatorflow import accounts, ui
from operatorflow.errors import OperatorFlowError

account_service = ui.get_accounts()

st.title("OperatorFlow")
st.caption("Run Spark notebooks and ML pipelines without touching infrastructure.")

# The emailed links open this page with ?confirm=TOKEN or ?reset=TOKEN. A confirmation token is
# used once, so the parameter is removed at once and the outcome kept for the reruns that follow.
confirm_token = st.query_params.get(accounts.CONFIRM_PARAM)
if confirm_token:
    del st.query_params[accounts.CONFIRM_PARAM]
    try:
        confirmed = account_service.confirm_email(confirm_token)
    except OperatorFlowError as exc:
        st.session_state["login_confirm_outcome"] = ("error", str(exc))
    else:
        st.session_state["login_confirm_outcome"] = (
            "success", f"Email address confirmed for {confirmed.name}. Sign in below.")
outcome = st.session_state.get("login_confirm_outcome")
if outcome:
    kind, message = outcome
    (st.success if kind == "success" else st.error)(message)

reset_token = st.query_params.get(accounts.RESET_PARAM)
if reset_token:
    st.subheader("Choose a new password")
    st.caption(f"Passwords: {accounts.PASSWORD_RULE}.")
    with st.form("login_new_password"):
        new_password = st.text_input("New password", type="password")
        new_repeat = st.text_input("Repeat new password", type="password")
        submitted = st.form_submit_button("Set password")
    if submitted:
        try:
            user = account_service.reset_password(reset_token, new_password, new_repeat)
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            del st.query_params[accounts.RESET_PARAM]
            st.session_state["login_confirm_outcome"] = (
                "success", f"Password changed for {user.name}. Sign in with the new password.")
            st.rerun()
    st.stop()

sign_in, create, reset, resend = st.tabs(["Sign in", "Create account", "Reset password", "Resend confirmation"])

with sign_in:
    with st.form("login_sign_in"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        try:
            user = account_service.sign_in(username, password)
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            st.session_state.pop("login_confirm_outcome", None)
            ui.sign_in_as(user.name)

with create:
    st.caption(f"Usernames: {accounts.USERNAME_RULE}. Passwords: {accounts.PASSWORD_RULE}.")
    with st.form("login_register", clear_on_submit=False):
        new_username = st.text_input("Username")
        email = st.text_input("Email")
        chosen_password = st.text_input("Password", type="password")
        repeat = st.text_input("Repeat password", type="password")
        submitted = st.form_submit_button("Create account")
    if submitted:
        try:
            created = account_service.register(new_username, email, chosen_password, repeat)
        except accounts.MailNotSent as exc:
            st.error(f"Account {accounts.normalize_username(new_username)} created. {exc} "
                     "To send it again, use the Resend confirmation tab.")
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            st.success(f"Account {created.name} created. Open the link in the email sent to {created.email} "
                       "to confirm it, then sign in.")

with reset:
    with st.form("login_reset"):
        reset_name = st.text_input("Username or email", key="login_reset_name")
        submitted = st.form_submit_button("Send reset link")
    if submitted:
        try:
            account_service.request_password_reset(reset_name)
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            st.success("If a local account with that username or email exists, a reset link is on its way. "
                       "Check the inbox of its email address.")

with resend:
    with st.form("login_resend"):
        resend_name = st.text_input("Username or email", key="login_resend_name")
        submitted = st.form_submit_button("Resend confirmation")
    if submitted:
        try:
            account_service.resend_confirmation(resend_name)
        except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
            ui.show_error(exc)
        else:
            st.success("If an unconfirmed account with that username or email exists, a new confirmation link "
                       "is on its way.")
