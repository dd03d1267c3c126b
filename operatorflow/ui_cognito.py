"""Streamlit forms for Cognito accounts: sign in, create an account, confirm it, reset a password, set a first password.

Tokens are kept only in `st.session_state` of the browser session that signed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from operatorflow.accounts_cognito import (
    AccountNotConfirmed,
    CodeDelivery,
    CognitoAccounts,
    CognitoSession,
    NewPasswordRequired,
)
from operatorflow.errors import BackendUnavailable, OperatorFlowError, PermissionDenied

logger = logging.getLogger(__name__)

SOURCE = "cognito"

OnSignedIn = Callable[[str, "str | None", str], None]
"""Called once after a successful sign-in with (user name, email or None, "cognito")."""

# Session-state keys of these forms.
SESSION_KEY = "cognito_session"
_STEP_KEY = "cognito_step"
_CHALLENGE_KEY = "cognito_challenge"
_PENDING_USER_KEY = "cognito_pending_user"
_NOTICE_KEY = "cognito_notice"

_STEP_CONFIRM = "confirm"
_STEP_RESET = "reset"
_STEP_NEW_PASSWORD = "new_password"


def get_cognito_accounts() -> CognitoAccounts:
    """Return the process-wide CognitoAccounts built from the app's settings (it contains no user's tokens)."""
    return _cached_cognito_accounts()


@st.cache_resource(show_spinner=False)
def _cached_cognito_accounts() -> CognitoAccounts:
    from operatorflow.clock import Clock
    from operatorflow.settings import load_settings

    return CognitoAccounts(load_settings(), Clock())


def current_cognito_session() -> CognitoSession | None:
    session = st.session_state.get(SESSION_KEY)
    return session if isinstance(session, CognitoSession) else None


def refresh_cognito_session(accounts: CognitoAccounts) -> CognitoSession | None:
    """Renew this session's tokens when they expire soon; call on every script run while signed in.

    Returns None, after clearing the tokens and showing why, when Cognito ended the session.
    NOTE: a browser reload empties `st.session_state`, so this also returns None after a reload.
    A router that restores the sign-in from a cookie of its own then no longer learns of a Cognito revocation.
    """
    session = current_cognito_session()
    if session is None:
        return None

    try:
        renewed = accounts.refresh_if_needed(session)
    except PermissionDenied as exc:
        sign_out_cognito()
        st.warning(str(exc))
        return None
    except BackendUnavailable as exc:
        if accounts.has_expired(session):
            sign_out_cognito()
            st.warning(f"{exc} Your session has expired in the meantime: sign in again once Cognito is reachable.")
            return None
        # The current tokens stay in use until they expire; the next script run tries again.
        logger.warning("cognito token renewal for user %s failed, keeping the current tokens: %s", session.user_name, exc)
        st.warning(str(exc))
        return session
    st.session_state[SESSION_KEY] = renewed
    return renewed


def sign_out_cognito(accounts: CognitoAccounts | None = None) -> None:
    """Forget this browser session's tokens and any sign-in step in progress.

    With `accounts`, the refresh token is also revoked at Cognito. A failed revocation is logged
    and does not stop the sign-out, because the tokens are forgotten here in any case.
    """
    session = current_cognito_session()
    if accounts is not None and session is not None:
        try:
            accounts.revoke(session)
        except OperatorFlowError as exc:
            logger.warning("cognito sign-out of user %s could not revoke the refresh token: %s", session.user_name, exc)
    for key in (SESSION_KEY, _STEP_KEY, _CHALLENGE_KEY, _PENDING_USER_KEY, _NOTICE_KEY):
        st.session_state.pop(key, None)


def render_cognito_sign_in(accounts: CognitoAccounts, on_signed_in: OnSignedIn) -> None:
    """Draw the form of the current sign-in step; after a sign-in, call `on_signed_in` and rerun the app."""
    notice = st.session_state.pop(_NOTICE_KEY, None)
    if notice:
        st.success(notice)

    step = st.session_state.get(_STEP_KEY)
    if step == _STEP_NEW_PASSWORD:
        _new_password_form(accounts, on_signed_in)
    elif step == _STEP_CONFIRM:
        _confirm_form(accounts)
    elif step == _STEP_RESET:
        _reset_form(accounts)
    else:
        sign_in_tab, sign_up_tab, forgot_tab = st.tabs(["Sign in", "Create account", "Forgot password"])
        with sign_in_tab:
            _sign_in_form(accounts, on_signed_in)
        with sign_up_tab:
            _sign_up_form(accounts)
        with forgot_tab:
            _forgot_form(accounts)


def _sign_in_form(accounts: CognitoAccounts, on_signed_in: OnSignedIn) -> None:
    with st.form("cognito_sign_in"):
        user_name = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return

    try:
        result = accounts.sign_in(user_name, password)
    except AccountNotConfirmed as exc:
        _go_to(_STEP_CONFIRM, user_name.strip(), str(exc))
        st.rerun()
    except OperatorFlowError as exc:
        st.error(str(exc))
        return

    if isinstance(result, NewPasswordRequired):
        st.session_state[_CHALLENGE_KEY] = result
        _go_to(_STEP_NEW_PASSWORD, result.user_name, "Choose a new password to finish your first sign-in.")
        st.rerun()
    _finish(result, on_signed_in)


def _sign_up_form(accounts: CognitoAccounts) -> None:
    with st.form("cognito_sign_up"):
        user_name = st.text_input("Username")
        email = st.text_input("Email")
        password = st.text_input("Password", type="password")
        repeat = st.text_input("Repeat password", type="password")
        submitted = st.form_submit_button("Create account")
    if not submitted:
        return
    if not _passwords_match(password, repeat):
        return

    try:
        delivery = accounts.sign_up(user_name, email, password)
    except OperatorFlowError as exc:
        st.error(str(exc))
        return

    if delivery is None:
        st.session_state[_NOTICE_KEY] = "Account created: sign in."
    else:
        _go_to(_STEP_CONFIRM, user_name.strip(), f"Account created. Enter the code sent to {_where(delivery)}.")
    st.rerun()


def _confirm_form(accounts: CognitoAccounts) -> None:
    user_name = st.session_state.get(_PENDING_USER_KEY, "")
    st.subheader(f"Confirm the account {user_name}")
    with st.form("cognito_confirm"):
        code = st.text_input("Confirmation code")
        submitted = st.form_submit_button("Confirm")
    resend = st.button("Send a new code", key="cognito_resend")
    _back_to_sign_in_button("cognito_confirm_back")

    try:
        if resend:
            delivery = accounts.resend_confirmation_code(user_name)
            st.info(f"A new code was sent to {_where(delivery)}.")
        if submitted:
            accounts.confirm_sign_up(user_name, code)
            _go_to(None, None, "Account confirmed: sign in.")
            st.rerun()
    except OperatorFlowError as exc:
        st.error(str(exc))


def _forgot_form(accounts: CognitoAccounts) -> None:
    with st.form("cognito_forgot"):
        user_name = st.text_input("Username")
        submitted = st.form_submit_button("Send reset code")
    if not submitted:
        return

    try:
        delivery = accounts.forgot_password(user_name)
    except OperatorFlowError as exc:
        st.error(str(exc))
        return
    _go_to(_STEP_RESET, user_name.strip(), f"Enter the code sent to {_where(delivery)} and a new password.")
    st.rerun()


def _reset_form(accounts: CognitoAccounts) -> None:
    user_name = st.session_state.get(_PENDING_USER_KEY, "")
    st.subheader(f"New password for {user_name}")
    with st.form("cognito_reset"):
        code = st.text_input("Reset code")
        password = st.text_input("New password", type="password")
        repeat = st.text_input("Repeat new password", type="password")
        submitted = st.form_submit_button("Set password")
    _back_to_sign_in_button("cognito_reset_back")
    if not submitted:
        return
    if not _passwords_match(password, repeat):
        return

    try:
        accounts.confirm_forgot_password(user_name, code, password)
    except OperatorFlowError as exc:
        st.error(str(exc))
        return
    _go_to(None, None, "Password changed: sign in with the new password.")
    st.rerun()


def _new_password_form(accounts: CognitoAccounts, on_signed_in: OnSignedIn) -> None:
    challenge = st.session_state.get(_CHALLENGE_KEY)
    if not isinstance(challenge, NewPasswordRequired):
        sign_out_cognito()
        st.rerun()
    st.subheader(f"Choose a password for {challenge.user_name}")
    with st.form("cognito_new_password"):
        password = st.text_input("New password", type="password")
        repeat = st.text_input("Repeat new password", type="password")
        submitted = st.form_submit_button("Set password and sign in")
    _back_to_sign_in_button("cognito_new_password_back")
    if not submitted:
        return
    if not _passwords_match(password, repeat):
        return

    try:
        session = accounts.complete_new_password(challenge, password)
    except PermissionDenied as exc:
        # The challenge session is spent or expired; only a new sign-in helps.
        sign_out_cognito()
        st.error(str(exc))
        return
    except OperatorFlowError as exc:
        st.error(str(exc))
        return
    st.session_state.pop(_CHALLENGE_KEY, None)
    _finish(session, on_signed_in)


def _finish(session: CognitoSession, on_signed_in: OnSignedIn) -> None:
    st.session_state[SESSION_KEY] = session
    for key in (_STEP_KEY, _PENDING_USER_KEY):
        st.session_state.pop(key, None)
    on_signed_in(session.user_name, session.email, SOURCE)
    st.rerun()


def _passwords_match(password: str, repeat: str) -> bool:
    if password != repeat:
        st.error("The passwords do not match: enter the same password twice.")
        return False
    return True


def _back_to_sign_in_button(key: str) -> None:
    """Draw the button that abandons the current step; a click clears the step and shows the sign-in tabs."""
    if st.button("Back to sign-in", key=key):
        sign_out_cognito()
        st.rerun()


def _go_to(step: str | None, user_name: str | None, notice: str) -> None:
    if step is None:
        st.session_state.pop(_STEP_KEY, None)
        st.session_state.pop(_PENDING_USER_KEY, None)
    else:
        st.session_state[_STEP_KEY] = step
        st.session_state[_PENDING_USER_KEY] = user_name
    st.session_state[_NOTICE_KEY] = notice


def _where(delivery: CodeDelivery) -> str:
    return f"{delivery.destination} ({delivery.medium.lower()})"
