"""The `databricks` engine: each notebook run is a one-time Databricks job run, submitted through databricks-sdk."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import logging
import re
import threading
from pathlib import Path
from typing import Any, Iterator

import requests
from databricks.sdk import WorkspaceClient
from databricks.sdk import errors as sdk_errors
from databricks.sdk.config import Config
from databricks.sdk.service import compute, jobs, workspace

from operatorflow import errors
from operatorflow.clock import Clock
from operatorflow.engines.base import Engine, EngineRun, EngineStatus
from operatorflow.engines.databricks_config import TOKEN_FIX, resolve_databricks_host, resolve_stored_databricks_token
from operatorflow.settings import Settings
from operatorflow.status import RunStatus, status_from_databricks
from operatorflow.workflows import Workflow

logger = logging.getLogger(__name__)

ENGINE_NAME = "databricks"
TASK_KEY = "notebook"
LOG_FILE = "run.log"
DEFAULT_MIN_NODE_MEMORY_GB = 16
"""Memory of the node type chosen when settings name none, so a default run has room for its driver."""
WORKER_RETRY_TIMEOUT_SECONDS = 120
"""Seconds the SDK keeps retrying refused connections, 429 and 503 for the worker, instead of its default 300,
because a worker pass waits for the retries and other runs wait for the pass."""
PAGE_RETRY_TIMEOUT_SECONDS = 10
"""Seconds the SDK keeps retrying a listing that a page waits for."""
MAX_LIMIT_RETRIES = 5
"""Attempts for a REQUEST_LIMIT_EXCEEDED response that the SDK does not retry itself (one without HTTP 429 or 503)."""

_SOURCE_HEADER = "# Databricks notebook source"
_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:/")


@dataclasses.dataclass(frozen=True)
class WorkspaceNotebook:
    path: str
    """Absolute workspace path, such as /Shared/operatorflow/shakespeare-wordcount."""
    name: str
    """Path relative to the workspace folder of the settings."""
    language: str


@dataclasses.dataclass(frozen=True)
class DatabricksCluster:
    cluster_id: str
    name: str
    state: str


def make_databricks_config(settings: Settings, **extra: Any) -> Config:
    """Build the SDK's Config from the settings that are set, so the SDK resolves the rest from the environment and profile.

    Without OPERATORFLOW_DATABRICKS_TOKEN, the shared `databricks-token` of the credentials store
    comes next, before DATABRICKS_TOKEN and the profile file.

    `extra` goes to Config unchanged (tests pass `retry_timeout_seconds` and `clock`). Raises
    BackendUnavailable when no host or no credentials resolve.
    """
    host = resolve_databricks_host(settings)
    if not host:
        raise errors.BackendUnavailable(
            "Databricks is not configured: set OPERATORFLOW_DATABRICKS_HOST or DATABRICKS_HOST to the workspace URL, "
            f"then {TOKEN_FIX}"
        )

    explicit = {
        "host": settings.databricks_host,
        # Before the SDK's own lookup of DATABRICKS_TOKEN and the profile file.
        "token": settings.databricks_token or resolve_stored_databricks_token(settings),
        "profile": settings.databricks_profile,
    }
    kwargs = {key: value for key, value in explicit.items() if value}
    kwargs.update(extra)
    try:
        return Config(**kwargs)
    except ValueError as exc:
        # The SDK masks the token in its message.
        raise errors.BackendUnavailable(f"No Databricks credentials for {host}: {exc}. {TOKEN_FIX}") from exc


def make_databricks_engine(settings: Settings, retry_timeout_seconds: int = WORKER_RETRY_TIMEOUT_SECONDS,
                           clock: Clock | None = None) -> DatabricksEngine:
    return DatabricksEngine(settings, clock=clock, retry_timeout_seconds=retry_timeout_seconds)


class DatabricksEngine(Engine):
    """Runs catalog notebooks on a Databricks workspace with one-time runs submit.

    The client is built at the first request, so building the engine needs no network or credentials.
    Every submission carries the OperatorFlow run id as its idempotency token: the SDK retries
    HTTP 429 and 503 even for `runs/submit`, and the token makes such a retry return the first run.
    """

    name = ENGINE_NAME

    def __init__(self, settings: Settings, config: Config | None = None, clock: Clock | None = None,
                 retry_timeout_seconds: int = WORKER_RETRY_TIMEOUT_SECONDS) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self._config = config
        self._retry_timeout_seconds = retry_timeout_seconds
        self._client: WorkspaceClient | None = None
        self._client_lock = threading.Lock()
        # Notebook paths whose workspace copy matches the local file, by content hash.
        self._imported: dict[str, str] = {}
        self._cluster_defaults: tuple[str, str] | None = None
        # Last state written to each run's log, so the log gets one line per change, not per poll.
        self._logged_states: dict[str, str] = {}

    @property
    def host(self) -> str:
        return resolve_databricks_host(self.settings)

    @property
    def client(self) -> WorkspaceClient:
        with self._client_lock:
            if self._client is None:
                config = self._config or make_databricks_config(
                    self.settings, retry_timeout_seconds=self._retry_timeout_seconds
                )
                self._client = WorkspaceClient(config=config)
            return self._client

    # Runs

    def submit_run(self, run: EngineRun) -> str:
        notebook_path = self.import_notebook(run.workflow)
        parameters = {**run.parameters, "output_path": run.output_location}
        if not _URL_SCHEME.match(run.output_location):
            # NOTE: a local folder path reaches the cluster unchanged, so the outputs stay on the cluster's own disk.
            logger.warning("databricks run %s writes to %s, a path on the cluster's own disk; set "
                           "OPERATORFLOW_OUTPUT_ROOT to an s3:// or dbfs:/ location to keep the outputs",
                           run.run_id, run.output_location)
            self._append_log(run, f"Warning: the output location {run.output_location} is a path on the cluster's "
                                  "own disk; set OPERATORFLOW_OUTPUT_ROOT to an s3:// or dbfs:/ location.")
        task = jobs.SubmitTask(
            task_key=TASK_KEY,
            notebook_task=jobs.NotebookTask(notebook_path=notebook_path, base_parameters=parameters),
            **self._cluster_fields(),
        )

        with self._translated("submit a run of", notebook_path):
            waiter = self._with_backoff(
                lambda: self.client.jobs.submit(
                    run_name=f"OperatorFlow {run.workflow.name} {run.run_id}",
                    tasks=[task],
                    idempotency_token=run.run_id,
                )
            )
        # The waiter is not awaited: the worker polls, for as long as the run lasts.
        databricks_run_id = str(waiter.run_id)
        logger.info("databricks submitted run %s of %s as run %s", run.run_id, notebook_path, databricks_run_id)
        self._append_log(run, f"Submitted {notebook_path} to {self.host} as Databricks run {databricks_run_id}.")
        return databricks_run_id

    def get_run_status(self, engine_run_id: str, run: EngineRun) -> EngineStatus:
        raw = self._get_run_raw(engine_run_id)
        state = raw.get("state") or {}
        status_object = raw.get("status") or {}
        termination = status_object.get("termination_details") or {}
        status = status_from_databricks(
            state.get("life_cycle_state"),
            state.get("result_state"),
            status_state=status_object.get("state"),
            termination_code=termination.get("code"),
        )
        state_message = termination.get("message") or state.get("state_message") or ""
        if status_object.get("state"):
            parts = (status_object.get("state"), termination.get("code"))
        else:
            parts = (state.get("life_cycle_state"), state.get("result_state"))
        described = " ".join(str(part) for part in parts if part)
        if self._logged_states.get(run.run_id) != described:
            if run.run_id not in self._logged_states and raw.get("run_page_url"):
                self._append_log(run, f"Databricks run page: {raw['run_page_url']}")
            self._logged_states[run.run_id] = described
            logger.info("databricks run %s (run %s) is %s", engine_run_id, run.run_id, described)
            self._append_log(run, f"Databricks run {engine_run_id}: {described}. {state_message}".rstrip())

        if not status.is_terminal:
            return EngineStatus(status)
        self._logged_states.pop(run.run_id, None)
        return self._final_status(engine_run_id, run, raw, status, state_message)

    def cancel_run(self, engine_run_id: str, run: EngineRun) -> None:
        with self._translated("cancel run", engine_run_id):
            self._with_backoff(lambda: self.client.jobs.cancel_run(int(engine_run_id)))
        logger.info("databricks asked to cancel run %s (run %s)", engine_run_id, run.run_id)
        self._append_log(run, f"Asked Databricks to cancel run {engine_run_id}.")

    # Notebooks and clusters of the workspace

    def workspace_path(self, workflow: Workflow) -> str:
        return f"{self.settings.databricks_workspace_dir.rstrip('/')}/{workflow.name}"

    def import_notebook(self, workflow: Workflow) -> str:
        """Import the local notebook into the workspace folder unless the copy there is the same; return its path."""
        path = self.workspace_path(workflow)
        content = Path(workflow.path).read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if self._imported.get(path) == digest:
            return path

        is_jupyter = Path(workflow.path).suffix == ".ipynb"
        if not is_jupyter and self._workspace_source(path) == _normalized_source(content):
            logger.info("databricks notebook %s is unchanged, not importing it", path)
            self._imported[path] = digest
            return path

        folder = path.rsplit("/", 1)[0] or "/"
        with self._translated("import notebook", path):
            self._with_backoff(lambda: self.client.workspace.mkdirs(folder))
            self._with_backoff(
                lambda: self.client.workspace.import_(
                    path,
                    content=base64.b64encode(content).decode("ascii"),
                    format=workspace.ImportFormat.JUPYTER if is_jupyter else workspace.ImportFormat.SOURCE,
                    language=None if is_jupyter else workspace.Language.PYTHON,
                    overwrite=True,
                )
            )
        logger.info("databricks imported %s as %s", workflow.path, path)
        self._imported[path] = digest
        return path

    def list_workspace_notebooks(self) -> list[WorkspaceNotebook]:
        """Return the notebooks of the workspace folder and of its direct sub-folders, by path.

        A folder that does not exist yet (no notebook imported so far) has no notebooks.
        """
        root = self.settings.databricks_workspace_dir.rstrip("/") or "/"
        notebooks = []
        folders = [root]
        with self._translated("list the workspace folder", root):
            for depth in range(2):
                subfolders = []
                for folder in folders:
                    try:
                        objects = self._with_backoff(lambda folder=folder: list(self.client.workspace.list(folder)))
                    except sdk_errors.ResourceDoesNotExist:
                        if folder == root:
                            return []
                        continue
                    for item in objects:
                        if item.object_type == workspace.ObjectType.NOTEBOOK and item.path:
                            language = item.language.value if item.language else ""
                            name = item.path[len(root):].lstrip("/")
                            notebooks.append(WorkspaceNotebook(item.path, name, language))
                        elif item.object_type == workspace.ObjectType.DIRECTORY and depth == 0 and item.path:
                            subfolders.append(item.path)
                folders = subfolders
        logger.info("databricks listed %d notebooks under %s", len(notebooks), root)
        return sorted(notebooks, key=lambda n: n.path)

    def list_clusters(self) -> list[DatabricksCluster]:
        with self._translated("list clusters of", self.host):
            details = self._with_backoff(lambda: list(self.client.clusters.list()))
        clusters = [
            DatabricksCluster(c.cluster_id or "", c.cluster_name or "", c.state.value if c.state else "UNKNOWN")
            for c in details
        ]
        logger.info("databricks listed %d clusters", len(clusters))
        return clusters

    # Scheduled jobs

    def create_scheduled_job(self, *, name: str, workflow: Workflow, parameters: dict[str, str],
                             cron_expression: str, time_zone: str, paused: bool = False) -> str:
        """Create a Databricks job that runs the notebook on a schedule; return its job id.

        `cron_expression` is a five-field cron expression (minute hour day-of-month month day-of-week),
        converted to the Quartz syntax that Databricks schedules use.
        """
        notebook_path = self.import_notebook(workflow)
        task = jobs.Task(
            task_key=TASK_KEY,
            notebook_task=jobs.NotebookTask(notebook_path=notebook_path, base_parameters=dict(parameters)),
            **self._cluster_fields(),
        )
        schedule = self._schedule(cron_expression, time_zone, paused)
        with self._translated("create a scheduled job for", notebook_path):
            created = self.client.jobs.create(name=name, tasks=[task], schedule=schedule, max_concurrent_runs=1)
        job_id = str(created.job_id)
        logger.info("databricks created job %s for %s on schedule %r (%s)", job_id, notebook_path,
                    schedule.quartz_cron_expression, time_zone)
        return job_id

    def update_job_schedule(self, job_id: str, *, cron_expression: str, time_zone: str, paused: bool) -> None:
        schedule = self._schedule(cron_expression, time_zone, paused)
        with self._translated("update the schedule of job", job_id):
            self._with_backoff(
                lambda: self.client.jobs.update(int(job_id), new_settings=jobs.JobSettings(schedule=schedule))
            )
        logger.info("databricks updated job %s: schedule %r, paused %s", job_id, schedule.quartz_cron_expression, paused)

    def delete_job(self, job_id: str) -> None:
        with self._translated("delete job", job_id):
            self._with_backoff(lambda: self.client.jobs.delete(int(job_id)))
        logger.info("databricks deleted job %s", job_id)

    # Helpers

    def _schedule(self, cron_expression: str, time_zone: str, paused: bool) -> jobs.CronSchedule:
        return jobs.CronSchedule(
            quartz_cron_expression=quartz_cron(cron_expression),
            timezone_id=time_zone,
            pause_status=jobs.PauseStatus.PAUSED if paused else jobs.PauseStatus.UNPAUSED,
        )

    def _cluster_fields(self) -> dict[str, Any]:
        if self.settings.databricks_cluster_id:
            return {"existing_cluster_id": self.settings.databricks_cluster_id}
        minimum, maximum = self.settings.databricks_min_workers, self.settings.databricks_max_workers
        if not 0 <= minimum <= maximum or maximum < 1:
            raise errors.InvalidInput(
                f"Invalid Databricks autoscaling range {minimum} to {maximum} workers: set "
                "OPERATORFLOW_DATABRICKS_MIN_WORKERS (0 or more) no higher than OPERATORFLOW_DATABRICKS_MAX_WORKERS (1 or more)."
            )
        spark_version, node_type = self._new_cluster_defaults()
        cluster = compute.ClusterSpec(
            autoscale=compute.AutoScale(min_workers=minimum, max_workers=maximum),
            spark_version=spark_version,
            node_type_id=node_type,
        )
        return {"new_cluster": cluster}

    def _new_cluster_defaults(self) -> tuple[str, str]:
        if self._cluster_defaults is not None:
            return self._cluster_defaults
        spark_version = self.settings.databricks_spark_version
        node_type = self.settings.databricks_node_type
        with self._translated("choose a runtime and node type on", self.host):
            try:
                if not spark_version:
                    spark_version = self.client.clusters.select_spark_version(long_term_support=True, latest=True)
                if not node_type:
                    node_type = self.client.clusters.select_node_type(min_memory_gb=DEFAULT_MIN_NODE_MEMORY_GB)
            except ValueError as exc:
                raise errors.InvalidInput(
                    f"Databricks at {self.host} offers no default for new clusters ({exc}): set "
                    "OPERATORFLOW_DATABRICKS_SPARK_VERSION and OPERATORFLOW_DATABRICKS_NODE_TYPE, "
                    "or OPERATORFLOW_DATABRICKS_CLUSTER_ID."
                ) from exc
        logger.info("databricks new clusters use runtime %s on %s", spark_version, node_type)
        self._cluster_defaults = (spark_version, node_type)
        return self._cluster_defaults

    def _get_run_raw(self, engine_run_id: str) -> dict[str, Any]:
        # The raw response keeps state names that this SDK version lacks, because its dataclasses turn them into None.
        with self._translated("read the status of run", engine_run_id):
            return self._with_backoff(
                lambda: self.client.api_client.do(
                    "GET", "/api/2.2/jobs/runs/get", query={"run_id": engine_run_id},
                    headers={"Accept": "application/json"},
                )
            )

    def _final_status(self, engine_run_id: str, run: EngineRun, raw: dict[str, Any], status: RunStatus,
                      state_message: str) -> EngineStatus:
        task_run_id = _task_run_id(raw)
        output = None
        if task_run_id is not None:
            # The parent of a multi-task run is rejected by runs/get-output; the task's own id is not.
            try:
                with self._translated("read the output of task run", str(task_run_id)):
                    output = self._with_backoff(lambda: self.client.jobs.get_run_output(task_run_id))
            except (errors.InvalidInput, errors.NotFound) as exc:
                # Retrying cannot help, so the run ends with the status its state maps to.
                logger.warning("databricks run %s ended %s without readable output: %s", engine_run_id, status.value, exc)
                self._append_log(run, f"The output of Databricks run {engine_run_id} cannot be read: {exc}")

        result = None
        error_message = None
        if output is not None:
            if output.notebook_output is not None:
                result = output.notebook_output.result
            if output.logs:
                self._append_log(run, f"Logs of task run {task_run_id}:\n{output.logs}")
            if output.error_trace:
                self._append_log(run, f"Error trace of task run {task_run_id}:\n{output.error_trace}")
            if output.error:
                error_message = output.error
        if status is not RunStatus.SUCCEEDED and not error_message:
            error_message = state_message or f"Databricks run {engine_run_id} ended {status.value}."
        if status is RunStatus.SUCCEEDED:
            error_message = None
        self._append_log(run, f"Databricks run {engine_run_id} ended {status.value}.")
        return EngineStatus(status, error_message=error_message, result=result)

    def _append_log(self, run: EngineRun, line: str) -> None:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        with (run.run_dir / LOG_FILE).open("a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")

    def _workspace_source(self, path: str) -> bytes | None:
        """Return the workspace copy of a notebook in source format, or None when there is none."""
        with self._translated("export notebook", path):
            try:
                exported = self._with_backoff(
                    lambda: self.client.workspace.export(path, format=workspace.ExportFormat.SOURCE)
                )
            except sdk_errors.ResourceDoesNotExist:
                return None
        if not exported.content:
            return None
        return _normalized_source(base64.b64decode(exported.content))

    def _with_backoff(self, call):
        """Call `call`, retrying REQUEST_LIMIT_EXCEEDED responses that the SDK itself does not retry."""
        delay = 1.0
        for attempt in range(1, MAX_LIMIT_RETRIES + 1):
            try:
                return call()
            except sdk_errors.TooManyRequests as exc:
                if attempt == MAX_LIMIT_RETRIES:
                    raise
                logger.debug("databricks rate limited (%s), retry %d in %.0f s", exc.error_code, attempt, delay)
                self.clock.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _translated(self, action: str, subject: str) -> Iterator[None]:
        """Translate SDK and HTTP errors into OperatorFlow's errors, once, chained."""
        try:
            yield
        except errors.OperatorFlowError:
            raise
        except sdk_errors.Unauthenticated as exc:
            raise errors.PermissionDenied(
                f"Databricks at {self.host} rejected the credentials when trying to {action} {subject}: {_detail(exc)}. {TOKEN_FIX}"
            ) from exc
        except sdk_errors.PermissionDenied as exc:
            raise errors.PermissionDenied(
                f"Databricks at {self.host} denied the request to {action} {subject}: {_detail(exc)}. Check that the token "
                "in OPERATORFLOW_DATABRICKS_TOKEN or DATABRICKS_TOKEN is valid and may use this workspace."
            ) from exc
        except sdk_errors.NotFound as exc:
            raise errors.NotFound(f"Databricks found nothing to {action} {subject}: {_detail(exc)}.") from exc
        except sdk_errors.TooManyRequests as exc:
            raise errors.BackendUnavailable(
                f"Databricks at {self.host} kept rate-limiting the request to {action} {subject}: {_detail(exc)}. Try again later."
            ) from exc
        except sdk_errors.BadRequest as exc:
            raise errors.InvalidInput(f"Databricks rejected the request to {action} {subject}: {_detail(exc)}.") from exc
        except sdk_errors.DatabricksError as exc:
            raise errors.BackendUnavailable(
                f"Databricks at {self.host} failed to {action} {subject}: {_detail(exc)}. Try again later."
            ) from exc
        except (TimeoutError, requests.RequestException) as exc:
            # The SDK raises TimeoutError once its retries of refused connections, 429 or 503 run out.
            cause = exc.__cause__ or exc
            raise errors.BackendUnavailable(
                f"Databricks at {self.host} did not respond to the request to {action} {subject}: {_detail(cause)}. "
                "Check the host and the network, then try again."
            ) from exc


