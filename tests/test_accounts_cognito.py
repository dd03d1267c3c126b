"""Cognito accounts against a moto server on 127.0.0.1, and Cognito's own error responses through botocore's Stubber.

moto 5.2 accepts any confirmation code for sign-up and does not check the password in the SRP
flow. The wrong-password and wrong-code paths are therefore proven in two honest ways:
- against moto where moto does check: the password in USER_PASSWORD_AUTH, the secret hash in
  SRP and token renewal, the password policy, existing usernames and revoked refresh tokens.
  moto also checks the reset code that it issued itself. It returns that code in the
  `x-moto-forgot-password-confirmation-code` response header and rejects any other code of that
  form with ExpiredCodeException.
- with botocore's Stubber on the real boto3 client, which returns Cognito's documented error
  codes and messages (CodeMismatchException, ExpiredCodeException, NotAuthorizedException) to the
  exact request that CognitoAccounts sent, so the translation of each error is checked.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging

import boto3
import pytest
from botocore.stub import ANY, Stubber

from operatorflow.accounts_cognito import (
    AccountNotConfirmed,
    CodeDelivery,
    CognitoAccounts,
    CognitoSession,
    NewPasswordRequired,
)
from operatorflow.clock import FakeClock
from operatorflow.errors import BackendUnavailable, InvalidInput, PermissionDenied
from operatorflow.settings import load_settings
from tests.aws import MotoServer, free_port
from tests.cognito_pool import PASSWORD, create_pool

NEW_PASSWORD = "Babbage#1791x"
WRONG_PASSWORD_MESSAGE = "Incorrect username or password: check both and try again."


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def clock():
    return FakeClock(dt.datetime.now(dt.timezone.utc).replace(microsecond=0))


@pytest.fixture
def pool(moto):
    return create_pool(moto, with_secret=False)


@pytest.fixture
def secret_pool(moto):
    return create_pool(moto, with_secret=True)


@pytest.fixture(params=["no-secret", "secret"])
def any_pool(request, moto):
    return create_pool(moto, with_secret=request.param == "secret")


def boto_client(moto):
    return boto3.client("cognito-idp", endpoint_url=moto.endpoint_url, region_name="us-east-1")


def record_calls(client, operation: str) -> list[dict]:
    """Collect the parameters of every `operation` request that `client` sends."""
    calls: list[dict] = []
    client.meta.events.register(f"provide-client-params.cognito-idp.{operation}",
                                lambda params, **_: calls.append(dict(params)))
    return calls


def secret_hash(user_name: str, client_id: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), (user_name + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# Sign-up, confirmation and sign-in


def test_sign_up_confirm_then_sign_in(any_pool, tmp_path, clock):
    accounts = CognitoAccounts(any_pool.settings(tmp_path), clock)

    delivery = accounts.sign_up("ada", "ada@example.com", PASSWORD)

    assert isinstance(delivery, CodeDelivery)
    assert delivery == CodeDelivery(destination="a***@e***", medium="EMAIL")
    assert any_pool.user_status("ada") == "UNCONFIRMED"
    with pytest.raises(AccountNotConfirmed) as info:
        accounts.sign_in("ada", PASSWORD)
    assert str(info.value) == (
        "The account 'ada' is not confirmed yet: enter the code from the confirmation email, or request a new code."
    )

    accounts.confirm_sign_up("ada", "123456")
    session = accounts.sign_in("ada", PASSWORD)

    assert any_pool.user_status("ada") == "CONFIRMED"
    assert isinstance(session, CognitoSession)
    assert session.user_name == "ada"
    assert session.email == "ada@example.com"
    assert dt.timedelta(minutes=59) < session.expires_at - clock.now() <= dt.timedelta(minutes=61)
    assert accounts.verify_id_token(session.id_token)["cognito:username"] == "ada"


def test_resend_code_returns_delivery(secret_pool, tmp_path, clock):
    """moto 5.2 does not implement ResendConfirmationCode, so Stubber returns AWS's documented response."""
    client = boto_client(secret_pool.moto)
    accounts = CognitoAccounts(secret_pool.settings(tmp_path), clock, client=client)
    with Stubber(client) as stubber:
        stubber.add_response(
            "resend_confirmation_code",
            {"CodeDeliveryDetails": {"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"}},
            {"ClientId": secret_pool.client_id, "Username": "ada",
             "SecretHash": secret_hash("ada", secret_pool.client_id, secret_pool.client_secret)},
        )

        delivery = accounts.resend_confirmation_code("ada")

        stubber.assert_no_pending_responses()
    assert delivery == CodeDelivery(destination="a***@e***", medium="EMAIL")


