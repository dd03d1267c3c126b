"""Streamlit sign-in behind an AWS Application Load Balancer: trust the verified identity header, or show why not.

NOTE: Streamlit exposes the headers of the request that opened the browser session's connection
(`st.context.headers`), so the header is verified once per browser session. The session then lasts
until the page is reloaded, and the ALB's own session cookie decides when the user signs in again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import streamlit as st

from operatorflow.accounts_alb import AlbIdentity, AlbIdentityVerifier
from operatorflow.errors import OperatorFlowError

SOURCE = "alb"
IDENTITY_KEY = "alb_identity"

OnSignedIn = Callable[[str, "str | None", str], None]
"""Called once per browser session after the header verified, with (user name, email or None, "alb")."""


def get_alb_verifier() -> AlbIdentityVerifier:
    """Return the process-wide verifier built from the app's settings; it caches the ALB's public keys."""
    return _cached_alb_verifier()


@st.cache_resource(show_spinner=False)
def _cached_alb_verifier() -> AlbIdentityVerifier:
    from operatorflow.clock import Clock
    from operatorflow.settings import load_settings

    return AlbIdentityVerifier(load_settings(), Clock())


def current_alb_identity() -> AlbIdentity | None:
    identity = st.session_state.get(IDENTITY_KEY)
    return identity if isinstance(identity, AlbIdentity) else None


def require_alb_identity(verifier: AlbIdentityVerifier, on_signed_in: OnSignedIn,
                         headers: Mapping[str, str] | None = None) -> AlbIdentity:
    """Return this browser session's user; on the first run verify the identity header and call `on_signed_in`.

    When the header is missing or cannot be trusted, draw the rejection page and stop the script run.
    `headers` defaults to `st.context.headers`.
    """
    identity = current_alb_identity()
    if identity is not None:
        return identity

    try:
        identity = verifier.verify(st.context.headers if headers is None else headers)
    except OperatorFlowError as exc:
        render_alb_rejection(str(exc))
        st.stop()

    st.session_state[IDENTITY_KEY] = identity
    on_signed_in(identity.user_name, identity.email, SOURCE)
    return identity


def render_alb_rejection(message: str) -> None:
    """Draw the page shown instead of the app when the load balancer's identity header is not accepted."""
    st.title("OperatorFlow")
    st.error(message)
    st.markdown(
        "This installation signs users in through its AWS load balancer. Open the app through the load "
        "balancer's address and sign in there. If you did, reload the page; if the problem remains, send "
        "the time of this failure to your administrator, who finds the reason in the app log."
    )
