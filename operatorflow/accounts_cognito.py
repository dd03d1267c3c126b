"""Accounts in an Amazon Cognito user pool: sign-up, confirmation, sign-in, token renewal and password reset.

pycognito computes SRP, secret hashes and token verification. This module drives it, keeps the
challenge state between page runs, and translates every Cognito error in `_translate_errors`.
Tokens live only in the objects returned to the caller (the page keeps them in `st.session_state`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import jwt
import botocore.exceptions
import requests
from botocore.config import Config
from pycognito import Cognito
from pycognito.aws_srp import AWSSRP
from pycognito.exceptions import TokenVerificationException

from operatorflow.clock import Clock
from operatorflow.errors import BackendUnavailable, InvalidInput, NotFound, OperatorFlowError, PermissionDenied
from operatorflow.settings import Settings

logger = logging.getLogger(__name__)

JWKS_TIMEOUT_SECONDS = 10.0
_CONNECT_TIMEOUT_SECONDS = 5
_READ_TIMEOUT_SECONDS = 15
_SECRET_SETTING = "OPERATORFLOW_COGNITO_CLIENT_SECRET"
_CONFIG_HINT = (
    "check OPERATORFLOW_COGNITO_USER_POOL_ID, OPERATORFLOW_COGNITO_CLIENT_ID and OPERATORFLOW_COGNITO_REGION"
)


@dataclasses.dataclass(frozen=True)
class CognitoSession:
    """A signed-in user's verified tokens; `expires_at` is the earlier expiry of the ID and access tokens."""

    user_name: str
    email: str | None
    expires_at: dt.datetime
    id_token: str = dataclasses.field(repr=False)
    access_token: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class NewPasswordRequired:
    """Sign-in of a user created by an administrator, who must choose a password before the first session.

    `session` is Cognito's opaque challenge session (valid for 3 minutes on AWS), so the temporary
    password need not be kept until the new one is entered.
    """

    user_name: str
    session: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class CodeDelivery:
    """Destination of a confirmation or reset code, as Cognito masks it (a***@e***), and its medium."""

    destination: str
    medium: str


SignInResult = CognitoSession | NewPasswordRequired


class AccountNotConfirmed(PermissionDenied):
    """Raised at sign-in when the account exists but its confirmation code was never entered."""


