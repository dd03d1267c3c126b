"""The service that pages and the command line call: workflows, runs, outputs and predictions.

Every method takes the acting user's name and checks it with the access policy (see
`operatorflow.access`) before it acts or returns data: a user sees their own runs and the runs
shared with them, and an administrator gets every run. A run the user may not see and a run that does not
exist raise the same PermissionDenied, so its existence is not revealed. Methods read the registry
and the object store only: nothing here waits on an engine, which is the worker's job.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from operatorflow.access import (
    AccessPolicy,
    Action,
    Grant,
    GrantStore,
    ObjectType,
    Resource,
    SqlUserDirectory,
    missing_grant,
    parse_object_type,
    parse_permission,
)
from operatorflow.clock import Clock
from operatorflow.containers.limits import check_run_request
from operatorflow.errors import InvalidInput, NotFound, OperationTimedOut, RunFailed
from operatorflow.extras import check_run_requirements
from operatorflow.registry import Run, RunRegistry
from operatorflow.registry.store import new_run_id
from operatorflow.settings import Settings
from operatorflow.status import ACTIVE_STATUSES, RunStatus
from operatorflow.storage import ObjectStores, join_location
from operatorflow.workflows import Catalog, Workflow, WorkflowKind

if TYPE_CHECKING:
    from operatorflow.credentials import CredentialService
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
                 stores: ObjectStores, clock: Clock | None = None, access: AccessPolicy | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.catalog = catalog
        self.stores = stores
        self.clock = clock or Clock()
        self._models: dict[str, Any] = {}
        self._submit_listeners: list[Callable[[], None]] = []
        self.access = access or AccessPolicy(GrantStore(registry), SqlUserDirectory(registry))

    @functools.cached_property
    def schedules(self) -> ScheduleService:
        """Periodic schedules of this service's workflows (create, list, pause, resume, delete, fire)."""
        from operatorflow.schedules import ScheduleService

        return ScheduleService(self)

    @functools.cached_property
    def credentials(self) -> CredentialService:
        """Engine and service credentials of users and shared ones, in the store OPERATORFLOW_CREDENTIALS_BACKEND chooses."""
        from operatorflow.credentials import build_credential_service

        return build_credential_service(self.settings, self.registry)

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
        """Return each workflow with RUNNING or AVAILABLE from the user's own runs; shared runs do not count."""
        self.access.check_enabled(_checked_user(user), Action.LIST, ObjectType.WORKFLOW)
        runs = self.registry.list_runs(owner=user, limit=500)
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
        self.access.check(owner, Action.RUN, Resource.of_workflow(workflow.name))
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
        check_run_request(self.settings, workflow, engine, resolved, location)

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

    def submit_workflow_run(self, user: str, workflow: Workflow, parameters: dict[str, str] | None = None,
                            output_location: str | None = None) -> Run:
        """Queue a run of a workflow that is not in the catalog, such as a pipeline stored on a Kubeflow server.

        The run goes to the workflow's own engine, the only one that can find it.
        """
        owner = _checked_user(user)
        self.access.check(owner, Action.RUN, Resource.of_workflow(workflow.name))
        resolved = workflow.resolve_parameters(parameters or {})
        run_id = new_run_id()
        location = self._checked_output_location(output_location or self.default_output_location(workflow.name), run_id)
        run = self.registry.create_run(
            run_id=run_id,
            owner=owner,
            workflow=workflow.name,
            kind=workflow.kind.value,
            engine=workflow.engine,
            parameters=resolved,
            output_location=location,
        )
        logger.info("service %s submitted run %s of %s on %s", owner, run.id, workflow.name, workflow.engine)
        for listener in self._submit_listeners:
            listener()
        return run
    def rerun_run(self, user: str, run_id: str) -> Run:
        """Queue a new run, owned by `user`, of the same workflow with the same parameters and engine."""
        run = self._run_for(user, Action.RUN, run_id)
        return self.submit_run(user, run.workflow, run.parameters, engine=run.engine)

    def get_run(self, user: str, run_id: str) -> Run:
        return self._run_for(user, Action.VIEW, run_id)

    def list_runs(self, user: str, *, workflow: str | None = None,
                  statuses: Iterable[RunStatus] | None = None, limit: int | None = None) -> list[Run]:
        """Return the user's own runs and those shared with them (every run for an administrator), newest first."""
        self.access.check_enabled(_checked_user(user), Action.LIST, ObjectType.RUN)
        return self.registry.list_runs(workflow=workflow, statuses=statuses, limit=limit,
                                       where=self.access.visible_runs_clause(user))

    def cancel_run(self, user: str, run_id: str) -> Run:
        run = self._run_for(user, Action.CANCEL, run_id)
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
        run = self._run_for(user, Action.OUTPUTS, run_id)
        return decode_result(run.result)

    def read_run_log(self, user: str, run_id: str, max_bytes: int = 200_000) -> str:
        """Return the last `max_bytes` of the run's log, or an empty string before it has one."""
        run = self._run_for(user, Action.LOGS, run_id)
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
        run = self._run_for(user, Action.OUTPUTS, run_id)
        return self.stores.for_location(run.output_location).list_objects(run.output_location)

    def read_output_object(self, user: str, run_id: str, location: str) -> bytes:
        """Return one object of the run's output; a location outside it is reported as not found."""
        run = self._run_for(user, Action.OUTPUTS, run_id)
        _check_inside_output(run, location)
        return self.stores.for_location(location).read_bytes(location)

    def get_output_download_url(self, user: str, run_id: str, location: str) -> str:
        """Return a short-lived SigV4 URL for one S3 object of the run's output, after the access check.

        NOTE: a URL stays valid until it expires even if the grant is revoked meanwhile, which is why
        its lifetime is at most 15 minutes (OPERATORFLOW_S3_PRESIGNED_URL_SECONDS).
        """
        from operatorflow.storage.s3_access import presigned_download_url

        run = self._run_for(user, Action.OUTPUTS, run_id)
        _check_inside_output(run, location)
        if not location.startswith("s3://"):
            raise InvalidInput(f"{location} is on local disk, so it has no download URL: read it with read_output_object.")
        url = presigned_download_url(self.stores.s3_client(), location, self.settings.s3_presigned_url_seconds)
        logger.info("service %s got a download URL for %s of run %s", user, location, run.id)
        return url

    # Models and predictions

    def list_models(self, user: str) -> list[Run]:
        """Return the finished pipeline runs the user may see whose output contains a trained model, newest first."""
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

        run = self._run_for(user, Action.OUTPUTS, run_id, ObjectType.MODEL)
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

    # Sharing

    def can(self, user: str, action: Action | str, run: Run) -> bool:
        """Return whether `user` may do `action` on `run`; pages use it to hide controls, the methods still check."""
        return self.access.can(_checked_user(user), Action(action), Resource.of_run(run))

    def grant_access(self, user: str, object_type: str, object_id: str, grantee: str, permission: str,
                     owner: str | None = None) -> Grant:
        """Share a run, or the runs of a workflow that `owner` (default: `user`) owns, with `grantee`.

        Only the owner and administrators may grant. Granting again to the same grantee changes the permission.
        """
        resource = self._grant_resource(user, object_type, object_id, owner)
        level = parse_permission(permission)
        grantee = _checked_user(grantee.strip())
        if grantee == resource.owner:
            raise InvalidInput(f"{grantee} owns {resource.type.value} {resource.id!r} already: pick another user.")
        self.access.check_grantee(grantee)

        grant = self.access.grants.grant(object_type=resource.type, object_id=resource.id, owner=resource.owner or "",
                                         grantee=grantee, permission=level, granted_by=user)
        logger.info("access %s granted %s on %s %s of %s to %s", user, level.value, resource.type.value,
                    resource.id, resource.owner, grantee)
        return grant

    def revoke_access(self, user: str, object_type: str, object_id: str, grantee: str,
                      owner: str | None = None) -> None:
        """Delete a grant; it takes effect at the grantee's next request. Raise NotFound when there was none."""
        resource = self._grant_resource(user, object_type, object_id, owner)
        grantee = grantee.strip()
        if not self.access.grants.revoke(object_type=resource.type, object_id=resource.id,
                                         owner=resource.owner or "", grantee=grantee):
            raise missing_grant(resource.type, resource.id, resource.owner or "", grantee)
        logger.info("access %s revoked %s %s of %s from %s", user, resource.type.value, resource.id,
                    resource.owner, grantee)

    def list_grants(self, user: str, object_type: str | None = None, object_id: str | None = None) -> list[Grant]:
        """Return the grants the user made or received (every grant for an administrator), oldest first.

        With `object_type` and `object_id`, return only that object's grants, which needs the right to grant on it.
        """
        user = _checked_user(user)
        if object_type is not None and object_id is not None:
            resource = self._grant_resource(user, object_type, object_id, None)
            return self.access.grants.list_for_object(resource.type, resource.id, None if
                                                      resource.type is ObjectType.RUN else resource.owner)

        self.access.check_enabled(user, Action.LIST, ObjectType.RUN)
        if self.access.is_admin(user):
            found = self.access.grants.list_all()
        else:
            own = self.access.grants.list_for_owner(user)
            received = self.access.grants.list_for_grantee(user)
            found = sorted({g.id: g for g in own + received}.values(), key=lambda g: (g.created_at, g.id))
        if object_type is not None:
            found = [g for g in found if g.object_type == parse_object_type(object_type).value]
        return found

    def _grant_resource(self, user: str, object_type: str, object_id: str, owner: str | None) -> Resource:
        """Return the object of a grant or revoke after checking that `user` may grant on it."""
        user = _checked_user(user)
        kind = parse_object_type(object_type)
        if kind is ObjectType.RUN:
            return Resource.of_run(self._run_for(user, Action.GRANT, object_id))

        name = object_id.strip()
        if not _is_server_workflow(name):
            name = self.get_workflow(name).name
        resource = Resource(ObjectType.WORKFLOW, name, _checked_user(owner or user), name)
        self.access.check(user, Action.GRANT, resource)
        return resource

    # Helpers

    def _run_for(self, user: str, action: Action, run_id: str, object_type: ObjectType = ObjectType.RUN) -> Run:
        """Return the run after checking the action; a missing run raises the same PermissionDenied as a foreign one."""
        user = _checked_user(user)
        run_id = (run_id or "").strip()
        self.access.check_enabled(user, action, object_type)
        try:
            run = self.registry.get_run(run_id)
        except NotFound:
            raise self.access.denied(user, action, object_type, run_id) from None
        self.access.check(user, action, Resource.of_run(run, object_type))
        return run

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


def _is_server_workflow(name: str) -> bool:
    """Return True for a workflow stored on a Kubeflow server (`kubeflow:NAME`), which the catalog does not list."""
    from operatorflow.engines.kubeflow import SERVER_WORKFLOW_PREFIX

    return name.startswith(SERVER_WORKFLOW_PREFIX)


def decode_result(result: str | None) -> Any:
    if result is None:
        return None
    try:
        return json.loads(result)
    except ValueError:
        return result


def _check_inside_output(run: Run, location: str) -> None:
    """Raise NotFound unless `location` lies under the run's output location.

    `..` segments are rejected too: the local store would resolve them, so `<output>/../<other run>/x`
    would otherwise read another run's output past the access check.
    """
    base = run.output_location.rstrip("/") + "/"
    if not location.startswith(base) or ".." in location[len(base):].split("/"):
        raise NotFound(f"No object {location!r} in the output of run {run.id}.")


def _checked_user(user: str) -> str:
    if not user or not _USER_NAME.match(user):
        raise InvalidInput(
            f"Invalid user name {user!r}: use letters, digits and . _ @ -, starting with a letter or digit."
        )
    return user
