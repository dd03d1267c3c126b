"""The router's sign-in step for each mode: local accounts, an Amazon Cognito user pool, or an ALB's identity header.

Every mode ends in the same local session (`ui.sign_in_as`), so access checks, sign-out everywhere
and the session cookie work the same for every sign-in method.
"""

from __future__ import annotations

import logging

import streamlit as st

from operatorflow import ui

logger = logging.getLogger(__name__)


def auth_mode() -> str:
    return ui.get_service().settings.auth_mode


def authenticate() -> None:
    """Find this run's user; call once per run before `st.navigation`, because the page list depends on it.

    In `alb` mode a request without a valid identity header gets the rejection page and the run stops.
    """
    ui.authenticate_session()
    mode = auth_mode()
    if mode == "alb":
        from operatorflow import ui_alb

        ui_alb.require_alb_identity(ui_alb.get_alb_verifier(), sign_in_external_user)
    elif mode == "cognito" and ui.current_user() is not None:
        _follow_cognito_session()


def sign_in_external_user(user_name: str, email: str | None, source: str) -> None:
    """Start a local session for a user whom Cognito or the load balancer has proved, creating the account once."""
    if ui.current_user() == user_name:
        return
    user = ui.get_accounts().users.ensure_external_user(user_name, email, source)
    ui.sign_in_as(user.name)


def render_sign_in() -> None:
    """Draw the sign-in forms of the configured mode (the login page of `local` mode draws its own)."""
    from operatorflow import ui_cognito

    ui_cognito.render_cognito_sign_in(ui_cognito.get_cognito_accounts(), sign_in_external_user)


def sign_out() -> None:
    """Button callback: end the local sessions at the next run, and in `cognito` mode revoke the refresh token."""
    if auth_mode() == "cognito":
        from operatorflow import ui_cognito

        ui_cognito.sign_out_cognito(ui_cognito.get_cognito_accounts())
    ui.request_sign_out()


def offers_sign_out() -> bool:
    """Return False in `alb` mode, where the load balancer's own session cookie would sign the user in again."""
    return auth_mode() != "alb"


def _follow_cognito_session() -> None:
    from operatorflow import ui_cognito

    had_tokens = ui_cognito.current_cognito_session() is not None
    # NOTE: after a reload this tab has no Cognito tokens (they live in st.session_state only), so
    # the local session alone keeps the user signed in until it expires or the user signs out.
    if had_tokens and ui_cognito.refresh_cognito_session(ui_cognito.get_cognito_accounts()) is None:
        user = ui.current_user()
        logger.info("cognito session of %s ended at Cognito, so the local sessions end too", user)
        ui.request_sign_out()
        st.rerun()
