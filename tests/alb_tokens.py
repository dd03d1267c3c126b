"""ES256 identity tokens in the form an AWS Application Load Balancer sends, and a local server for its public keys."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import threading
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/operatorflow/50dc6c495c0c9188"


def b64url(data: bytes, padded: bool) -> str:
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if padded else text.rstrip("=")


class AlbSigner:
    """A signing key with its `kid`, which makes tokens the way the ALB does (base64url with padding by default)."""

    def __init__(self, kid: str | None = None) -> None:
        self.kid = kid or str(uuid.uuid4())
        self.private_key = ec.generate_private_key(ec.SECP256R1())

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, *, expires: dt.datetime, claims: dict | None = None, header: dict | None = None,
              padded: bool = True, kid: str | None = None, signer: str = ALB_ARN) -> str:
        token_header = {"typ": "JWT", "kid": kid or self.kid, "alg": "ES256", "iss": "https://cognito-idp.example",
                        "client": "client-id", "signer": signer, "exp": int(expires.timestamp())}
        token_header.update(header or {})
        payload = {"sub": "0f3c9a1e-sub", "email": "ada@example.com", "username": "ada",
                   "exp": int(expires.timestamp()), "iss": "https://cognito-idp.example"}
        payload.update(claims or {})
        signing_input = (
            b64url(json.dumps(token_header).encode(), padded) + "." + b64url(json.dumps(payload).encode(), padded)
        )
        r, s = decode_dss_signature(self.private_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{b64url(signature, padded)}"


class KeyServer:
    """Serves `GET /<kid>` with the PEM of each registered signer on 127.0.0.1, and counts the requests."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
                kid = self.path.lstrip("/")
                outer.requests.append(kid)
                pem = outer.keys.get(kid)
                self.send_response(200 if pem else 404)
                self.end_headers()
                if pem:
                    self.wfile.write(pem)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url_template = f"http://127.0.0.1:{self._server.server_port}/{{kid}}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def add(self, signer: AlbSigner) -> None:
        self.keys[signer.kid] = signer.public_pem()

    def start(self) -> "KeyServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
