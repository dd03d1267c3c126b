"""A fake HashiCorp Vault on 127.0.0.1 that serves the KV version 2 API calls hvac makes.

It follows Vault's documented KV v2 API. Every request needs the `X-Vault-Token` header, else it
gets 403 with `{"errors": ["permission denied"]}`. `/v1/<mount>/data/<path>` takes POST or PUT (a
new version, with an optional check-and-set `options.cas`), GET (the latest or `?version=`) and
DELETE (a soft delete of the latest version). `/v1/<mount>/metadata/<path>` takes GET, LIST (or GET
with `?list=true`) and DELETE (every version and the metadata). A missing secret gets 404 with
`{"errors": []}`, and a path outside the mounts gets 404 with "no handler for route". Times are
RFC 3339 with nanoseconds, as Vault sends them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "fake-vault-token"


@dataclasses.dataclass
class Version:
    data: dict[str, Any] | None
    created_time: str
    deletion_time: str = ""
    destroyed: bool = False

    def metadata(self, number: int) -> dict[str, Any]:
        return {"created_time": self.created_time, "custom_metadata": None, "deletion_time": self.deletion_time,
                "destroyed": self.destroyed, "version": number}


@dataclasses.dataclass
class Secret:
    created_time: str
    updated_time: str
    versions: dict[int, Version] = dataclasses.field(default_factory=dict)

    @property
    def current_version(self) -> int:
        return max(self.versions, default=0)


class VaultError(Exception):
    def __init__(self, status: int, errors: list[str]) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = errors


class FakeVault:
    """KV version 2 engines at `mounts`, with one accepted token. Start with `start()`, stop with `stop()`."""

    def __init__(self, token: str = TOKEN, mounts: tuple[str, ...] = ("secret",)) -> None:
        self.token = token
        self.mounts = {mount: {} for mount in mounts}
        self.requests: list[tuple[str, str]] = []
        """(method, path) of every request, in order."""
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        vault = self

        class Handler(_Handler):
            fake = vault

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-vault", daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def handle(self, method: str, raw_path: str, token: str | None, body: dict[str, Any] | None) -> tuple[int, Any]:
        """Return (HTTP status, JSON document or None for an empty 204)."""
        parsed = urlparse(raw_path)
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        with self._lock:
            self.requests.append((method, parsed.path))
            if token != self.token:
                raise VaultError(403, ["permission denied"])
            if not parsed.path.startswith("/v1/"):
                raise VaultError(404, [])
            route = parsed.path[len("/v1/"):]
            mount, secrets, kind, path = self._route(route)
            if method == "GET" and kind == "metadata" and query.get("list") == "true":
                method = "LIST"
            handler = getattr(self, f"_{kind}_{method.lower()}", None)
            if handler is None:
                raise VaultError(405, [f"unsupported operation {method} on {mount}/{kind}"])
            return handler(secrets, path, query, body or {})

    def _route(self, route: str) -> tuple[str, dict[str, Secret], str, str]:
        for mount, secrets in self.mounts.items():
            for kind in ("data", "metadata"):
                prefix = f"{mount}/{kind}/"
                if route.startswith(prefix):
                    return mount, secrets, kind, route[len(prefix):].strip("/")
        raise VaultError(404, [f'no handler for route "{route}". route entry not found.'])

    # /data/<path>

    def _data_post(self, secrets: dict[str, Secret], path: str, query, body: dict[str, Any]) -> tuple[int, Any]:
        if not path or path.endswith("/"):
            raise VaultError(405, ["unsupported path"])
        if not isinstance(body.get("data"), dict):
            raise VaultError(400, ["no data provided"])
        now = _now()
        secret = secrets.get(path)
        cas = (body.get("options") or {}).get("cas")
        current = secret.current_version if secret else 0
        if cas is not None and int(cas) != current:
            raise VaultError(400, ["check-and-set parameter did not match the current version"])
        if secret is None:
            secret = secrets[path] = Secret(created_time=now, updated_time=now)
        number = current + 1
        secret.versions[number] = Version(data=dict(body["data"]), created_time=now)
        secret.updated_time = now
        return 200, _envelope(secret.versions[number].metadata(number))

    _data_put = _data_post

    def _data_get(self, secrets: dict[str, Secret], path: str, query, body) -> tuple[int, Any]:
        secret = secrets.get(path)
        if secret is None or not secret.versions:
            raise VaultError(404, [])
        number = int(query.get("version") or 0) or secret.current_version
        version = secret.versions.get(number)
        if version is None:
            raise VaultError(404, [])
        document = _envelope({"data": version.data, "metadata": version.metadata(number)})
        if version.deletion_time or version.destroyed:
            # Vault returns 404 for a deleted version but still sends its metadata.
            document["data"]["data"] = None
            return 404, document
        return 200, document

    def _data_delete(self, secrets: dict[str, Secret], path: str, query, body) -> tuple[int, Any]:
        secret = secrets.get(path)
        if secret is not None and secret.versions:
            secret.versions[secret.current_version].deletion_time = _now()
        return 204, None

    # /metadata/<path>

    def _metadata_get(self, secrets: dict[str, Secret], path: str, query, body) -> tuple[int, Any]:
        secret = secrets.get(path)
        if secret is None:
            raise VaultError(404, [])
        return 200, _envelope({
            "cas_required": False,
            "created_time": secret.created_time,
            "current_version": secret.current_version,
            "custom_metadata": None,
            "delete_version_after": "0s",
            "max_versions": 0,
            "oldest_version": 0,
            "updated_time": secret.updated_time,
            "versions": {str(n): {k: v for k, v in version.metadata(n).items() if k != "version"}
                         for n, version in secret.versions.items()},
        })

    def _metadata_list(self, secrets: dict[str, Secret], path: str, query, body) -> tuple[int, Any]:
        prefix = f"{path}/" if path else ""
        keys = set()
        for name in secrets:
            if name.startswith(prefix):
                rest = name[len(prefix):]
                head, slash, _ = rest.partition("/")
                keys.add(head + slash)
        if not keys:
            raise VaultError(404, [])
        return 200, _envelope({"keys": sorted(keys)})

    def _metadata_delete(self, secrets: dict[str, Secret], path: str, query, body) -> tuple[int, Any]:
        secrets.pop(path, None)
        return 204, None


class _Handler(BaseHTTPRequestHandler):
    fake: FakeVault

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
            status, document = self.fake.handle(self.command, self.path, self.headers.get("X-Vault-Token"), body)
        except VaultError as exc:
            status, document = exc.status, {"errors": exc.errors}
        except (ValueError, TypeError) as exc:
            status, document = 400, {"errors": [f"failed to parse JSON input: {exc}"]}
        payload = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _serve


def _envelope(data: Any) -> dict[str, Any]:
    return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": 0,
            "data": data, "wrap_info": None, "warnings": None, "auth": None, "mount_type": "kv"}


def _now() -> str:
    nanoseconds = time.time_ns()
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"