def test_sign_up_rejects_weak_password(pool, tmp_path, clock):
    accounts = CognitoAccounts(pool.settings(tmp_path), clock)

    with pytest.raises(InvalidInput) as info:
        accounts.sign_up("ada", "ada@example.com", "short")

    assert str(info.value) == (
        "The password does not meet the user pool's password policy (The provided password does not confirm to "
        "the configured password policy): choose a longer one with upper- and lowercase letters, digits and symbols."
    )


def test_sign_up_rejects_taken_username(pool, tmp_path, clock):
    accounts = CognitoAccounts(pool.settings(tmp_path), clock)
    accounts.sign_up("ada", "ada@example.com", PASSWORD)

    with pytest.raises(InvalidInput) as info:
        accounts.sign_up("ada", "other@example.com", PASSWORD)

    assert str(info.value) == "The username 'ada' is already taken: choose another one, or sign in."


@pytest.mark.parametrize(("user_name", "email", "password", "message"), [
    (" ", "ada@example.com", PASSWORD, "Enter your username."),
    ("ada", "", PASSWORD, "Enter your email address."),
    ("ada", "ada@example.com", "", "Enter a password."),
])
def test_sign_up_requires_every_field(pool, tmp_path, clock, user_name, email, password, message):
    accounts = CognitoAccounts(pool.settings(tmp_path), clock)

    with pytest.raises(InvalidInput) as info:
        accounts.sign_up(user_name, email, password)

    assert str(info.value) == message


def test_password_flow_rejects_wrong_password(pool, tmp_path, clock):
    """moto compares the password in USER_PASSWORD_AUTH, so this wrong password is rejected by the server."""
    pool.add_confirmed_user("ada")
    accounts = CognitoAccounts(pool.settings(tmp_path, cognito_auth_flow="USER_PASSWORD_AUTH"), clock)

    with pytest.raises(PermissionDenied) as info:
        accounts.sign_in("ada", "Wrong#password1")
    session = accounts.sign_in("ada", PASSWORD)

    assert str(info.value) == WRONG_PASSWORD_MESSAGE
    assert isinstance(session, CognitoSession)
    assert session.user_name == "ada"


def test_srp_wrong_password_is_rejected(pool, tmp_path, clock):
    """Stubber returns Cognito's error for a wrong SRP password proof to the real SRP requests."""
    client = boto_client(pool.moto)
    accounts = CognitoAccounts(pool.settings(tmp_path), clock, client=client)
    with Stubber(client) as stubber:
        stubber.add_response(
            "initiate_auth",
            {"ChallengeName": "PASSWORD_VERIFIER", "ChallengeParameters": {
                "SALT": "a3f1c2", "SRP_B": "9f" * 192, "USERNAME": "ada", "USER_ID_FOR_SRP": "ada",
                "SECRET_BLOCK": base64.b64encode(b"secret-block").decode()}},
            {"AuthFlow": "USER_SRP_AUTH", "ClientId": pool.client_id,
             "AuthParameters": {"USERNAME": "ada", "SRP_A": ANY}},
        )
        stubber.add_client_error(
            "respond_to_auth_challenge", "NotAuthorizedException", "Incorrect username or password.", 400,
            expected_params={"ClientId": pool.client_id, "ChallengeName": "PASSWORD_VERIFIER",
                             "ChallengeResponses": {"USERNAME": "ada", "TIMESTAMP": ANY,
                                                    "PASSWORD_CLAIM_SECRET_BLOCK": ANY,
                                                    "PASSWORD_CLAIM_SIGNATURE": ANY}},
        )

        with pytest.raises(PermissionDenied) as info:
            accounts.sign_in("ada", "Wrong#password1")

        stubber.assert_no_pending_responses()
    assert str(info.value) == WRONG_PASSWORD_MESSAGE


def test_unknown_user_reads_as_wrong_password(pool, tmp_path, clock):
    accounts = CognitoAccounts(pool.settings(tmp_path), clock)

    with pytest.raises(PermissionDenied) as info:
        accounts.sign_in("nobody", PASSWORD)

    assert str(info.value) == WRONG_PASSWORD_MESSAGE


# App clients with and without a secret


