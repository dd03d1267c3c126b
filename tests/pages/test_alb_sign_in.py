"""The ALB sign-in under AppTest: a verified header signs in once per session, anything else shows the rejection page."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from operatorflow.accounts_alb import AlbIdentityVerifier
from operatorflow.clock import FakeClock
from operatorflow.settings import load_settings
from tests.alb_tokens import ALB_ARN, AlbSigner
from tests.pages.conftest import errors, run

ENTRY_SCRIPT = Path(__file__).with_name("alb_entry.py")
START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
EXPIRES = START + dt.timedelta(minutes=2)


@pytest.fixture
def signer():
    return AlbSigner()


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def verifier(tmp_path, signer, clock):
    settings = load_settings(home=tmp_path, auth_mode="alb", alb_arn=ALB_ARN)

    def fetch(kid: str) -> bytes:
        if kid != signer.kid:
            raise KeyError(kid)
        return signer.public_pem()

    return AlbIdentityVerifier(settings, clock, key_fetcher=fetch)


def start(verifier, headers: dict[str, str] | None) -> AppTest:
    at = AppTest.from_file(str(ENTRY_SCRIPT), default_timeout=30)
    at.session_state["test_alb_verifier"] = verifier
    if headers is not None:
        at.session_state["test_alb_headers"] = headers
    return run(at)


def test_verified_header_signs_in_once(verifier, signer):
    at = start(verifier, {"X-Amzn-Oidc-Data": signer.token(expires=EXPIRES)})

    run(at)

    assert [element.value for element in at.success] == ["Signed in as ada"]
    assert at.session_state["test_signed_in"] == [("ada", "ada@example.com", "alb")]


def test_session_outlives_token_expiry(verifier, signer, clock):
    at = start(verifier, {"x-amzn-oidc-data": signer.token(expires=EXPIRES)})
    clock.advance(3600)

    run(at)

    assert [element.value for element in at.success] == ["Signed in as ada"]
    assert at.session_state["test_signed_in"] == [("ada", "ada@example.com", "alb")]


def test_missing_header_shows_rejection(verifier, caplog):
    with caplog.at_level(logging.WARNING, logger="operatorflow.accounts_alb"):
        at = start(verifier, None)

    assert errors(at) == [
        "Sign-in through the load balancer failed: the request has no x-amzn-oidc-data header. "
        "Open the app through the load balancer's address, not the server's own."
    ]
    assert "test_signed_in" not in at.session_state
    assert not at.success
    assert "alb sign-in rejected: the request has no x-amzn-oidc-data header" in caplog.text


def test_forged_header_shows_rejection(verifier, signer):
    forged = AlbSigner(kid=signer.kid).token(expires=EXPIRES, claims={"username": "root"})

    at = start(verifier, {"x-amzn-oidc-data": forged})

    assert errors(at) == [
        "Sign-in through the load balancer failed: the token's signature does not verify with the ALB's public key."
    ]
    assert "test_signed_in" not in at.session_state


def test_expired_header_shows_rejection(verifier, signer, clock):
    token = signer.token(expires=EXPIRES)
    clock.advance(600)

    at = start(verifier, {"x-amzn-oidc-data": token})

    assert errors(at) == [
        "Sign-in through the load balancer failed: the token expired at 2026-03-01T12:02:00+00:00. "
        "Reload the page to sign in again."
    ]
    assert "test_signed_in" not in at.session_state
