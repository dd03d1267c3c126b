"""A fake Kubeflow Pipelines server on 127.0.0.1 that serves the v2beta1 REST calls kfp.Client 2.17 makes.

Field names follow the models of kfp-server-api 2.17 (`kfp_server_api/models/v2beta1_*.py`). Runs move
one state along their script at each `advance()`: PENDING, RUNNING, then SUCCEEDED by default. A
terminated run goes CANCELING, then CANCELED at the next `advance()` unless `confirm_cancel` is off.
Requests without the bearer token or the cookies the fake was made with get 401. Namespaces other
than `namespaces` get 403, and unknown runs and experiments get 404. Lists come in pages with opaque
`next_page_token`s and are filtered by `display_name` predicates. `fail_next` injects bursts of 5xx, and
`drop_next_create_response` creates a run but closes the connection before answering.
With `advance_on_read`, each read of a run also moves it on, so a waiting client sees it finish.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.parser
import email.policy
import itertools
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

TOKEN = "fake-kfp-token"
API = "/apis/v2beta1"


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclasses.dataclass
class RunScript:
    """How a created run behaves: the states it passes through and how it ends."""

    states: tuple[str, ...] = ("PENDING", "RUNNING", "SUCCEEDED")
    error_message: str = ""
    """`error.message` of the run once it reaches FAILED."""


@dataclasses.dataclass
class FakeRun:
    body: dict[str, Any]
    script: RunScript
    namespace: str
    step: int = 0
    terminating: bool = False


@dataclasses.dataclass
class _Failure:
    remaining: int
    status: int
    method: str | None
    path_part: str | None


def _timestamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubeflow:
    """The server's state; `start()` serves it over HTTP and returns the host URL."""

    def __init__(self, token: str | None = TOKEN, cookies: dict[str, str] | None = None,
                 namespaces: set[str] | None = None, multi_user: bool = True) -> None:
        self.token = token
        self.cookies = cookies or {}
        self.namespaces = namespaces if namespaces is not None else {"kubeflow-user-ada"}
        """Namespaces the accepted credentials may use; every other one gets 403."""
        self.multi_user = multi_user
        self.lock = threading.Lock()
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        self.experiments: dict[str, dict[str, Any]] = {}
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, list[dict[str, Any]]] = {}
        self.runs: dict[str, FakeRun] = {}
        self.script = RunScript()
        self.confirm_cancel = True
        self.advance_on_read = False
        """Move a run one state on at each read of it, for tests that wait for a run instead of driving it."""
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.create_bodies: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._drop_creates = 0
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.host = ""

    # Control

    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-kfp", daemon=True)
        self._thread.start()
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.host

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def advance(self, seconds: float = 60.0) -> None:
        """Move the clock on and every active run one state along its script."""
        with self.lock:
            self.now += dt.timedelta(seconds=seconds)
            for run in self.runs.values():
                self._advance_run(run)

    def fail_next(self, count: int, status: int = 503, method: str | None = None, path_part: str | None = None) -> None:
        """Fail the next `count` matching requests with HTTP `status`."""
        with self.lock:
            self._failures.append(_Failure(count, status, method, path_part))

    def drop_next_create_response(self) -> None:
        """Create the next run, then close the connection without a response, as a lost response does."""
        with self.lock:
            self._drop_creates += 1

    def add_experiment(self, name: str, namespace: str) -> dict[str, Any]:
        with self.lock:
            return self._create_experiment({"display_name": name, "namespace": namespace})

    def add_pipeline(self, name: str, spec: dict[str, Any], namespace: str = "") -> dict[str, Any]:
        """Store a pipeline with one version, as an upload does."""
        with self.lock:
            return self._store_pipeline(name, "", namespace, spec)

    def add_version(self, pipeline_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._store_version(pipeline_id, spec)

    def run_named(self, display_name: str) -> FakeRun:
        with self.lock:
            matches = [r for r in self.runs.values() if r.body["display_name"] == display_name]
        assert len(matches) == 1, f"{len(matches)} runs named {display_name}"
        return matches[0]

    def count(self, method: str, path_part: str) -> int:
        return sum(1 for m, p, _q in self.requests if m == method and path_part in p)

    # Request handling (called with the lock held)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes) -> tuple[int, Any]:
        self.requests.append((method, path, query))
        for failure in self._failures:
            if failure.remaining > 0 and failure.method in (None, method) and (
                    failure.path_part is None or failure.path_part in path):
                failure.remaining -= 1
                raise ApiError(failure.status, 14, f"injected failure {failure.status}")
        self._check_auth(headers)

        if path == f"{API}/healthz" and method == "GET":
            return 200, {"multi_user": self.multi_user, "pipeline_store": "database"}
        if path == f"{API}/experiments":
            if method == "GET":
                namespace = self._namespace_of_query(query)
                items = [e for e in self.experiments.values() if not self.multi_user or e["namespace"] == namespace]
                return 200, self._page("experiments", items, query)
            if method == "POST":
                document = _json(body)
                self._check_namespace(document.get("namespace", ""))
                if any(e["display_name"] == document.get("display_name") and
                       e["namespace"] == document.get("namespace", "") for e in self.experiments.values()):
                    raise ApiError(409, 6, f"experiment {document.get('display_name')} already exists")
                return 200, self._create_experiment(document)
        if path.startswith(f"{API}/experiments/") and method == "GET":
            experiment = self._experiment(path.rsplit("/", 1)[1])
            return 200, experiment
        if path == f"{API}/pipelines/upload" and method == "POST":
            return 200, self._upload(query, headers, body)
        if path == f"{API}/pipelines" and method == "GET":
            namespace = _one(query, "namespace")
            if namespace:
                self._check_namespace(namespace)
            items = [p for p in self.pipelines.values() if p["namespace"] in ("", namespace)]
            return 200, self._page("pipelines", items, query)
        if path.startswith(f"{API}/pipelines/") and "/versions" in path and method == "GET":
            parts = path[len(API) + 1:].split("/")
            pipeline_id = parts[1]
            if pipeline_id not in self.versions:
                raise ApiError(404, 5, f"pipeline {pipeline_id} not found")
            if len(parts) == 4:
                for version in self.versions[pipeline_id]:
                    if version["pipeline_version_id"] == parts[3]:
                        return 200, version
                raise ApiError(404, 5, f"pipeline version {parts[3]} not found")
            return 200, self._page("pipeline_versions", self.versions[pipeline_id], query)
        if path == f"{API}/runs":
            if method == "POST":
                return 200, self._create_run(_json(body))
            if method == "GET":
                experiment_id = _one(query, "experiment_id")
                if experiment_id:
                    self._check_namespace(self._experiment(experiment_id)["namespace"])
                    items = [r.body for r in self.runs.values() if r.body["experiment_id"] == experiment_id]
                else:
                    namespace = self._namespace_of_query(query)
                    items = [r.body for r in self.runs.values() if not self.multi_user or r.namespace == namespace]
                return 200, self._page("runs", items, query)
        if path.startswith(f"{API}/runs/"):
            run_id, _, action = path[len(API) + len("/runs/"):].partition(":")
            run = self.runs.get(run_id)
            if run is None:
                raise ApiError(404, 5, f"Failed to get run: run {run_id} not found")
            self._check_namespace(run.namespace)
            if method == "GET" and not action:
                if self.advance_on_read:
                    self._advance_run(run)
                return 200, run.body
            if method == "POST" and action == "terminate":
                if run.body["state"] not in ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"):
                    run.terminating = True
                    self._set_state(run, "CANCELING")
                return 200, {}
        raise ApiError(404, 5, f"no route for {method} {path}")

    # Helpers

    def _check_auth(self, headers) -> None:
        authorization = headers.get("Authorization") or ""
        token_ok = self.token is not None and authorization == f"Bearer {self.token}"
        cookie_header = headers.get("Cookie") or ""
        sent = dict(part.strip().split("=", 1) for part in cookie_header.split(";") if "=" in part)
        cookies_ok = bool(self.cookies) and all(sent.get(k) == v for k, v in self.cookies.items())
        if not (token_ok or cookies_ok):
            raise ApiError(401, 16, "Request is not authenticated: missing or invalid credentials")

    def _check_namespace(self, namespace: str) -> None:
        if not self.multi_user:
            return
        if namespace not in self.namespaces:
            raise ApiError(403, 7, f"PermissionDenied: User is not authorized to access namespace '{namespace}'")

    def _namespace_of_query(self, query) -> str:
        namespace = _one(query, "namespace")
        if self.multi_user:
            if not namespace:
                raise ApiError(400, 3, "Invalid input error: In multi-user mode, namespace is required")
            self._check_namespace(namespace)
        return namespace

    def _experiment(self, experiment_id: str) -> dict[str, Any]:
        experiment = self.experiments.get(experiment_id)
        if experiment is None:
            raise ApiError(404, 5, f"experiment {experiment_id} not found")
        self._check_namespace(experiment["namespace"])
        return experiment

    def _create_experiment(self, document: dict[str, Any]) -> dict[str, Any]:
        experiment_id = str(uuid.UUID(int=next(self._ids)))
        experiment = {
            "experiment_id": experiment_id,
            "display_name": document.get("display_name", ""),
            "description": document.get("description", ""),
            "created_at": _timestamp(self.now),
            "namespace": document.get("namespace") or "",
            "storage_state": "AVAILABLE",
        }
        self.experiments[experiment_id] = experiment
        return experiment

    def _store_pipeline(self, name: str, description: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
        if any(p["display_name"] == name for p in self.pipelines.values()):
            raise ApiError(409, 6, f"Failed to create a pipeline: pipeline {name} already exists")
        pipeline_id = str(uuid.UUID(int=next(self._ids)))
        pipeline = {"pipeline_id": pipeline_id, "display_name": name, "name": name, "description": description,
                    "created_at": _timestamp(self.now), "namespace": namespace}
        self.pipelines[pipeline_id] = pipeline
        self.versions[pipeline_id] = []
        self._store_version(pipeline_id, spec)
        return pipeline

    def _store_version(self, pipeline_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        versions = self.versions[pipeline_id]
        version = {
            "pipeline_id": pipeline_id,
            "pipeline_version_id": str(uuid.UUID(int=next(self._ids))),
            "display_name": f"{self.pipelines[pipeline_id]['display_name']}-v{len(versions) + 1}",
            "created_at": _timestamp(self.now + dt.timedelta(seconds=len(versions))),
            "pipeline_spec": spec,
        }
        versions.append(version)
        return version

    def _upload(self, query, headers, body: bytes) -> dict[str, Any]:
        content_type = headers.get("Content-Type") or ""
        if not content_type.startswith("multipart/form-data"):
            raise ApiError(400, 3, "Failed to upload a pipeline: expected a multipart/form-data body")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "uploadfile":
                documents = [d for d in yaml.safe_load_all(part.get_payload(decode=True)) if d]
                name = _one(query, "display_name") or _one(query, "name") or part.get_filename() or "pipeline"
                namespace = _one(query, "namespace")
                if namespace:
                    self._check_namespace(namespace)
                return self._store_pipeline(name, _one(query, "description"), namespace, documents[0])
        raise ApiError(400, 3, "Failed to upload a pipeline: the form has no uploadfile")

    def _create_run(self, document: dict[str, Any]) -> dict[str, Any]:
        self.create_bodies.append(document)
        if not document.get("display_name"):
            raise ApiError(400, 3, "Invalid input error: run display_name is empty")
        experiment = self._experiment(document.get("experiment_id") or "")
        spec = document.get("pipeline_spec")
        reference = document.get("pipeline_version_reference")
        if spec is None and reference is None:
            raise ApiError(400, 3, "Invalid input error: a run needs pipeline_spec or pipeline_version_reference")
        if reference is not None:
            versions = self.versions.get(reference.get("pipeline_id", ""), [])
            matches = [v for v in versions if v["pipeline_version_id"] == reference.get("pipeline_version_id")]
            if not matches:
                raise ApiError(404, 5, f"pipeline version {reference.get('pipeline_version_id')} not found")
            spec = matches[0]["pipeline_spec"]
        root = (spec.get("pipeline_spec", spec).get("root") or {}).get("inputDefinitions") or {}
        declared = root.get("parameters") or {}
        given = (document.get("runtime_config") or {}).get("parameters") or {}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ApiError(400, 3, f"Invalid input error: unrecognized input parameter(s) {', '.join(unknown)}")

        run_id = str(uuid.UUID(int=next(self._ids)))
        body = {
            "run_id": run_id,
            "experiment_id": experiment["experiment_id"],
            "display_name": document["display_name"],
            "description": document.get("description", ""),
            "storage_state": "AVAILABLE",
            "runtime_config": document.get("runtime_config") or {},
            "created_at": _timestamp(self.now),
            "scheduled_at": _timestamp(self.now),
            "finished_at": "1970-01-01T00:00:00Z",
            "state": "",
            "state_history": [],
        }
        if reference is not None:
            body["pipeline_version_reference"] = reference
        else:
            body["pipeline_spec"] = spec
        run = FakeRun(body=body, script=self.script, namespace=experiment["namespace"])
        self._set_state(run, run.script.states[0])
        self.runs[run_id] = run
        return body

    def _advance_run(self, run: FakeRun) -> None:
        if run.body["state"] in ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"):
            return
        if run.terminating:
            if self.confirm_cancel:
                self._set_state(run, "CANCELED")
            return
        if run.step + 1 < len(run.script.states):
            run.step += 1
            self._set_state(run, run.script.states[run.step])

    def _set_state(self, run: FakeRun, state: str) -> None:
        run.body["state"] = state
        run.body["state_history"].append({"update_time": _timestamp(self.now), "state": state})
        if state in ("SUCCEEDED", "FAILED", "CANCELED", "SKIPPED"):
            run.body["finished_at"] = _timestamp(self.now)
        if state == "FAILED":
            run.body["error"] = {"code": 2, "message": run.script.error_message or "run failed", "details": []}

    def _page(self, field: str, items: list[dict[str, Any]], query) -> dict[str, Any]:
        items = _filtered(items, _one(query, "filter"))
        sort_by = _one(query, "sort_by")
        if sort_by:
            key, _, order = sort_by.partition(" ")
            items = sorted(items, key=lambda item: str(item.get(key, "")), reverse=order.strip() == "desc")
        offset = 0
        token = _one(query, "page_token")
        if token:
            try:
                offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, 3, f"Invalid input error: invalid page token {token!r}") from None
        page_size = int(_one(query, "page_size") or 20)
        chunk = items[offset:offset + page_size]
        document: dict[str, Any] = {"total_size": len(items)}
        if chunk:
            document[field] = chunk
        if offset + page_size < len(items):
            document["next_page_token"] = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + page_size}).encode()).decode()
        return document