def test_secret_client_sends_secret_hash(secret_pool, tmp_path, clock):
    client = boto_client(secret_pool.moto)
    calls = record_calls(client, "InitiateAuth")
    secret_pool.add_confirmed_user("ada")
    accounts = CognitoAccounts(secret_pool.settings(tmp_path), clock, client=client)

    session = accounts.sign_in("ada", PASSWORD)

    assert isinstance(session, CognitoSession)
    assert calls[0]["AuthParameters"]["SECRET_HASH"] == secret_hash(
        "ada", secret_pool.client_id, secret_pool.client_secret
    )


def test_no_secret_client_sends_no_hash(pool, tmp_path, clock):
    client = boto_client(pool.moto)
    calls = record_calls(client, "InitiateAuth")
    pool.add_confirmed_user("ada")
    accounts = CognitoAccounts(pool.settings(tmp_path), clock, client=client)

    session = accounts.sign_in("ada", PASSWORD)

    assert isinstance(session, CognitoSession)
    assert "SECRET_HASH" not in calls[0]["AuthParameters"]


@pytest.mark.parametrize("configured_secret", ["", "not-the-client-secret"])
def test_secret_client_rejects_bad_secret(secret_pool, tmp_path, clock, configured_secret):
    """moto checks the secret hash of a secret client and returns NotAuthorizedException with no message text."""
    secret_pool.add_confirmed_user("ada")
    settings = secret_pool.settings(tmp_path, cognito_client_secret=configured_secret)
    accounts = CognitoAccounts(settings, clock)

    with pytest.raises(PermissionDenied) as info:
        accounts.sign_in("ada", PASSWORD)

    assert str(info.value) == WRONG_PASSWORD_MESSAGE


@pytest.mark.parametrize("aws_message", [
    "Client 4b3s2example is configured for secret but secret was not received",
    "Unable to verify secret hash for client 4b3s2example",
])
def test_secret_hash_error_names_setting(pool, tmp_path, clock, aws_message):
    client = boto_client(pool.moto)
    accounts = CognitoAccounts(pool.settings(tmp_path, cognito_auth_flow="USER_PASSWORD_AUTH"), clock, client=client)
    with Stubber(client) as stubber:
        stubber.add_client_error("initiate_auth", "NotAuthorizedException", aws_message, 400)

        with pytest.raises(InvalidInput) as info:
            accounts.sign_in("ada", PASSWORD)

    assert str(info.value) == (
        "Cognito rejected the app client's secret hash: set OPERATORFLOW_COGNITO_CLIENT_SECRET to the app "
        "client's secret, or leave it empty for a client without a secret."
    )


# Codes


@pytest.mark.parametrize(("code", "aws_message", "message"), [
    ("CodeMismatchException", "Invalid verification code provided, please try again.",
     "The code is incorrect: check the code in the email and enter it again."),
    ("ExpiredCodeException", "Invalid code provided, please request a code again.",
     "The code has expired: request a new code and enter that one."),
])
def test_confirm_sign_up_rejects_bad_code(secret_pool, tmp_path, clock, code, aws_message, message):
    client = boto_client(secret_pool.moto)
    accounts = CognitoAccounts(secret_pool.settings(tmp_path), clock, client=client)
    with Stubber(client) as stubber:
        stubber.add_client_error("confirm_sign_up", code, aws_message, 400, expected_params={
            "ClientId": secret_pool.client_id, "Username": "ada", "ConfirmationCode": "000000",
            "SecretHash": secret_hash("ada", secret_pool.client_id, secret_pool.client_secret),
        })

        with pytest.raises(InvalidInput) as info:
            accounts.confirm_sign_up("ada", " 000000 ")

        stubber.assert_no_pending_responses()
    assert str(info.value) == message


def test_confirm_reset_rejects_mismatched_code(pool, tmp_path, clock):
    client = boto_client(pool.moto)
    accounts = CognitoAccounts(pool.settings(tmp_path), clock, client=client)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "confirm_forgot_password", "CodeMismatchException", "Invalid verification code provided, please try again.",
            400, expected_params={"ClientId": pool.client_id, "Username": "ada", "ConfirmationCode": "999999",
                                  "Password": NEW_PASSWORD},
        )

        with pytest.raises(InvalidInput) as info:
            accounts.confirm_forgot_password("ada", "999999", NEW_PASSWORD)

    assert str(info.value) == "The code is incorrect: check the code in the email and enter it again."


