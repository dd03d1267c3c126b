"""Sign-in page: sign in, create an account, confirm it from the emailed link, reset a forgotten password."""

import streamlit as st

from operatorflow import accounts, ui, ui_sign_in
from operatorflow.errors import OperatorFlowError

if ui_sign_in.auth_mode() == "cognito":
    st.title("OperatorFlow")
    ui_sign_in.render_sign_in()
    st.stop()

account_service = ui.get_accounts()

# Each form acts in its submit button's callback, which Streamlit runs before the script. A rerun
# requested while the script runs can cut the run short, and the cookie component requests one
# when it loads. The callback's work survives that, and its outcome waits under `login_outcome_<form>`.


def _outcome(form: str, level: str, message: str | BaseException) -> None:
    st.session_state[f"login_outcome_{form}"] = (level, message)


def _show_outcome(form: str) -> None:
    outcome = st.session_state.pop(f"login_outcome_{form}", None)
    if outcome is None:
        return
    level, message = outcome
    if level == "success":
        st.success(message)
    else:
        ui.show_error(message)


def _sign_in() -> None:
    try:
        user = account_service.sign_in(st.session_state["login_username"], st.session_state["login_password"])
        ui.sign_in_as(user.name)
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        _outcome("sign_in", "error", exc)


def _register() -> None:
    name = accounts.normalize_username(st.session_state["login_new_username"])
    try:
        created = account_service.register(
            st.session_state["login_new_username"], st.session_state["login_email"],
            st.session_state["login_new_password"], st.session_state["login_new_repeat"],
        )
    except accounts.MailNotSent as exc:
        _outcome("register", "error", OperatorFlowError(
            f"Account {name} created. {exc} To send it again, use the Resend confirmation tab."))
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        _outcome("register", "error", exc)
    else:
        _outcome("register", "success", f"Account {created.name} created. Open the link in the email sent to "
                                        f"{created.email} to confirm it, then sign in.")


def _request_reset() -> None:
    try:
        account_service.request_password_reset(st.session_state["login_reset_name"])
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        _outcome("reset", "error", exc)
    else:
        _outcome("reset", "success", "If a local account with that username or email exists, a reset link is on "
                                     "its way. Check the inbox of its email address.")


def _resend() -> None:
    try:
        account_service.resend_confirmation(st.session_state["login_resend_name"])
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        _outcome("resend", "error", exc)
    else:
        _outcome("resend", "success", "If an unconfirmed account with that username or email exists, a new "
                                      "confirmation link is on its way.")


def _set_new_password(token: str) -> None:
    try:
        user = account_service.reset_password(token, st.session_state["login_reset_password"],
                                              st.session_state["login_reset_repeat"])
    except Exception as exc:  # noqa: BLE001 - show_error tells product errors from bugs
        _outcome("new_password", "error", exc)
    else:
        del st.query_params[accounts.RESET_PARAM]
        st.session_state.pop("login_link_message", None)
        _outcome("link", "success", f"Password changed for {user.name}. Sign in with the new password.")


st.title("OperatorFlow")
st.caption("Run Spark notebooks and ML pipelines without touching infrastructure.")

# The emailed links open this page with ?confirm=TOKEN or ?reset=TOKEN. A confirmation token works
# once, so the parameter is removed at once and the outcome kept for the runs that follow.
confirm_token = st.query_params.get(accounts.CONFIRM_PARAM)
if confirm_token:
    del st.query_params[accounts.CONFIRM_PARAM]
    try:
        confirmed = account_service.confirm_email(confirm_token)
    except OperatorFlowError as exc:
        st.session_state["login_link_message"] = ("error", str(exc))
    else:
        st.session_state["login_link_message"] = (
            "success", f"Email address confirmed for {confirmed.name}. Sign in below.")
link_message = st.session_state.get("login_link_message")
if link_message:
    level, text = link_message
    (st.success if level == "success" else st.error)(text)
_show_outcome("link")

reset_token = st.query_params.get(accounts.RESET_PARAM)
if reset_token:
    st.subheader("Choose a new password")
    st.caption(f"Passwords: {accounts.PASSWORD_RULE}.")
    with st.form("login_new_password"):
        st.text_input("New password", type="password", key="login_reset_password")
        st.text_input("Repeat new password", type="password", key="login_reset_repeat")
        st.form_submit_button("Set password", on_click=_set_new_password, args=(reset_token,))
    _show_outcome("new_password")
    st.stop()

sign_in, create, reset, resend = st.tabs(["Sign in", "Create account", "Reset password", "Resend confirmation"])

with sign_in:
    with st.form("login_sign_in"):
        st.text_input("Username", key="login_username")
        st.text_input("Password", type="password", key="login_password")
        st.form_submit_button("Sign in", on_click=_sign_in)
    _show_outcome("sign_in")

with create:
    st.caption(f"Usernames: {accounts.USERNAME_RULE}. Passwords: {accounts.PASSWORD_RULE}.")
    with st.form("login_register"):
        st.text_input("Username", key="login_new_username")
        st.text_input("Email", key="login_email")
        st.text_input("Password", type="password", key="login_new_password")
        st.text_input("Repeat password", type="password", key="login_new_repeat")
        st.form_submit_button("Create account", on_click=_register)
    _show_outcome("register")

with reset:
    with st.form("login_reset"):
        st.text_input("Username or email", key="login_reset_name")
        st.form_submit_button("Send reset link", on_click=_request_reset)
    _show_outcome("reset")

with resend:
    with st.form("login_resend"):
        st.text_input("Username or email", key="login_resend_name")
        st.form_submit_button("Resend confirmation", on_click=_resend)
    _show_outcome("resend")
