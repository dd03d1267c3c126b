"""Sign-in through an AWS Application Load Balancer: verify the `x-amzn-oidc-data` header it signs.

An ALB with an `authenticate-cognito` (or `authenticate-oidc`) action signs in the user itself. It
passes the user's claims to the app in the `x-amzn-oidc-data` header, a JWT signed with ES256
(ECDSA, P-256, SHA-256). The JWT header carries `kid` (the signing key's id) and `signer` (the
ALB's ARN). The public key for a `kid` is a PEM document at
https://public-keys.auth.elb.REGION.amazonaws.com/KID.

AWS's documentation states that the ALB encodes the three parts in base64url *with* padding
characters, which RFC 7515 does not allow, so strict JWT libraries reject the token. This module
decodes each part with the padding made optional and verifies the signature over the two first
parts exactly as they were received.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import logging
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from operatorflow.clock import Clock
from operatorflow.errors import BackendUnavailable, PermissionDenied
from operatorflow.settings import ALB_ARN_PATTERN, Settings

logger = logging.getLogger(__name__)

IDENTITY_HEADER = "x-amzn-oidc-data"
REJECTION_PREFIX = "Sign-in through the load balancer failed"
AWS_KEY_URL = "https://public-keys.auth.elb.{region}.amazonaws.com/{{kid}}"
KEY_FETCH_TIMEOUT_SECONDS = 5.0
_MAX_PEM_BYTES = 16 * 1024
# Key ids of ALBs are UUIDs. This pattern only keeps a forged `kid` from changing the key URL.
_KID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_ES256_SIGNATURE_BYTES = 64

KeyFetcher = Callable[[str], bytes]
"""Function that returns the PEM public key for a key id, and raises `KeyError` when no such key exists."""


@dataclasses.dataclass(frozen=True)
class AlbIdentity:
    """The user that a verified identity header names."""

    user_name: str
    email: str | None
    subject: str


class AlbSignInRejected(PermissionDenied):
    """Raised when the identity header is missing, malformed, unsigned, expired, forged or from another signer."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{REJECTION_PREFIX}: {reason}")
        self.reason = reason


def resolve_key_url(settings: Settings) -> str:
    """Return the key URL template: the setting, or AWS's URL for the region in `alb_arn`."""
    if settings.alb_public_key_url:
        return settings.alb_public_key_url
    match = ALB_ARN_PATTERN.match(settings.alb_arn)
    if match is None:
        raise BackendUnavailable(
            "No ALB key URL is configured: set OPERATORFLOW_ALB_ARN or OPERATORFLOW_ALB_PUBLIC_KEY_URL."
        )
    return AWS_KEY_URL.format(region=match.group(1))