def test_forgot_password_resets_with_issued_code(any_pool, tmp_path, clock):
    """moto sends the reset code it issued in a response header and rejects any other code of that form."""
    client = boto_client(any_pool.moto)
    issued: list[str] = []
    client.meta.events.register(
        "after-call.cognito-idp.ForgotPassword",
        lambda http_response, **_: issued.append(http_response.headers["x-moto-forgot-password-confirmation-code"]),
    )
    any_pool.add_confirmed_user("ada")
    settings = any_pool.settings(tmp_path, cognito_auth_flow="USER_PASSWORD_AUTH")
    accounts = CognitoAccounts(settings, clock, client=client)

    delivery = accounts.forgot_password("ada")
    with pytest.raises(InvalidInput) as info:
        accounts.confirm_forgot_password("ada", "moto-confirmation-code:000000", NEW_PASSWORD)
    accounts.confirm_forgot_password("ada", issued[0], NEW_PASSWORD)

    assert delivery.medium == "EMAIL"
    assert str(info.value) == "The code has expired: request a new code and enter that one."
    assert isinstance(accounts.sign_in("ada", NEW_PASSWORD), CognitoSession)
    with pytest.raises(PermissionDenied):
        accounts.sign_in("ada", PASSWORD)


# First sign-in of a user created by an administrator


@pytest.mark.parametrize("flow", ["USER_SRP_AUTH", "USER_PASSWORD_AUTH"])
def test_new_password_completes_first_sign_in(any_pool, tmp_path, clock, flow):
    any_pool.add_user_with_temporary_password("grace", "Temporary#123")
    accounts = CognitoAccounts(any_pool.settings(tmp_path, cognito_auth_flow=flow), clock)

    challenge = accounts.sign_in("grace", "Temporary#123")
    with pytest.raises(InvalidInput):
        accounts.complete_new_password(challenge, "weak")
    session = accounts.complete_new_password(challenge, NEW_PASSWORD)

    assert isinstance(challenge, NewPasswordRequired)
    assert challenge.user_name == "grace"
    assert isinstance(session, CognitoSession)
    assert session.user_name == "grace"
    assert any_pool.user_status("grace") == "CONFIRMED"
    assert isinstance(accounts.sign_in("grace", NEW_PASSWORD), CognitoSession)


def test_spent_challenge_asks_to_sign_in_again(pool, tmp_path, clock):
    pool.add_user_with_temporary_password("grace", "Temporary#123")
    accounts = CognitoAccounts(pool.settings(tmp_path), clock)
    challenge = accounts.sign_in("grace", "Temporary#123")
    accounts.complete_new_password(challenge, NEW_PASSWORD)

    with pytest.raises(InvalidInput) as info:
        accounts.complete_new_password(challenge, NEW_PASSWORD)

    # moto returns ResourceNotFoundException for a spent session, where AWS returns NotAuthorizedException.
    assert str(info.value).startswith("Cognito does not know this user pool or app client")


# Token renewal


def test_tokens_renew_only_near_expiry(any_pool, tmp_path, clock):
    client = boto_client(any_pool.moto)
    calls = record_calls(client, "InitiateAuth")
    any_pool.add_confirmed_user("ada")
    accounts = CognitoAccounts(any_pool.settings(tmp_path, cognito_refresh_minutes=5), clock, client=client)
    session = accounts.sign_in("ada", PASSWORD)
    sign_in_calls = len(calls)

    clock.advance((session.expires_at - clock.now()).total_seconds() - 5 * 60 - 1)
    unchanged = accounts.refresh_if_needed(session)
    clock.advance(2)
    renewed = accounts.refresh_if_needed(session)

    assert unchanged is session
    assert len(calls) == sign_in_calls + 1
    assert calls[-1]["AuthFlow"] == "REFRESH_TOKEN_AUTH"
    assert renewed.id_token != session.id_token
    assert renewed.access_token != session.access_token
    assert renewed.refresh_token == session.refresh_token
    assert renewed.user_name == "ada"
    assert accounts.verify_id_token(renewed.id_token)["cognito:username"] == "ada"


def test_revoked_refresh_token_ends_session(pool, tmp_path, clock):
    pool.add_confirmed_user("ada")
    accounts = CognitoAccounts(pool.settings(tmp_path), clock)
    session = accounts.sign_in("ada", PASSWORD)
    pool.admin().admin_user_global_sign_out(UserPoolId=pool.pool_id, Username="ada")
    clock.advance(3600)

    with pytest.raises(PermissionDenied) as info:
        accounts.refresh_if_needed(session)

    assert str(info.value) == "Your Cognito session has ended: sign in again."