class _FixedClientSession:
    """Hands pycognito the one boto3 client of `CognitoAccounts`, in place of a boto3 session."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def client(self, service_name: str, **_kwargs: Any) -> Any:
        return self._client


class CognitoAccounts:
    """Account actions on one user pool and app client; safe to share between every session of the app.

    `client` replaces the boto3 `cognito-idp` client, so tests can attach botocore's Stubber.
    """

    def __init__(self, settings: Settings, clock: Clock, client: Any = None) -> None:
        self._settings = settings
        self._clock = clock
        self._region = settings.cognito_region or settings.cognito_user_pool_id.split("_", 1)[0]
        self._secret = settings.cognito_client_secret or None
        self._refresh_margin = dt.timedelta(minutes=settings.cognito_refresh_minutes)
        self._client = client or self._build_client()
        # pycognito checks that tokens carry AWS's issuer URL for the pool. Stand-ins such as moto
        # issue tokens with that URL too, so only the key set is read from the configured endpoint.
        endpoint = settings.cognito_endpoint_url.rstrip("/") or f"https://cognito-idp.{self._region}.amazonaws.com"
        self._jwks_url = f"{endpoint}/{settings.cognito_user_pool_id}/.well-known/jwks.json"
        self._jwks: dict[str, Any] | None = None
        self._jwks_lock = threading.Lock()

    # Sign-up and confirmation

    def sign_up(self, user_name: str, email: str, password: str) -> CodeDelivery | None:
        """Create an account; return where the confirmation code went, or None when the pool confirmed it at once."""
        user_name = _require(user_name, "username")
        email = _require(email, "email address")
        if not password:
            raise InvalidInput("Enter a password.")

        with self._translate_errors("sign up", user_name):
            cognito = self._cognito(user_name)
            cognito.set_base_attributes(email=email)
            response = cognito.register(user_name, password)

        logger.info("cognito sign-up created user %s (confirmed: %s)", user_name, response.get("UserConfirmed"))
        if response.get("UserConfirmed"):
            return None
        return _code_delivery(response)

    def confirm_sign_up(self, user_name: str, code: str) -> None:
        user_name = _require(user_name, "username")
        code = _require(code, "confirmation code")
        with self._translate_errors("confirm sign-up", user_name):
            self._cognito(user_name).confirm_sign_up(code, username=user_name)
        logger.info("cognito confirmed user %s", user_name)

    def resend_confirmation_code(self, user_name: str) -> CodeDelivery:
        user_name = _require(user_name, "username")
        with self._translate_errors("resend code", user_name):
            cognito = self._cognito(user_name)
            params = {"ClientId": self._settings.cognito_client_id, "Username": user_name}
            # pycognito's own method discards the response, which contains the code's destination.
            cognito._add_secret_hash(params, "SecretHash")  # noqa: SLF001 - the library's secret hash helper
            response = self._client.resend_confirmation_code(**params)
        logger.info("cognito resent confirmation code to user %s", user_name)
        return _code_delivery(response)

    # Sign-in

    def sign_in(self, user_name: str, password: str) -> SignInResult:
        """Check a password through `settings.cognito_auth_flow`; return a session or the new-password challenge."""
        user_name = _require(user_name, "username")
        if not password:
            raise InvalidInput("Enter your password.")

        with self._translate_errors("sign in", user_name):
            cognito = self._cognito(user_name)
            if self._settings.cognito_auth_flow == "USER_PASSWORD_AUTH":
                response = self._initiate_password_auth(cognito, user_name, password)
            else:
                response = self._run_srp(user_name, password)
            result = self._finish_sign_in(cognito, user_name, response)

        outcome = "new password required" if isinstance(result, NewPasswordRequired) else "signed in"
        logger.info("cognito sign-in of user %s: %s", user_name, outcome)
        return result

    def complete_new_password(self, challenge: NewPasswordRequired, new_password: str) -> CognitoSession:
        """Respond to the NEW_PASSWORD_REQUIRED challenge with the user's chosen password and return the session."""
        if not new_password:
            raise InvalidInput("Enter a new password.")

        with self._translate_errors("set new password", challenge.user_name):
            cognito = self._cognito(challenge.user_name)
            answers = {"USERNAME": challenge.user_name, "NEW_PASSWORD": new_password}
            cognito._add_secret_hash(answers, "SECRET_HASH")  # noqa: SLF001 - the library's secret hash helper
            response = self._client.respond_to_auth_challenge(
                ClientId=self._settings.cognito_client_id,
                ChallengeName="NEW_PASSWORD_REQUIRED",
                Session=challenge.session,
                ChallengeResponses=answers,
            )
            result = self._finish_sign_in(cognito, challenge.user_name, response)

        if not isinstance(result, CognitoSession):
            raise PermissionDenied(
                f"Cognito asked user {challenge.user_name!r} for another step after the new password: sign in again."
            )
        logger.info("cognito user %s set a new password and signed in", challenge.user_name)
        return result

    def refresh_if_needed(self, session: CognitoSession) -> CognitoSession:
        """Return `session`, or renewed ID and access tokens when fewer than `cognito_refresh_minutes` remain.

        Raises PermissionDenied when Cognito no longer accepts the refresh token; the user must
        then sign in again.
        """
        remaining = session.expires_at - self._clock.now()
        if remaining > self._refresh_margin:
            return session

        with self._translate_errors("renew tokens", session.user_name):
            # The secret hash of a refresh request is computed from the Cognito user name.
            cognito = self._cognito(session.user_name)
            parameters = {"REFRESH_TOKEN": session.refresh_token}
            cognito._add_secret_hash(parameters, "SECRET_HASH")  # noqa: SLF001 - the library's secret hash helper
            response = self._client.initiate_auth(
                ClientId=self._settings.cognito_client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters=parameters,
            )
            # Cognito returns no new refresh token here, so the current one stays in use.
            cognito.refresh_token = session.refresh_token
            self._set_verified_tokens(cognito, response)
            renewed = self._session_from(cognito)

        logger.info("cognito renewed tokens of user %s (%d s were left)", session.user_name, remaining.total_seconds())
        return renewed

    def revoke(self, session: CognitoSession) -> None:
        """Revoke the session's refresh token, so neither it nor tokens renewed with it stay valid."""
        with self._translate_errors("revoke tokens", session.user_name):
            parameters = {"Token": session.refresh_token, "ClientId": self._settings.cognito_client_id}
            if self._secret:
                parameters["ClientSecret"] = self._secret
            self._client.revoke_token(**parameters)
        logger.info("cognito revoked the refresh token of user %s", session.user_name)

    def has_expired(self, session: CognitoSession) -> bool:
        return self._clock.now() >= session.expires_at

    def verify_id_token(self, id_token: str) -> dict[str, Any]:
        """Return the claims of an ID token after checking its signature, issuer, audience and expiry."""
        with self._translate_errors("verify token", "-"):
            cognito = self._cognito(None)
            cognito.pool_jwk = self._get_jwks()
            return cognito.verify_token(id_token, "id_token", "id")

    # Forgotten passwords

    def forgot_password(self, user_name: str) -> CodeDelivery:
        """Send a password reset code to the user; return where it went."""
        user_name = _require(user_name, "username")
        with self._translate_errors("reset password", user_name):
            cognito = self._cognito(user_name)
            params = {"ClientId": self._settings.cognito_client_id, "Username": user_name}
            cognito._add_secret_hash(params, "SecretHash")  # noqa: SLF001 - the library's secret hash helper
            response = self._client.forgot_password(**params)
        logger.info("cognito sent a password reset code to user %s", user_name)
        return _code_delivery(response)

    def confirm_forgot_password(self, user_name: str, code: str, new_password: str) -> None:
        user_name = _require(user_name, "username")
        code = _require(code, "reset code")
        if not new_password:
            raise InvalidInput("Enter a new password.")
        with self._translate_errors("confirm password reset", user_name):
            self._cognito(user_name).confirm_forgot_password(code, new_password)
        logger.info("cognito user %s set a new password with a reset code", user_name)

    # Internals

    def _build_client(self) -> Any:
        config = Config(
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
            read_timeout=_READ_TIMEOUT_SECONDS,
            retries={"max_attempts": 3, "mode": "standard"},
        )
        kwargs: dict[str, Any] = {"region_name": self._region, "config": config}
        if self._settings.cognito_endpoint_url:
            kwargs["endpoint_url"] = self._settings.cognito_endpoint_url
        return boto3.client("cognito-idp", **kwargs)

    def _cognito(self, user_name: str | None) -> Cognito:
        cognito = Cognito(
            self._settings.cognito_user_pool_id,
            self._settings.cognito_client_id,
            user_pool_region=self._region,
            username=user_name,
            client_secret=self._secret,
            session=_FixedClientSession(self._client),
        )
        return cognito

    def _get_jwks(self, refetch: bool = False) -> dict[str, Any]:
        """Return the pool's key set, fetched on first use or when `refetch`; pycognito verifies tokens with it."""
        with self._jwks_lock:
            if self._jwks is None or refetch:
                response = requests.get(self._jwks_url, timeout=JWKS_TIMEOUT_SECONDS)
                response.raise_for_status()
                self._jwks = response.json()
                logger.info("cognito fetched the key set of user pool %s", self._settings.cognito_user_pool_id)
            return self._jwks

    def _initiate_password_auth(self, cognito: Cognito, user_name: str, password: str) -> dict[str, Any]:
        parameters = {"USERNAME": user_name, "PASSWORD": password}
        cognito._add_secret_hash(parameters, "SECRET_HASH")  # noqa: SLF001 - the library's secret hash helper
        return self._client.initiate_auth(
            ClientId=self._settings.cognito_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters=parameters,
        )

    def _run_srp(self, user_name: str, password: str) -> dict[str, Any]:
        """Run the two SRP steps and return Cognito's last response (tokens or a further challenge).

        pycognito's `authenticate` drops the challenge session of NEW_PASSWORD_REQUIRED, so the
        steps are taken here with its SRP arithmetic.
        """
        srp = AWSSRP(
            username=user_name,
            password=password,
            pool_id=self._settings.cognito_user_pool_id,
            client_id=self._settings.cognito_client_id,
            client=self._client,
            client_secret=self._secret,
        )
        parameters = srp.get_auth_params()
        response = self._client.initiate_auth(
            AuthFlow="USER_SRP_AUTH", AuthParameters=parameters, ClientId=self._settings.cognito_client_id
        )
        if response.get("ChallengeName") != "PASSWORD_VERIFIER":
            return response
        answers = srp.process_challenge(response["ChallengeParameters"], parameters)
        return self._client.respond_to_auth_challenge(
            ClientId=self._settings.cognito_client_id,
            ChallengeName="PASSWORD_VERIFIER",
            ChallengeResponses=answers,
            **({"Session": response["Session"]} if response.get("Session") else {}),
        )

    def _finish_sign_in(self, cognito: Cognito, user_name: str, response: dict[str, Any]) -> SignInResult:
        challenge = response.get("ChallengeName")
        if challenge == "NEW_PASSWORD_REQUIRED":
            # Cognito names the user by its internal name in the challenge when the user signed in by an alias.
            name = response.get("ChallengeParameters", {}).get("USERNAME") or user_name
            return NewPasswordRequired(user_name=name, session=response["Session"])
        if challenge:
            # NOTE: multi-factor sign-in (SMS_MFA, SOFTWARE_TOKEN_MFA, MFA_SETUP) is not supported yet.
            raise PermissionDenied(
                f"Cognito asks user {user_name!r} for {challenge}, which OperatorFlow does not support: "
                "ask the user pool's administrator to turn off multi-factor sign-in for this app client."
            )
        self._set_verified_tokens(cognito, response)
        return self._session_from(cognito)

    def _set_verified_tokens(self, cognito: Cognito, response: dict[str, Any]) -> None:
        """Verify the ID and access tokens of an AuthenticationResult and store them on `cognito`."""
        result = response["AuthenticationResult"]
        cognito.pool_jwk = self._get_jwks()
        key_ids = {jwt.get_unverified_header(result[name]).get("kid") for name in ("IdToken", "AccessToken")}
        if not key_ids <= _key_ids(cognito.pool_jwk):
            # The pool has rotated its signing keys since the key set was fetched.
            cognito.pool_jwk = self._get_jwks(refetch=True)
            if not key_ids <= _key_ids(cognito.pool_jwk):
                raise PermissionDenied(
                    f"Cognito signed the tokens with a key that user pool {self._settings.cognito_user_pool_id} "
                    f"does not publish: {_CONFIG_HINT}."
                )
        cognito._set_tokens(response)  # noqa: SLF001 - pycognito's verification of both tokens

    def _session_from(self, cognito: Cognito) -> CognitoSession:
        id_claims = cognito.id_claims
        access_claims = cognito.access_claims
        expires = min(int(id_claims["exp"]), int(access_claims["exp"]))
        return CognitoSession(
            user_name=str(id_claims.get("cognito:username") or access_claims.get("username") or cognito.username),
            email=id_claims.get("email"),
            expires_at=dt.datetime.fromtimestamp(expires, dt.timezone.utc),
            id_token=cognito.id_token,
            access_token=cognito.access_token,
            refresh_token=cognito.refresh_token,
        )

    @contextlib.contextmanager
    def _translate_errors(self, action: str, user_name: str) -> Iterator[None]:
        """Turn every Cognito, botocore, pycognito and key-fetch error into an OperatorFlow error.

        This is the only place that reads Cognito's error codes.
        """
        try:
            yield
        except OperatorFlowError:
            raise
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", "")
            logger.info("cognito %s of user %s failed: %s", action, user_name, code)
            raise _error_for_code(code, message, action, user_name) from exc
        except (botocore.exceptions.BotoCoreError, requests.RequestException) as exc:
            logger.warning("cognito %s of user %s failed: %s", action, user_name, type(exc).__name__)
            raise BackendUnavailable(
                f"Cognito cannot be reached ({type(exc).__name__}): try again in a minute; if this persists, "
                f"check OPERATORFLOW_COGNITO_REGION and OPERATORFLOW_COGNITO_ENDPOINT_URL."
            ) from exc
        except (TokenVerificationException, jwt.PyJWTError) as exc:
            logger.warning("cognito %s of user %s returned a token that failed verification: %s", action, user_name, exc)
            raise PermissionDenied(
                f"A Cognito token failed verification ({exc}): sign in again; if this persists, {_CONFIG_HINT}."
            ) from exc