def http_key_fetcher(url_template: str, timeout: float = KEY_FETCH_TIMEOUT_SECONDS) -> KeyFetcher:
    """Return a key fetcher that downloads `url_template` with `{kid}` replaced."""

    def fetch(kid: str) -> bytes:
        url = url_template.format(kid=kid)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - URL from settings
                return response.read(_MAX_PEM_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if exc.code in (403, 404):
                raise KeyError(kid) from exc
            raise BackendUnavailable(f"The ALB key server at {url} returned HTTP {exc.code}: try again later.") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise BackendUnavailable(
                f"The ALB key server at {url} cannot be reached ({exc}): check OPERATORFLOW_ALB_PUBLIC_KEY_URL "
                "and the app's outbound network access."
            ) from exc

    return fetch


class AlbIdentityVerifier:
    """Verifier of ALB identity headers, which caches each fetched public key by `kid` for the process's lifetime.

    One instance serves every session of the app, so it keeps no user's data.
    """

    def __init__(self, settings: Settings, clock: Clock, key_fetcher: KeyFetcher | None = None) -> None:
        self._expected_signer = settings.alb_arn
        self._clock = clock
        self._fetch_key = key_fetcher or http_key_fetcher(resolve_key_url(settings))
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self._lock = threading.Lock()
        if not self._expected_signer:
            logger.warning(
                "OPERATORFLOW_ALB_ARN is empty, so identity headers signed by any load balancer in the key URL's "
                "region are accepted; set it to your load balancer's ARN"
            )

    def verify(self, headers: Mapping[str, str]) -> AlbIdentity:
        """Return the user named by a request's verified identity header.

        Raises AlbSignInRejected (logged at WARNING with the reason, never the token) when the
        header cannot be trusted, and BackendUnavailable when the key server cannot be reached.
        """
        try:
            identity = self._verify_token(_header_value(headers, IDENTITY_HEADER))
        except AlbSignInRejected as exc:
            logger.warning("alb sign-in rejected: %s", exc.reason)
            raise
        logger.info("alb sign-in verified user %s", identity.user_name)
        return identity

    def _verify_token(self, token: str | None) -> AlbIdentity:
        if not token:
            raise AlbSignInRejected(
                f"the request has no {IDENTITY_HEADER} header. Open the app through the load balancer's address, "
                "not the server's own."
            )

        parts = token.strip().split(".")
        if len(parts) != 3:
            raise AlbSignInRejected(f"the {IDENTITY_HEADER} header is not a signed token (expected three parts).")
        header = _decode_json_part(parts[0], "header")
        payload = _decode_json_part(parts[1], "payload")

        algorithm = header.get("alg")
        if algorithm != "ES256":
            raise AlbSignInRejected(f"the token's algorithm is {algorithm!r}; only ES256 tokens signed by the ALB are accepted.")
        signer = header.get("signer")
        if self._expected_signer and signer != self._expected_signer:
            raise AlbSignInRejected(f"the token was signed by {signer!r}, not by the configured load balancer.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not _KID.match(kid):
            raise AlbSignInRejected("the token's key id (kid) is missing or malformed.")

        key = self._public_key(kid)
        signature = _decode_part(parts[2], "signature")
        if len(signature) != _ES256_SIGNATURE_BYTES:
            raise AlbSignInRejected("the token's signature has the wrong length for ES256.")
        der_signature = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        try:
            key.verify(der_signature, signing_input, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise AlbSignInRejected("the token's signature does not verify with the ALB's public key.") from None

        return self._identity_from_claims(payload)

    def _identity_from_claims(self, payload: dict[str, Any]) -> AlbIdentity:
        expires = payload.get("exp")
        if not isinstance(expires, (int, float)) or isinstance(expires, bool):
            raise AlbSignInRejected("the token has no expiry time (exp).")
        now = self._clock.now()
        if now.timestamp() >= expires:
            expired_at = dt.datetime.fromtimestamp(expires, dt.timezone.utc).isoformat(timespec="seconds")
            raise AlbSignInRejected(f"the token expired at {expired_at}. Reload the page to sign in again.")

        subject = payload.get("sub")
        user_name = payload.get("username") or payload.get("cognito:username")
        if not isinstance(subject, str) or not subject:
            raise AlbSignInRejected("the token names no subject (sub).")
        if not isinstance(user_name, str) or not user_name:
            raise AlbSignInRejected("the token names no user (username or cognito:username).")
        email = payload.get("email")
        return AlbIdentity(user_name=user_name, email=email if isinstance(email, str) else None, subject=subject)

    def _public_key(self, kid: str) -> ec.EllipticCurvePublicKey:
        with self._lock:
            cached = self._keys.get(kid)
        if cached is not None:
            return cached

        # NOTE: keys that do not exist are not cached, so every request with an unknown kid
        # costs one request to the key server.
        try:
            pem = self._fetch_key(kid)
        except KeyError:
            raise AlbSignInRejected(f"no ALB public key exists for the token's key id {kid!r}.") from None
        key = _load_es256_key(pem, kid)
        logger.info("alb fetched public key %s", kid)
        with self._lock:
            self._keys[kid] = key
        return key


def _load_es256_key(pem: bytes, kid: str) -> ec.EllipticCurvePublicKey:
    if len(pem) > _MAX_PEM_BYTES:
        raise BackendUnavailable(f"The ALB public key {kid!r} is larger than {_MAX_PEM_BYTES} bytes: check the key URL.")
    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        raise BackendUnavailable(f"The ALB public key {kid!r} is not a PEM public key: check the key URL.") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BackendUnavailable(f"The ALB public key {kid!r} is not a P-256 key, so it cannot verify ES256 tokens.")
    return key


def _header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header's value, matching its name without regard to case."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _decode_part(part: str, part_name: str) -> bytes:
    """Decode one base64url part, with or without its `=` padding."""
    unpadded = part.rstrip("=")
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        raise AlbSignInRejected(f"the token's {part_name} is not valid base64url.") from None


def _decode_json_part(part: str, part_name: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode_part(part, part_name))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AlbSignInRejected(f"the token's {part_name} is not JSON.") from None
    if not isinstance(value, dict):
        raise AlbSignInRejected(f"the token's {part_name} is not a JSON object.")
    return value