def test_revoke_sends_refresh_token_and_secret(secret_pool, tmp_path, clock):
    """moto 5.2 does not implement RevokeToken, so Stubber checks the request and returns AWS's empty response."""
    secret_pool.add_confirmed_user("ada")
    client = boto_client(secret_pool.moto)
    accounts = CognitoAccounts(secret_pool.settings(tmp_path), clock, client=client)
    session = accounts.sign_in("ada", PASSWORD)
    with Stubber(client) as stubber:
        stubber.add_response("revoke_token", {}, {
            "Token": session.refresh_token, "ClientId": secret_pool.client_id, "ClientSecret": secret_pool.client_secret,
        })

        accounts.revoke(session)

        stubber.assert_no_pending_responses()


def test_revoke_failure_is_translated(pool, tmp_path, clock):
    pool.add_confirmed_user("ada")
    client = boto_client(pool.moto)
    accounts = CognitoAccounts(pool.settings(tmp_path), clock, client=client)
    session = accounts.sign_in("ada", PASSWORD)
    with Stubber(client) as stubber:
        stubber.add_client_error("revoke_token", "UnsupportedTokenTypeException", "Unsupported token type.", 400,
                                 expected_params={"Token": session.refresh_token, "ClientId": pool.client_id})

        with pytest.raises(BackendUnavailable) as info:
            accounts.revoke(session)

    assert str(info.value) == (
        "Cognito failed to revoke tokens for 'ada' (UnsupportedTokenTypeException: Unsupported token type.): "
        "try again later."
    )


# Failures of the service and secrets


def test_unreachable_endpoint_is_backend_error(tmp_path, clock):
    settings = load_settings(home=tmp_path, auth_mode="cognito", cognito_user_pool_id="us-east-1_Nowhere1",
                             cognito_client_id="client", cognito_endpoint_url=f"http://127.0.0.1:{free_port()}")
    accounts = CognitoAccounts(settings, clock)

    with pytest.raises(BackendUnavailable) as info:
        accounts.sign_in("ada", PASSWORD)

    assert str(info.value) == (
        "Cognito cannot be reached (EndpointConnectionError): try again in a minute; if this persists, "
        "check OPERATORFLOW_COGNITO_REGION and OPERATORFLOW_COGNITO_ENDPOINT_URL."
    )


def test_secrets_stay_out_of_reprs_and_logs(secret_pool, tmp_path, clock, caplog):
    secret_pool.add_confirmed_user("ada")
    settings = secret_pool.settings(tmp_path)
    accounts = CognitoAccounts(settings, clock)

    with caplog.at_level(logging.DEBUG, logger="operatorflow"):
        session = accounts.sign_in("ada", PASSWORD)

    assert secret_pool.client_secret not in repr(settings)
    for token in (session.id_token, session.access_token, session.refresh_token):
        assert token not in repr(session)
        assert token not in caplog.text
    assert secret_pool.client_secret not in caplog.text
    assert PASSWORD not in caplog.text
    assert "cognito sign-in of user ada: signed in" in caplog.text


@pytest.mark.parametrize(("overrides", "message"), [
    ({"auth_mode": "cognito", "cognito_client_id": "c"},
     "OPERATORFLOW_AUTH_MODE=cognito needs OPERATORFLOW_COGNITO_USER_POOL_ID: set them to your user pool's values."),
    ({"auth_mode": "cognito", "cognito_user_pool_id": "eu-west-1_a", "cognito_client_id": "c",
      "cognito_auth_flow": "ADMIN_NO_SRP_AUTH"},
     "Invalid OPERATORFLOW_COGNITO_AUTH_FLOW 'ADMIN_NO_SRP_AUTH': use 'USER_SRP_AUTH' or 'USER_PASSWORD_AUTH'."),
    ({"auth_mode": "cognito", "cognito_user_pool_id": "eu-west-1_a", "cognito_client_id": "c",
      "cognito_refresh_minutes": 0.0},
     "Invalid OPERATORFLOW_COGNITO_REFRESH_MINUTES 0.0: use a number of minutes above 0."),
])
def test_settings_reject_incomplete_cognito_mode(tmp_path, overrides, message):
    with pytest.raises(InvalidInput) as info:
        load_settings(home=tmp_path, **overrides)

    assert str(info.value) == message
