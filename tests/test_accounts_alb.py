"""The ALB identity header: accepted only with a valid ES256 signature of the ALB's key, unexpired, from the right signer."""

from __future__ import annotations

import datetime as dt
import logging

import jwt
import pytest

from operatorflow.accounts_alb import AlbIdentity, AlbIdentityVerifier, AlbSignInRejected, resolve_key_url
from operatorflow.clock import FakeClock
from operatorflow.errors import BackendUnavailable, InvalidInput
from operatorflow.settings import load_settings
from tests.aws import free_port
from tests.alb_tokens import ALB_ARN, AlbSigner, KeyServer, b64url

START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
EXPIRES = START + dt.timedelta(minutes=2)


@pytest.fixture
def signer():
    return AlbSigner()


@pytest.fixture
def key_server(signer):
    server = KeyServer().start()
    server.add(signer)
    yield server
    server.stop()


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def alb_settings(tmp_path, key_server):
    return load_settings(home=tmp_path, auth_mode="alb", alb_arn=ALB_ARN, alb_public_key_url=key_server.url_template)


@pytest.fixture
def verifier(alb_settings, clock):
    return AlbIdentityVerifier(alb_settings, clock)


def rejection(verifier, headers) -> AlbSignInRejected:
    with pytest.raises(AlbSignInRejected) as info:
        verifier.verify(headers)
    return info.value


def test_padded_token_names_user(verifier, signer):
    token = signer.token(expires=EXPIRES)
    assert "=" in token, "the test token must carry base64 padding, as the ALB's does"

    identity = verifier.verify({"X-Amzn-Oidc-Data": token})

    assert identity == AlbIdentity(user_name="ada", email="ada@example.com", subject="0f3c9a1e-sub")


def test_unpadded_token_from_pyjwt_is_accepted(verifier, signer):
    token = jwt.encode(
        {"sub": "s-1", "username": "grace", "exp": int(EXPIRES.timestamp())},
        signer.private_key,
        algorithm="ES256",
        headers={"kid": signer.kid, "signer": ALB_ARN},
    )

    identity = verifier.verify({"x-amzn-oidc-data": token})

    assert identity.user_name == "grace"
    assert identity.email is None


def test_cognito_username_claim_is_used(verifier, signer):
    token = signer.token(expires=EXPIRES, claims={"username": None, "cognito:username": "lin"})

    assert verifier.verify({"x-amzn-oidc-data": token}).user_name == "lin"


def test_missing_header_is_rejected_and_logged(verifier, caplog):
    with caplog.at_level(logging.WARNING, logger="operatorflow.accounts_alb"):
        error = rejection(verifier, {"host": "app.example"})

    assert str(error) == (
        "Sign-in through the load balancer failed: the request has no x-amzn-oidc-data header. "
        "Open the app through the load balancer's address, not the server's own."
    )
    assert [r.getMessage() for r in caplog.records] == [
        "alb sign-in rejected: the request has no x-amzn-oidc-data header. "
        "Open the app through the load balancer's address, not the server's own."
    ]


def test_unsigned_token_is_rejected(verifier, signer, key_server):
    header = b64url(b'{"alg":"none","kid":"%s","signer":"%s"}' % (signer.kid.encode(), ALB_ARN.encode()), True)
    payload = b64url(b'{"sub":"x","username":"mallory","exp":%d}' % int(EXPIRES.timestamp()), True)

    error = rejection(verifier, {"x-amzn-oidc-data": f"{header}.{payload}."})

    assert error.reason == "the token's algorithm is 'none'; only ES256 tokens signed by the ALB are accepted."
    assert key_server.requests == []


def test_hs256_token_is_rejected(verifier, signer):
    token = jwt.encode({"sub": "x", "username": "mallory", "exp": int(EXPIRES.timestamp())}, "k" * 32,
                       algorithm="HS256", headers={"kid": signer.kid, "signer": ALB_ARN})

    assert rejection(verifier, {"x-amzn-oidc-data": token}).reason == (
        "the token's algorithm is 'HS256'; only ES256 tokens signed by the ALB are accepted."
    )


def test_expired_token_is_rejected(verifier, signer, clock, caplog):
    token = signer.token(expires=EXPIRES)
    clock.advance((EXPIRES - START).total_seconds())

    with caplog.at_level(logging.WARNING, logger="operatorflow.accounts_alb"):
        error = rejection(verifier, {"x-amzn-oidc-data": token})

    assert error.reason == "the token expired at 2026-03-01T12:02:00+00:00. Reload the page to sign in again."
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


def test_token_one_second_before_expiry_is_accepted(verifier, signer, clock):
    token = signer.token(expires=EXPIRES)
    clock.advance((EXPIRES - START).total_seconds() - 1)

    assert verifier.verify({"x-amzn-oidc-data": token}).user_name == "ada"


def test_wrong_signer_is_rejected(verifier, signer):
    other_alb = ALB_ARN.replace("operatorflow/50dc6c495c0c9188", "other/0123456789abcdef")
    token = signer.token(expires=EXPIRES, signer=other_alb)

    assert rejection(verifier, {"x-amzn-oidc-data": token}).reason == (
        f"the token was signed by {other_alb!r}, not by the configured load balancer."
    )