def _error_for_code(code: str, message: str, action: str, user_name: str) -> OperatorFlowError:
    """Map one Cognito error code (and, for NotAuthorizedException, its message) to an OperatorFlow error."""
    lowered = message.lower()
    if code == "NotAuthorizedException":
        if "secret" in lowered:
            return InvalidInput(
                f"Cognito rejected the app client's secret hash: set {_SECRET_SETTING} to the app client's secret, "
                "or leave it empty for a client without a secret."
            )
        if "disabled" in lowered:
            return PermissionDenied(f"The account {user_name!r} is disabled: ask the user pool's administrator.")
        if action == "renew tokens":
            return PermissionDenied("Your Cognito session has ended: sign in again.")
        if action == "set new password":
            return PermissionDenied("The sign-in took too long to finish: sign in again with the temporary password.")
        return PermissionDenied("Incorrect username or password: check both and try again.")

    if code == "UserNotFoundException":
        if action in ("sign in", "set new password"):
            return PermissionDenied("Incorrect username or password: check both and try again.")
        return NotFound(f"No account named {user_name!r} exists: check the username or sign up.")
    if code == "UserNotConfirmedException":
        return AccountNotConfirmed(
            f"The account {user_name!r} is not confirmed yet: enter the code from the confirmation email, "
            "or request a new code."
        )

    if code == "CodeMismatchException":
        return InvalidInput("The code is incorrect: check the code in the email and enter it again.")
    if code == "ExpiredCodeException":
        return InvalidInput("The code has expired: request a new code and enter that one.")

    if code == "InvalidPasswordException":
        return InvalidInput(
            f"The password does not meet the user pool's password policy ({message}): choose a longer one "
            "with upper- and lowercase letters, digits and symbols."
        )
    if code == "UsernameExistsException":
        return InvalidInput(f"The username {user_name!r} is already taken: choose another one, or sign in.")
    if code == "AliasExistsException":
        return InvalidInput("An account with this email address already exists: sign in, or reset its password.")
    if code in ("InvalidParameterException", "InvalidEmailRoleAccessPolicyException"):
        return InvalidInput(f"Cognito rejected the {action} request: {message}")

    if code in ("LimitExceededException", "TooManyRequestsException", "TooManyFailedAttemptsException"):
        return PermissionDenied(f"Too many attempts to {action} for {user_name!r}: wait a few minutes and try again.")
    if code == "ResourceNotFoundException":
        return InvalidInput(f"Cognito does not know this user pool or app client: {_CONFIG_HINT}.")
    if code == "CodeDeliveryFailureException":
        return BackendUnavailable(f"Cognito could not send the code to {user_name!r}: try again later.")
    return BackendUnavailable(f"Cognito failed to {action} for {user_name!r} ({code}: {message}): try again later.")


def _key_ids(jwks: dict[str, Any]) -> set[str]:
    return {str(key.get("kid")) for key in jwks.get("keys", [])}


def _require(value: str, field_name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"Enter your {field_name}.")
    return value


def _code_delivery(response: dict[str, Any]) -> CodeDelivery:
    details = response.get("CodeDeliveryDetails") or {}
    return CodeDelivery(
        destination=str(details.get("Destination") or "your email address"),
        medium=str(details.get("DeliveryMedium") or "EMAIL"),
    )