def _detail(exc: BaseException) -> str:
    return str(exc).rstrip(".")


def _task_run_id(raw: dict[str, Any]) -> int | None:
    tasks = raw.get("tasks") or []
    for task in tasks:
        if task.get("task_key") == TASK_KEY and task.get("run_id") is not None:
            return int(task["run_id"])
    if tasks and tasks[0].get("run_id") is not None:
        return int(tasks[0]["run_id"])
    return None


def _normalized_source(content: bytes) -> bytes:
    """Return notebook source without the trailing blank lines and header that an export may add or drop."""
    text = content.decode("utf-8", errors="replace").replace("\r\n", "\n").strip()
    if text.startswith(_SOURCE_HEADER):
        text = text[len(_SOURCE_HEADER):].lstrip("\n")
    return text.encode("utf-8")


_CRON_NUMBER = re.compile(r"\d+")


def quartz_cron(expression: str) -> str:
    """Convert a five-field cron expression to Quartz: seconds first, `?` for one day field, Sunday as 1.

    Raises InvalidInput when both day fields are restricted, which Quartz cannot express.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise errors.InvalidInput(
            f"Invalid cron expression {expression!r}: use five fields (minute hour day-of-month month day-of-week), "
            "such as '0 6 * * 1-5'."
        )
    minute, hour, day_of_month, month, day_of_week = fields
    if day_of_week == "*":
        day_of_week = "?"
    elif day_of_month == "*":
        day_of_month = "?"
        day_of_week = _quartz_weekdays(day_of_week)
    else:
        raise errors.InvalidInput(
            f"Cron expression {expression!r} restricts both the day of month and the day of week, which Databricks "
            "schedules cannot express: set one of the two to '*'."
        )
    return " ".join(["0", minute, hour, day_of_month, month, day_of_week])


def _quartz_weekdays(field: str) -> str:
    # Cron counts Sunday as 0 or 7, Quartz as 1. Names such as MON-FRI are the same in both.
    converted = []
    for part in field.split(","):
        days, _, step = part.partition("/")
        range_to_sunday = re.fullmatch(r"(\d+)-7", days)
        if range_to_sunday and not step:
            # A cron range that ends on Sunday 7 wraps around to Quartz's Sunday 1.
            start = int(range_to_sunday.group(1)) % 7 + 1
            converted.append(f"{start}-7,1" if start < 7 else "7,1")
            continue
        days = _CRON_NUMBER.sub(lambda m: str(int(m.group()) % 7 + 1), days)
        converted.append(f"{days}/{step}" if step else days)
    return ",".join(converted)
