"""The service that pages and the command line call: workflows, runs, outputs and predictions.

Every method takes the acting user's name and returns only that user's runs. A run of another user
is reported as not found, so its existence is not revealed. Methods read the registry and the object
store only: nothing here waits on an engine, which is the worker's job.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from operatorflow.clock import Clock
from operatorflow.errors import InvalidInput, NotFound, OperationTimedOut, RunFailed
from operatorflow.extras import check_run_requirements
from operatorflow.registry import Run, RunRegistry
from operatorflow.registry.store import new_run_id
from operatorflow.settings import Settings
from operatorflow.status import ACTIVE_STATUSES, RunStatus
from operatorflow.storage import ObjectStores, join_location
from operatorflow.workflows import Catalog, Workflow, WorkflowKind

if TYPE_CHECKING:
    from operatorflow.schedules import ScheduleService

logger = logging.getLogger(__name__)

RUN_ID_PLACEHOLDER = "{run_id}"
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$")


@dataclasses.dataclass(frozen=True)
class WorkflowStatus:
    workflow: Workflow
    status: str
    """`RUNNING` while one of the user's runs of it is active, else `AVAILABLE`."""
    last_run: Run | None


class OperatorFlow:
    def __init__(self, settings: Settings, registry: RunRegistry, catalog: Catalog,
                 stores: ObjectStores, clock: Clock | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.catalog = catalog
        self.stores = stores
        self.clock = clock or Clock()
        self._models: dict[str, Any] = {}
        self._submit_listeners: list[Callable[[], None]] = []

    @functools.cached_property
    def schedules(self) -> ScheduleService:
        """Periodic schedules of this service's workflows (create, list, pause, resume, delete, fire)."""
        from operatorflow.schedules import ScheduleService

        return ScheduleService(self)

    def add_submit_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each submission, so a worker in this process starts the run at once."""
        self._submit_listeners.append(listener)

    # Workflows

    def list_workflows(self, kind: WorkflowKind | None = None) -> list[Workflow]:
        return self.catalog.list_workflows(kind)

    def list_catalog_problems(self, kind: WorkflowKind | None = None) -> list[tuple[str, str]]:
        """Return (workflow name, message) for catalog files that cannot be read, so pages can show why."""
        return self.catalog.list_problems(kind)

    def get_workflow(self, name: str) -> Workflow:
        return self.catalog.get_workflow(name)

    def list_workflow_statuses(self, user: str, kind: WorkflowKind | None = None) -> list[WorkflowStatus]:
        runs = self.registry.list_runs(owner=_checked_user(user), limit=500)
        statuses = []
        for workflow in self.list_workflows(kind):
            own = [r for r in runs if r.workflow == workflow.name]
            active = any(r.status in ACTIVE_STATUSES for r in own)
            statuses.append(WorkflowStatus(workflow, "RUNNING" if active else "AVAILABLE", own[0] if own else None))
        return statuses

    def default_output_location(self, workflow_name: str) -> str:
        """Return the output location offered for a new run; `{run_id}` is filled in at submission."""
        return join_location(self.settings.resolved_output_root, workflow_name, RUN_ID_PLACEHOLDER)

    # Runs

    def list_engines(self, workflow_name: str) -> list[str]:
        """Return the engines the workflow can run on with these settings, its default first."""
        from operatorflow.factory import configured_engines

        workflow = self.get_workflow(workflow_name)
        engines = configured_engines(self.settings, workflow.kind)
        if workflow.engine in engines:
            engines.remove(workflow.engine)
        return [workflow.engine, *engines]

    def submit_run(self, user: str, workflow_name: str, parameters: dict[str, str] | None = None,
                   output_location: str | None = None, engine: str | None = None) -> Run:
        """Queue a run; the worker starts it. Raises InvalidInput before queueing for bad parameters."""
        owner = _checked_user(user)
        workflow = self.get_workflow(workflow_name)
        resolved = workflow.resolve_parameters(parameters or {})
        engines = self.list_engines(workflow.name)
        engine = engine or engines[0]
        if engine not in engines:
            raise InvalidInput(
                f"Engine {engine!r} cannot run {workflow.name}; available: {', '.join(engines)}. "
                "Other engines are enabled in settings."
            )
        check_run_requirements(self.settings, workflow, resolved, engine)
        run_id = new_run_id()
        location = self._checked_output_location(output_location or self.default_output_location(workflow.name), run_id)

        run = self.registry.create_run(
            run_id=run_id,
            owner=owner,
            workflow=workflow.name,
            kind=workflow.kind.value,
            engine=engine,
            parameters=resolved,
            output_location=location,
        )
        logger.info("service %s submitted run %s of %s", owner, run.id, workflow.name)
        for listener in self._submit_listeners:
            listener()
        return run

    def get_run(self, user: str, run_id: str) -> Run:
        run = self.registry.get_run(run_id.strip())
        if run.owner != _checked_user(user):
            raise NotFound(f"No run {run_id!r}: check the id with `operatorflow runs list`.")
        return run

    def list_runs(self, user: str, *, workflow: str | None = None,
                  statuses: Iterable[RunStatus] | None = None, limit: int | None = None) -> list[Run]:
        return self.registry.list_runs(owner=_checked_user(user), workflow=workflow, statuses=statuses, limit=limit)

    def cancel_run(self, user: str, run_id: str) -> Run:
        run = self.get_run(user, run_id)
        if run.status.is_terminal:
            raise InvalidInput(f"Run {run.id} already ended {run.status.value}; there is nothing to cancel.")
        cancelled = self.registry.request_cancel(run.id)
        logger.info("service %s asked to cancel run %s, now %s", user, run.id, cancelled.status.value)
        return cancelled

    def wait_for_run(self, user: str, run_id: str, timeout_seconds: float | None = None,
                     poll_seconds: float = 1.0, raise_on_failure: bool = False) -> Run:
        """Poll the registry until the run ends; the worker does the engine calls."""
        deadline = None if timeout_seconds is None else self.clock.monotonic() + timeout_seconds
        while True:
            run = self.get_run(user, run_id)
            if run.status.is_terminal:
                if raise_on_failure and run.status is not RunStatus.SUCCEEDED:
                    raise RunFailed(run.id, f"Run {run.id} ended {run.status.value}: {run.error_message or 'no message'}")
                return run
            if deadline is not None and self.clock.monotonic() >= deadline:
                raise OperationTimedOut(
                    f"Run {run.id} is still {run.status.value} after {timeout_seconds:.0f} s; "
                    f"follow it with `operatorflow runs show {run.id}`."
                )
            self.clock.sleep(poll_seconds)

    # Outputs

    def get_run_result(self, user: str, run_id: str) -> Any:
        """Return the run's result decoded from JSON where it is JSON, else as text (None when absent)."""
        run = self.get_run(user, run_id)
        return decode_result(run.result)

    def read_run_log(self, user: str, run_id: str, max_bytes: int = 200_000) -> str:
        """Return the last `max_bytes` of the run's log, or an empty string before it has one."""
        run = self.get_run(user, run_id)
        if not run.log_location:
            return ""
        path = Path(run.log_location)
        if not path.is_file():
            return ""
        with path.open("rb") as handle:
            size = path.stat().st_size
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode("utf-8", errors="replace")
        if size > max_bytes:
            text = f"[first {size - max_bytes} bytes of the log left out]\n" + text
        return text

    def list_output_objects(self, user: str, run_id: str) -> list[str]:
        run = self.get_run(user, run_id)
        return self.stores.for_location(run.output_location).list_objects(run.output_location)

    def read_output_object(self, user: str, run_id: str, location: str) -> bytes:
        """Return one object of the run's output; a location outside it is reported as not found."""
        run = self.get_run(user, run_id)
        base = run.output_location.rstrip("/") + "/"
        if not location.startswith(base):
            raise NotFound(f"No object {location!r} in the output of run {run.id}.")
        return self.stores.for_location(location).read_bytes(location)

    # Models and predictions

    def list_models(self, user: str) -> list[Run]:
        """Return the user's finished pipeline runs whose output contains a trained model, newest first."""
        from operatorflow import inference

        models = []
        for run in self.list_runs(user, statuses=[RunStatus.SUCCEEDED]):
            if run.kind != WorkflowKind.PIPELINE.value:
                continue
            objects = self.stores.for_location(run.output_location).list_objects(run.output_location)
            if any(inference.is_model_location(o) for o in objects):
                models.append(run)
        return models

    def predict(self, user: str, run_id: str, data: bytes):
        """Return predictions for an uploaded CSV with the model of run `run_id`."""
        from operatorflow import inference

        run = self.get_run(user, run_id)
        if run.status is not RunStatus.SUCCEEDED:
            raise InvalidInput(f"Run {run.id} is {run.status.value}; pick a SUCCEEDED training run for predictions.")
        model = self._models.get(run.id)
        if model is None:
            model = inference.load_model(self.stores, run.output_location)
            self._models[run.id] = model
        frame = inference.read_upload(data, model)
        predictions = inference.predict(model, frame)
        logger.info("service %s predicted %d rows with the model of run %s", user, len(predictions), run.id)
        return predictions

    # Helpers

    def _checked_output_location(self, location: str, run_id: str) -> str:
        location = location.strip().replace(RUN_ID_PLACEHOLDER, run_id)
        if not location:
            raise InvalidInput("The output location is empty: give a folder path or an s3://bucket/prefix.")
        store = self.stores.for_location(location)
        if location.startswith("s3://"):
            from operatorflow.storage import split_s3_location

            split_s3_location(location)
            return location
        path = store.path_of(location)  # type: ignore[attr-defined]
        if path.exists() and not path.is_dir():
            raise InvalidInput(f"The output location {location} is an existing file; give a folder instead.")
        return str(path)


def decode_result(result: str | None) -> Any:
    if result is None:
        return None
    try:
        return json.loads(result)
    except ValueError:
        return result


def _checked_user(user: str) -> str:
    if not user or not _USER_NAME.match(user):
        raise InvalidInput(
            f"Invalid user name {user!r}: use letters, digits and . _ @ -, starting with a letter or digit."
        )
    return user