def _filtered(items: list[dict[str, Any]], raw_filter: str) -> list[dict[str, Any]]:
    if not raw_filter:
        return items
    try:
        predicates = json.loads(raw_filter).get("predicates") or []
    except (ValueError, AttributeError):
        raise ApiError(400, 3, f"Invalid input error: invalid filter {raw_filter!r}") from None
    for predicate in predicates:
        operation = predicate.get("operation")
        key = predicate.get("key")
        value = predicate.get("stringValue", predicate.get("string_value"))
        if operation in ("EQUALS", 1):
            items = [item for item in items if item.get(key) == value]
        elif operation in ("IS_SUBSTRING", 9):
            items = [item for item in items if str(value) in str(item.get(key, ""))]
        else:
            raise ApiError(400, 3, f"Invalid input error: unsupported filter operation {operation!r}")
    return items


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name) or [""]
    return values[0]


def _json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, 3, "Invalid input error: the body is not JSON") from None
    if not isinstance(document, dict):
        raise ApiError(400, 3, "Invalid input error: the body is not a JSON object")
    return document


class _Handler(BaseHTTPRequestHandler):
    server_state: FakeKubeflow
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self, method: str) -> None:
        parsed = urlparse(self.path)
        query = parse_qs(parsed.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        state = self.server_state
        drop = False
        try:
            with state.lock:
                status, document = state.handle(method, parsed.path, query, self.headers, body)
                if method == "POST" and parsed.path == f"{API}/runs" and state._drop_creates > 0:
                    state._drop_creates -= 1
                    drop = True
        except ApiError as exc:
            status, document = exc.status, {"error": exc.message, "code": exc.code, "message": exc.message,
                                            "details": []}
        if drop:
            self.close_connection = True
            self.connection.close()
            return
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")
