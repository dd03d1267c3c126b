"""Entry script for the browser test of the ALB sign-in: the settings come from OPERATORFLOW_* variables."""

import streamlit as st

from operatorflow import ui_alb


def on_signed_in(user_name: str, email: str | None, source: str) -> None:
    st.session_state["alb_app_signed_in"] = f"{user_name} ({email}, {source})"


ui_alb.require_alb_identity(ui_alb.get_alb_verifier(), on_signed_in)
st.write(f"Signed in as {st.session_state['alb_app_signed_in']}")
