"""Entry script for page tests of the Cognito forms, run without the app's router.

The test puts a CognitoAccounts in `st.session_state["test_cognito_accounts"]` before the first
run. Each call of `on_signed_in` is appended to `st.session_state["test_signed_in"]`.
"""

import streamlit as st

from operatorflow import ui_cognito

accounts = st.session_state["test_cognito_accounts"]


def on_signed_in(user_name: str, email: str | None, source: str) -> None:
    st.session_state.setdefault("test_signed_in", []).append((user_name, email, source))


session = ui_cognito.refresh_cognito_session(accounts)
if session is None:
    ui_cognito.render_cognito_sign_in(accounts, on_signed_in)
else:
    st.success(f"Signed in as {session.user_name}")
    if st.button("Sign out", key="test_sign_out"):
        ui_cognito.sign_out_cognito(accounts)
        st.rerun()