def test_any_signer_is_accepted_without_alb_arn(key_server, signer, clock, tmp_path, caplog):
    settings = load_settings(home=tmp_path, auth_mode="alb", alb_public_key_url=key_server.url_template)
    with caplog.at_level(logging.WARNING, logger="operatorflow.accounts_alb"):
        verifier = AlbIdentityVerifier(settings, clock)
    token = signer.token(expires=EXPIRES, signer="arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/app/x/1")

    assert verifier.verify({"x-amzn-oidc-data": token}).user_name == "ada"
    assert "OPERATORFLOW_ALB_ARN is empty" in caplog.text


def test_forged_signature_is_rejected(verifier, signer):
    forger = AlbSigner(kid=signer.kid)
    token = forger.token(expires=EXPIRES, claims={"username": "mallory"})

    assert rejection(verifier, {"x-amzn-oidc-data": token}).reason == (
        "the token's signature does not verify with the ALB's public key."
    )


def test_changed_payload_is_rejected(verifier, signer):
    header, _, signature = signer.token(expires=EXPIRES).split(".")
    payload = b64url(b'{"sub":"0f3c9a1e-sub","username":"root","exp":%d}' % int(EXPIRES.timestamp()), True)

    assert rejection(verifier, {"x-amzn-oidc-data": f"{header}.{payload}.{signature}"}).reason == (
        "the token's signature does not verify with the ALB's public key."
    )


def test_unknown_kid_is_rejected(verifier, signer, key_server):
    token = signer.token(expires=EXPIRES, kid="11111111-2222-3333-4444-555555555555")

    error = rejection(verifier, {"x-amzn-oidc-data": token})

    assert error.reason == "no ALB public key exists for the token's key id '11111111-2222-3333-4444-555555555555'."
    assert key_server.requests == ["11111111-2222-3333-4444-555555555555"]


def test_malformed_kid_is_rejected_before_any_fetch(verifier, signer, key_server):
    token = signer.token(expires=EXPIRES, kid="../../latest/meta-data")

    assert rejection(verifier, {"x-amzn-oidc-data": token}).reason == "the token's key id (kid) is missing or malformed."
    assert key_server.requests == []


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("abc", "the x-amzn-oidc-data header is not a signed token (expected three parts)."),
        ("!!!.e30=.c2ln", "the token's header is not JSON."),
        (f"{b64url(b'[1]', True)}.e30=.c2ln", "the token's header is not a JSON object."),
    ],
)
def test_malformed_token_is_rejected(verifier, token, reason):
    assert rejection(verifier, {"x-amzn-oidc-data": token}).reason == reason


def test_public_key_is_fetched_once_per_kid(verifier, signer, key_server):
    second = AlbSigner()
    key_server.add(second)

    for _ in range(3):
        verifier.verify({"x-amzn-oidc-data": signer.token(expires=EXPIRES)})
    verifier.verify({"x-amzn-oidc-data": second.token(expires=EXPIRES)})

    assert key_server.requests == [signer.kid, second.kid]


def test_injected_key_fetcher_is_used(alb_settings, clock, signer):
    requested_kids = []

    def fetch(kid: str) -> bytes:
        requested_kids.append(kid)
        return signer.public_pem()

    verifier = AlbIdentityVerifier(alb_settings, clock, key_fetcher=fetch)

    assert verifier.verify({"x-amzn-oidc-data": signer.token(expires=EXPIRES)}).user_name == "ada"
    assert requested_kids == [signer.kid]


def test_unreachable_key_server_is_backend_error(tmp_path, clock, signer):
    url = f"http://127.0.0.1:{free_port()}/{{kid}}"
    settings = load_settings(home=tmp_path, auth_mode="alb", alb_arn=ALB_ARN, alb_public_key_url=url)
    verifier = AlbIdentityVerifier(settings, clock)

    with pytest.raises(BackendUnavailable) as info:
        verifier.verify({"x-amzn-oidc-data": signer.token(expires=EXPIRES)})

    assert str(info.value).startswith(f"The ALB key server at {url.format(kid=signer.kid)} cannot be reached")


def test_key_url_default_uses_arn_region(tmp_path):
    settings = load_settings(home=tmp_path, auth_mode="alb", alb_arn=ALB_ARN)

    assert resolve_key_url(settings) == "https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth_mode": "saml"}, "Invalid OPERATORFLOW_AUTH_MODE 'saml': use 'local', 'cognito' or 'alb'."),
        ({"auth_mode": "alb"}, "OPERATORFLOW_AUTH_MODE=alb needs OPERATORFLOW_ALB_ARN (the load balancer's ARN) "
                               "or OPERATORFLOW_ALB_PUBLIC_KEY_URL (its key URL with a {kid} placeholder)."),
        ({"auth_mode": "alb", "alb_public_key_url": "https://keys.example/"},
         "Invalid OPERATORFLOW_ALB_PUBLIC_KEY_URL 'https://keys.example/': it needs a {kid} placeholder, "
         "such as https://public-keys.auth.elb.eu-west-1.amazonaws.com/{kid}."),
        ({"auth_mode": "alb", "alb_arn": "my-alb"},
         "Invalid OPERATORFLOW_ALB_ARN 'my-alb': expected a load balancer ARN such as "
         "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188."),
    ],
)
def test_settings_reject_incomplete_alb_mode(tmp_path, overrides, message):
    with pytest.raises(InvalidInput) as info:
        load_settings(home=tmp_path, **overrides)

    assert str(info.value) == message
