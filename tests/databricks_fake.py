"""A fake Databricks workspace on 127.0.0.1 that serves the REST calls databricks-sdk 0.167 makes.

It follows the documented behaviour of the Workspace, Clusters and Jobs 2.2 APIs that OperatorFlow
uses: run states move on by one step per `runs/get` call (PENDING, RUNNING, TERMINATING, then
TERMINATED with the scripted result), unknown runs and jobs get HTTP 400 INVALID_PARAMETER_VALUE,
unknown workspace paths HTTP 404 RESOURCE_DOES_NOT_EXIST, a repeated idempotency token returns the
first run, lists come in pages with `next_page_token`, and `throttle` injects bursts of 429.
Field names follow the SDK's dataclasses in `databricks/sdk/service/{jobs,workspace,compute}.py`.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "fake"
SOURCE_HEADER = "# Databricks notebook source\n"
MULTI_TASK_OUTPUT_MESSAGE = (
    "Retrieving the output of runs with multiple tasks is not supported. "
    "Please retrieve the output of each individual task run instead."
)
# Legacy result state -> (termination code, termination type) of the newer `status` object.
_TERMINATION = {
    "SUCCESS": ("SUCCESS", "SUCCESS"),
    "FAILED": ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
    "TIMEDOUT": ("CANCELED", "CLIENT_ERROR"),
    "CANCELED": ("USER_CANCELED", "SUCCESS"),
    "INTERNAL_ERROR": ("INTERNAL_ERROR", "INTERNAL_ERROR"),
}


class ApiError(Exception):
    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}


@dataclasses.dataclass
class RunScript:
    """How a submitted run behaves: the states it passes through and how it ends."""

    result_state: str = "SUCCESS"
    """SUCCESS, FAILED, TIMEDOUT, CANCELED, or INTERNAL_ERROR (which ends the life cycle in INTERNAL_ERROR)."""
    notebook_result: str | None = None
    error: str | None = None
    error_trace: str | None = None
    state_message: str = ""
    active_states: tuple[str, ...] = ("PENDING", "RUNNING", "TERMINATING")
    """Life-cycle states reported by the first `runs/get` calls, one per call."""
    status_object: bool = True
    """Whether `runs/get` includes the newer `status` object beside `state`."""
    logs: str | None = None


@dataclasses.dataclass
class FakeRun:
    run_id: int
    task_run_id: int
    run_name: str
    tasks: list[dict[str, Any]]
    script: RunScript
    polls: int = 0
    cancel_requested: bool = False
    cancel_polls: int = 0


@dataclasses.dataclass
class Throttle:
    remaining: int
    status: int
    error_code: str
    retry_after: int | None
    after_processing: bool


class FakeWorkspace:
    """The workspace's state; `start()` serves it over HTTP and returns the host URL."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.lock = threading.Lock()
        self.folders: set[str] = {"/", "/Shared", "/Users"}
        self.notebooks: dict[str, dict[str, Any]] = {}
        self.clusters: list[dict[str, Any]] = []
        self.spark_versions = [
            {"key": "14.3.x-scala2.12", "name": "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)"},
            {"key": "15.4.x-scala2.12", "name": "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"},
            {"key": "16.1.x-scala2.12", "name": "16.1 (includes Apache Spark 3.5.0, Scala 2.12)"},
        ]
        self.node_types = [
            {"node_type_id": "m5.large", "memory_mb": 8192, "num_cores": 2.0, "num_gpus": 0,
             "description": "m5.large", "instance_type_id": "m5.large", "category": "General Purpose"},
            {"node_type_id": "m5.xlarge", "memory_mb": 16384, "num_cores": 4.0, "num_gpus": 0,
             "description": "m5.xlarge", "instance_type_id": "m5.xlarge", "category": "General Purpose"},
            {"node_type_id": "m5.2xlarge", "memory_mb": 32768, "num_cores": 8.0, "num_gpus": 0,
             "description": "m5.2xlarge", "instance_type_id": "m5.2xlarge", "category": "General Purpose"},
        ]
        self.runs: dict[int, FakeRun] = {}
        self.task_runs: dict[int, int] = {}
        self.idempotency_tokens: dict[str, int] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.script = RunScript()
        """Script of the next submitted runs; `scripts` overrides it per notebook path."""
        self.scripts: dict[str, RunScript] = {}
        self.page_size = 2
        """Items per page of the listing calls, small so that tests cross pages."""
        self.requests: list[tuple[str, str]] = []
        self.submit_bodies: list[dict[str, Any]] = []
        self._throttles: dict[tuple[str, str], Throttle] = {}
        self._ids = itertools.count(1001)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Serving

    def start(self) -> str:
        workspace = self

        class Handler(_Handler):
            fake = workspace

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # A short poll interval keeps `stop()` quick; the default of 0.5 s is paid by every test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-databricks", daemon=True)
        self._thread.start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)

    # What tests arrange

    def throttle(self, method: str, path: str, count: int, *, status: int = 429,
                 error_code: str = "REQUEST_LIMIT_EXCEEDED", retry_after: int | None = 0,
                 after_processing: bool = False) -> None:
        """Fail the next `count` calls of `method path`; with `after_processing` the call takes effect first, as when a response is lost."""
        self._throttles[(method, path)] = Throttle(count, status, error_code, retry_after, after_processing)

    def add_cluster(self, cluster_id: str, name: str, state: str = "RUNNING") -> None:
        self.clusters.append({"cluster_id": cluster_id, "cluster_name": name, "state": state,
                              "spark_version": "15.4.x-scala2.12", "node_type_id": "m5.xlarge"})

    def put_notebook(self, path: str, source: str, language: str = "PYTHON") -> None:
        self._mkdirs(path.rsplit("/", 1)[0])
        self.notebooks[path] = {"content": source.encode("utf-8"), "language": language,
                                "object_id": next(self._ids), "modified_at": int(time.time() * 1000)}

    def count(self, method: str, path: str) -> int:
        return sum(1 for entry in self.requests if entry == (method, path))

    # Dispatch

    def handle(self, method: str, path: str, query: dict[str, str], body: dict[str, Any],
               authorization: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.requests.append((method, path))
            if path == "/.well-known/databricks-config":
                return 404, {"error_code": "NOT_FOUND", "message": "Not found"}, {}
            if authorization != f"Bearer {self.token}":
                return 403, {"error_code": "403", "message": "Invalid access token."}, {}

            throttle = self._throttles.get((method, path))
            if throttle is not None and throttle.remaining > 0:
                throttle.remaining -= 1
                if throttle.after_processing:
                    self._route(method, path, query, body)
                headers = {} if throttle.retry_after is None else {"Retry-After": str(throttle.retry_after)}
                return throttle.status, {"error_code": throttle.error_code,
                                         "message": "Too many requests, slow down."}, headers
            try:
                return 200, self._route(method, path, query, body), {}
            except ApiError as exc:
                return exc.status, {"error_code": exc.error_code, "message": exc.message}, exc.headers

    def _route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        routes = {
            ("GET", "/api/2.0/workspace/list"): self._workspace_list,
            ("GET", "/api/2.0/workspace/get-status"): self._workspace_get_status,
            ("GET", "/api/2.0/workspace/export"): self._workspace_export,
            ("POST", "/api/2.0/workspace/import"): self._workspace_import,
            ("POST", "/api/2.0/workspace/mkdirs"): self._workspace_mkdirs,
            ("GET", "/api/2.1/clusters/list"): self._clusters_list,
            ("GET", "/api/2.1/clusters/spark-versions"): lambda q, b: {"versions": self.spark_versions},
            ("GET", "/api/2.1/clusters/list-node-types"): lambda q, b: {"node_types": self.node_types},
            ("POST", "/api/2.2/jobs/runs/submit"): self._runs_submit,
            ("GET", "/api/2.2/jobs/runs/get"): self._runs_get,
            ("GET", "/api/2.2/jobs/runs/get-output"): self._runs_get_output,
            ("POST", "/api/2.2/jobs/runs/cancel"): self._runs_cancel,
            ("GET", "/api/2.2/jobs/runs/list"): self._runs_list,
            ("POST", "/api/2.2/jobs/create"): self._jobs_create,
            ("GET", "/api/2.2/jobs/get"): self._jobs_get,
            ("POST", "/api/2.2/jobs/update"): self._jobs_update,
            ("POST", "/api/2.2/jobs/delete"): self._jobs_delete,
        }
        route = routes.get((method, path))
        if route is None:
            raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {path}'")
        return route(query, body)

    # Workspace API 2.0

    def _workspace_list(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        folder = self._existing_path(query.get("path", ""))
        if folder in self.notebooks:
            return {"objects": [self._object_info(folder)]}
        prefix = folder.rstrip("/") + "/"
        children = sorted(
            {p for p in [*self.folders, *self.notebooks] if p.startswith(prefix) and "/" not in p[len(prefix):] and p != folder}
        )
        return {"objects": [self._object_info(p) for p in children]} if children else {}

    def _workspace_get_status(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._object_info(self._existing_path(query.get("path", "")))

    def _workspace_export(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        path = self._existing_path(query.get("path", ""))
        notebook = self.notebooks.get(path)
        if notebook is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Path ({path}) is a directory; export it as DBC or AUTO.")
        content = notebook["content"]
        if query.get("format", "SOURCE") == "SOURCE" and notebook["language"] == "PYTHON":
            # A source export of a Python notebook starts with the header line, whether the import had it or not.
            if not content.startswith(SOURCE_HEADER.encode()):
                content = SOURCE_HEADER.encode() + content
        return {"content": base64.b64encode(content).decode("ascii"), "file_type": "py"}

    def _workspace_import(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        path = body.get("path", "")
        parent = path.rsplit("/", 1)[0] or "/"
        if parent not in self.folders:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"The parent folder ({parent}) does not exist.")
        if path in self.notebooks and not body.get("overwrite"):
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) already exists.")
        fmt = body.get("format", "SOURCE")
        if fmt == "SOURCE" and not body.get("language"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "The language field is required for the SOURCE format.")
        self.notebooks[path] = {
            "content": base64.b64decode(body.get("content", "")),
            "language": body.get("language") or "PYTHON",
            "object_id": next(self._ids),
            "modified_at": int(time.time() * 1000),
        }
        return {}

    def _workspace_mkdirs(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        path = body.get("path", "")
        if path in self.notebooks:
            raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({path}) is a notebook.")
        self._mkdirs(path)
        return {}

    def _mkdirs(self, path: str) -> None:
        parts = [p for p in path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            self.folders.add("/" + "/".join(parts[:depth]))

    def _existing_path(self, path: str) -> str:
        path = path.rstrip("/") or "/"
        if path not in self.folders and path not in self.notebooks:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")
        return path

    def _object_info(self, path: str) -> dict[str, Any]:
        notebook = self.notebooks.get(path)
        if notebook is None:
            return {"object_type": "DIRECTORY", "path": path, "object_id": abs(hash(path)) % 10**9}
        return {"object_type": "NOTEBOOK", "path": path, "language": notebook["language"],
                "object_id": notebook["object_id"], "modified_at": notebook["modified_at"]}

    # Clusters API 2.1

    def _clusters_list(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._page(self.clusters, query, "clusters", int(query.get("page_size") or self.page_size))

    def _page(self, items: list[Any], query: dict[str, str], key: str, size: int) -> dict[str, Any]:
        start = int(query.get("page_token") or 0)
        page = items[start:start + size]
        answer: dict[str, Any] = {key: page} if page else {}
        if start + size < len(items):
            answer["next_page_token"] = str(start + size)
            answer["has_more"] = True
        return answer

    # Jobs API 2.2: one-time runs

    def _runs_submit(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        self.submit_bodies.append(body)
        token = body.get("idempotency_token")
        if token and token in self.idempotency_tokens:
            return {"run_id": self.idempotency_tokens[token]}
        tasks = body.get("tasks") or []
        if not tasks:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "At least one task is required.")
        for task in tasks:
            notebook_path = (task.get("notebook_task") or {}).get("notebook_path")
            if notebook_path is not None and notebook_path not in self.notebooks:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Notebook {notebook_path} does not exist.")
            if not task.get("existing_cluster_id") and not task.get("new_cluster"):
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "One of new_cluster or existing_cluster_id is required.")

        run_id = next(self._ids)
        task_run_id = next(self._ids)
        notebook_path = (tasks[0].get("notebook_task") or {}).get("notebook_path", "")
        script = self.scripts.get(notebook_path, self.script)
        self.runs[run_id] = FakeRun(run_id, task_run_id, body.get("run_name", "Untitled"), tasks, script)
        self.task_runs[task_run_id] = run_id
        if token:
            self.idempotency_tokens[token] = run_id
        return {"run_id": run_id}

    def _runs_get(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        run = self._run(query.get("run_id"))
        answer = self._run_json(run)
        run.polls += 1
        if run.cancel_requested:
            run.cancel_polls += 1
        return answer

    def _runs_get_output(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        run_id = _int(query.get("run_id"))
        if run_id in self.runs:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", MULTI_TASK_OUTPUT_MESSAGE)
        if run_id not in self.task_runs:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {query.get('run_id')} does not exist.")
        run = self.runs[self.task_runs[run_id]]
        life_cycle, result = self._states(run)
        answer: dict[str, Any] = {"metadata": self._task_json(run, life_cycle, result)}
        if life_cycle in ("TERMINATED", "INTERNAL_ERROR"):
            if result == "SUCCESS" and run.script.notebook_result is not None:
                answer["notebook_output"] = {"result": run.script.notebook_result, "truncated": False}
            if result in ("FAILED", "INTERNAL_ERROR", "TIMEDOUT") and run.script.error:
                answer["error"] = run.script.error
                if run.script.error_trace:
                    answer["error_trace"] = run.script.error_trace
            if run.script.logs is not None:
                answer["logs"] = run.script.logs
        return answer

    def _runs_cancel(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        run = self._run(body.get("run_id"))
        if self._states(run)[0] not in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED"):
            run.cancel_requested = True
        return {}

    def _runs_list(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        runs = sorted(self.runs.values(), key=lambda r: -r.run_id)
        if query.get("active_only") in ("true", "True"):
            runs = [r for r in runs if self._states(r)[0] not in ("TERMINATED", "INTERNAL_ERROR", "SKIPPED")]
        size = int(query.get("limit") or self.page_size)
        page = self._page([self._run_json(r, with_tasks=False) for r in runs], query, "runs", size)
        page.setdefault("has_more", False)
        return page

    def _run(self, raw_id: Any) -> FakeRun:
        run = self.runs.get(_int(raw_id))
        if run is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {raw_id} does not exist.")
        return run

    def _states(self, run: FakeRun) -> tuple[str, str | None]:
        """Return (life-cycle state, result state) as of the next `runs/get` call."""
        if run.cancel_requested:
            return ("TERMINATING", None) if run.cancel_polls == 0 else ("TERMINATED", "CANCELED")
        if run.polls < len(run.script.active_states):
            return run.script.active_states[run.polls], None
        if run.script.result_state == "INTERNAL_ERROR":
            return "INTERNAL_ERROR", "FAILED"
        return "TERMINATED", run.script.result_state

    def _state_json(self, run: FakeRun, life_cycle: str, result: str | None) -> dict[str, Any]:
        state: dict[str, Any] = {"life_cycle_state": life_cycle, "state_message": ""}
        if result is not None:
            state["result_state"] = result
            state["state_message"] = run.script.state_message if not run.cancel_requested else "Run cancelled."
            state["user_cancelled_or_timedout"] = result in ("CANCELED", "TIMEDOUT")
        return state

    def _status_json(self, run: FakeRun, life_cycle: str, result: str | None) -> dict[str, Any]:
        if life_cycle not in ("TERMINATED", "INTERNAL_ERROR"):
            return {"state": life_cycle}
        key = "INTERNAL_ERROR" if life_cycle == "INTERNAL_ERROR" else result
        code, kind = _TERMINATION.get(key, ("RUN_EXECUTION_ERROR", "CLIENT_ERROR"))
        message = "Run cancelled." if run.cancel_requested else run.script.state_message
        return {"state": "TERMINATED", "termination_details": {"code": code, "type": kind, "message": message}}

    def _task_json(self, run: FakeRun, life_cycle: str, result: str | None) -> dict[str, Any]:
        task = dict(run.tasks[0])
        task.update({"run_id": run.task_run_id, "state": self._state_json(run, life_cycle, result)})
        if run.script.status_object:
            task["status"] = self._status_json(run, life_cycle, result)
        return task

    def _run_json(self, run: FakeRun, with_tasks: bool = True) -> dict[str, Any]:
        life_cycle, result = self._states(run)
        answer: dict[str, Any] = {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "run_type": "SUBMIT_RUN",
            "state": self._state_json(run, life_cycle, result),
            "run_page_url": f"https://fake.databricks/#job/runs/{run.run_id}",
            "format": "MULTI_TASK",
        }
        if run.script.status_object:
            answer["status"] = self._status_json(run, life_cycle, result)
        if with_tasks:
            answer["tasks"] = [self._task_json(run, life_cycle, result)]
        return answer

    # Jobs API 2.2: jobs with a schedule

    def _jobs_create(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("tasks"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "At least one task is required.")
        job_id = next(self._ids)
        self.jobs[job_id] = {k: v for k, v in body.items() if k != "access_control_list"}
        return {"job_id": job_id}

    def _jobs_get(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        job_id = self._job_id(query.get("job_id"))
        return {"job_id": job_id, "settings": self.jobs[job_id], "created_time": 0}

    def _jobs_update(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        job_id = self._job_id(body.get("job_id"))
        self.jobs[job_id].update(body.get("new_settings") or {})
        for field in body.get("fields_to_remove") or []:
            self.jobs[job_id].pop(field, None)
        return {}

    def _jobs_delete(self, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        job_id = self._job_id(body.get("job_id"))
        del self.jobs[job_id]
        return {}

    def _job_id(self, raw_id: Any) -> int:
        job_id = _int(raw_id)
        if job_id not in self.jobs:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Job {raw_id} does not exist.")
        return job_id


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class _Handler(BaseHTTPRequestHandler):
    fake: FakeWorkspace

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def _answer(self, method: str) -> None:
        url = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        status, payload, headers = self.fake.handle(method, url.path, query, body,
                                                     self.headers.get("Authorization", ""))
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


class FakeSdkClock:
    """A clock for databricks-sdk's retries (`databricks.sdk.clock.Clock`): sleeping only moves the time on."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
