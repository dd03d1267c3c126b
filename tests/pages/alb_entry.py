"""Entry script for page tests of the ALB sign-in, run without the app's router.

AppTest cannot send request headers. The test therefore puts the verifier in
`st.session_state["test_alb_verifier"]` and, optionally, the headers to check in
`st.session_state["test_alb_headers"]`. Without them the page reads `st.context.headers`.
"""

import streamlit as st

from operatorflow import ui_alb

verifier = st.session_state["test_alb_verifier"]


def on_signed_in(user_name: str, email: str | None, source: str) -> None:
    st.session_state.setdefault("test_signed_in", []).append((user_name, email, source))


identity = ui_alb.require_alb_identity(verifier, on_signed_in, st.session_state.get("test_alb_headers"))
st.success(f"Signed in as {identity.user_name}")
