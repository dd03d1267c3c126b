"""The `kubeflow` engine: runs pipelines on a Kubeflow Pipelines server through kfp.Client (kfp 2.17, API v2beta1).

Each run is a KFP run in the user's own experiment `operatorflow-<user>`, named after the OperatorFlow
run id so that a submission whose response was lost is found again instead of started twice.
Catalog pipelines are compiled on submission and sent inline; a pipeline already stored on the
server (workflow name `kubeflow:<pipeline name>`) runs its latest version.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

import requests
import yaml

from operatorflow import errors
from operatorflow.clock import Clock
from operatorflow.engines.base import Engine, EngineRun, EngineStatus
from operatorflow.engines.kubeflow_config import (
    CREDENTIALS_FIX,
    ENGINE_NAME,
    SERVICE_ACCOUNT_TOKEN_FILE,
    STORED_TOKEN_FIX,
    KubeflowAuth,
    TokenProvider,
    experiment_name,
    resolve_auth,
    resolve_namespace,
)
from operatorflow.settings import Settings
from operatorflow.status import RunStatus, status_from_kubeflow
from operatorflow.workflows import Parameter, Workflow, WorkflowKind, describe_expected, parse_parameter_value

logger = logging.getLogger(__name__)

SERVER_WORKFLOW_PREFIX = "kubeflow:"
"""Prefix of the workflow name of a pipeline stored on the server, such as `kubeflow:fraud-model`."""
LOG_FILE = "run.log"
PAGE_SIZE = 50
MAX_LISTING_PAGES = 20
"""Pages read at most when a caller needs a whole listing, so a huge server cannot stall a page."""
HEALTH_TIMEOUT_SECONDS = 10.0
FIRST_RETRY_DELAY_SECONDS = 5.0
MAX_RETRY_DELAY_SECONDS = 120.0
OUTPUT_PARAMETER = "output_path"
"""Pipeline input that receives the run's output location; forms never offer it."""

# Parameter types of a compiled pipeline spec (`inputDefinitions.parameters[].parameterType`) as kfp type names.
_SPEC_TYPES = {
    "STRING": "String",
    "NUMBER_INTEGER": "Integer",
    "NUMBER_DOUBLE": "Float",
    "BOOLEAN": "Boolean",
    "LIST": "List",
    "STRUCT": "Dict",
}
# Serializes building kfp.Client, because silencing the FutureWarning it emits at each construction (that it
# needs the v2 API) changes the process-wide warning filters.
_CLIENT_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True)
class ServerPipeline:
    pipeline_id: str
    name: str
    description: str
    created_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class ServerExperiment:
    experiment_id: str
    name: str
    namespace: str
    created_at: dt.datetime | None


@dataclasses.dataclass(frozen=True)
class ServerRun:
    run_id: str
    name: str
    state: str
    experiment_id: str
    created_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str


@dataclasses.dataclass(frozen=True)
class Page:
    """One page of a server listing; `next_page_token` is empty on the last page."""

    items: list
    next_page_token: str


@dataclasses.dataclass
class _Outage:
    """A run whose status could not be read: since when, and when to try again."""

    since: float
    next_attempt: float
    delay: float
    error: str


def make_kubeflow_engine(settings: Settings, clock: Clock | None = None,
                         token_provider: TokenProvider | None = None) -> KubeflowEngine:
    return KubeflowEngine(settings, clock=clock, token_provider=token_provider)


class KubeflowEngine(Engine):
    """Submits, follows and cancels runs on one Kubeflow Pipelines endpoint.

    Clients are built at the first request of each user, so building the engine needs no network.
    The engine keeps no user's token: a token from `token_provider` is asked for at each client
    build and lives only inside that client.
    """

    name = ENGINE_NAME

    def __init__(self, settings: Settings, clock: Clock | None = None, token_provider: TokenProvider | None = None,
                 default_token_file: str = SERVICE_ACCOUNT_TOKEN_FILE) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self._token_provider = token_provider
        self._default_token_file = default_token_file
        self._lock = threading.Lock()
        # One client per user, replaced when the user's credentials or namespace change.
        self._clients: dict[str, tuple[tuple[str, ...], Any]] = {}
        self._experiments: dict[tuple[str, str], str] = {}
        self._outages: dict[str, _Outage] = {}
        self._cancel_sent: dict[str, float] = {}
        # Runs whose terminate request failed, so each status poll sends it again until one succeeds.
        self._terminate_pending: set[str] = set()
        self._logged_states: dict[str, str] = {}

    @property
    def host(self) -> str:
        return self.settings.kubeflow_host.strip().rstrip("/")

    # Clients

    def client_for(self, user: str):
        """Return a kfp.Client with the user's credentials; checks the endpoint's health before the first build."""
        auth = resolve_auth(self.settings, user, self._token_provider, self._default_token_file)
        namespace = resolve_namespace(self.settings, user)
        fingerprint = (auth.token, auth.token_file, auth.cookies, namespace)
        with self._lock:
            cached = self._clients.get(user)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]

        self._check_health(auth)
        client = self._build_client(auth, namespace)
        with self._lock:
            self._clients[user] = (fingerprint, client)
        logger.info("kubeflow connected to %s with %s", self.host, auth.source)
        return client

    def _build_client(self, auth: KubeflowAuth, namespace: str):
        import kfp

        credentials = None
        if auth.token_file:
            from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

            credentials = ServiceAccountTokenVolumeCredentials(path=auth.token_file)
        with self._translated("connect to", self.host), _CLIENT_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            # An explicit empty cookie string keeps kfp from reading one from ~/.config/kfp/context.json.
            # NOTE: with no namespace set, kfp 2.17 queries the server for whether it is multi-user; inside a pod it
            # then reads the pod's namespace and writes it to ~/.config/kfp/context.json.
            # NOTE: kfp.Client sets no request timeout, so a server that accepts a connection and never
            # responds holds the worker's pass until the operating system drops the connection.
            return kfp.Client(
                host=self.host,
                existing_token=auth.token or None,
                credentials=credentials,
                cookies=auth.cookies,
                namespace=namespace or "kubeflow",
            )

    def _check_health(self, auth: KubeflowAuth) -> None:
        """Call the health endpoint once before building a client.

        kfp.Client 2.17 may call it while it is built, and retries a failure five times 5 s apart with real sleeps.
        """
        headers = {"Accept": "application/json"}
        token = auth.token
        if auth.token_file:
            try:
                token = Path(auth.token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise errors.PermissionDenied(
                    f"Cannot read the Kubeflow token file {auth.token_file}: {exc.strerror}. {self._credentials_fix()}"
                ) from exc
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if auth.cookies:
            headers["Cookie"] = auth.cookies
        url = f"{self.host}/apis/v2beta1/healthz"
        try:
            response = requests.get(url, headers=headers, timeout=HEALTH_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            raise errors.BackendUnavailable(
                f"Kubeflow at {self.host} did not respond: {exc}. Check OPERATORFLOW_KUBEFLOW_HOST and the network, "
                "then try again."
            ) from exc
        if response.status_code == 401:
            raise errors.PermissionDenied(
                f"Kubeflow at {self.host} rejected the credentials ({auth.source}). {self._credentials_fix()}"
            )
        if response.status_code >= 400:
            raise errors.BackendUnavailable(
                f"Kubeflow at {self.host} failed its health check with HTTP {response.status_code}: "
                f"{_server_message(response.text)}. Try again later."
            )

    # Runs

    def runs_server_workflow(self, workflow_name: str) -> bool:
        """Return True for the name of a pipeline stored on the server, which the catalog does not contain."""
        return workflow_name.startswith(SERVER_WORKFLOW_PREFIX)

    def submit_run(self, run: EngineRun) -> str:
        if run.workflow.name.startswith(SERVER_WORKFLOW_PREFIX):
            return self._submit_server_pipeline(run)
        if run.workflow.kind is WorkflowKind.CONTAINER:
            from operatorflow.containers.kubeflow import compile_container_pipeline

            # A container run's parameters are already inside its one task, so it has no runtime parameters.
            spec = compile_container_pipeline(run.workflow, run.parameters, run.output_location)
            return self.submit_pipeline_spec(spec, {}, run)

        spec, types = compile_catalog_pipeline(run.workflow.path, run.run_dir)
        parameters = convert_parameters(run.workflow.name, types, run.parameters)
        if OUTPUT_PARAMETER in types:
            parameters[OUTPUT_PARAMETER] = run.output_location
        return self.submit_pipeline_spec(spec, parameters, run)

    def submit_pipeline_spec(self, spec: dict[str, Any], parameters: dict[str, Any], run: EngineRun) -> str:
        """Create a run of a compiled pipeline spec (the dict of its YAML) with typed runtime parameters.

        A pipeline spec with a platform spec is passed as `{"pipeline_spec": ..., "platform_spec": ...}`,
        the form kfp.Client sends.
        """
        return self._create_run(run, parameters, pipeline_spec=spec)

    def get_run_status(self, engine_run_id: str, run: EngineRun) -> EngineStatus:
        now = self.clock.monotonic()
        cancel_sent = self._cancel_sent.get(run.run_id)
        if cancel_sent is not None and now - cancel_sent > self.settings.kubeflow_cancel_timeout_seconds:
            return self._cancel_unconfirmed(engine_run_id, run)

        outage = self._outages.get(run.run_id)
        if outage is not None and now < outage.next_attempt:
            return EngineStatus(RunStatus.RUNNING)
        if run.run_id in self._terminate_pending:
            with contextlib.suppress(errors.BackendUnavailable, errors.PermissionDenied):
                self._terminate(engine_run_id, run)
        try:
            server_run = self.get_server_run(run.owner, engine_run_id)
        except (errors.BackendUnavailable, errors.PermissionDenied) as exc:
            return self._record_outage(engine_run_id, run, exc, now)
        if outage is not None:
            del self._outages[run.run_id]
            logger.info("kubeflow read run %s (run %s) again after %.0f s without a response", engine_run_id,
                        run.run_id, now - outage.since)
            self._append_log(run, f"Kubeflow responded again after {now - outage.since:.0f} s.")

        status = status_from_kubeflow(server_run.state)
        if self._logged_states.get(run.run_id) != server_run.state:
            self._logged_states[run.run_id] = server_run.state
            logger.info("kubeflow run %s (run %s) is %s", engine_run_id, run.run_id, server_run.state)
            self._append_log(run, f"Kubeflow run {engine_run_id}: {server_run.state}.")

        if not status.is_terminal:
            metrics: dict[str, Any] = {"kubeflow_state": server_run.state or "RUNTIME_STATE_UNSPECIFIED"}
            if server_run.state == "PENDING" and server_run.created_at is not None:
                metrics["pending_since"] = server_run.created_at.astimezone(dt.timezone.utc).isoformat()
            return EngineStatus(status, metrics=metrics)

        self._forget(run.run_id)
        error_message = None
        if status is RunStatus.FAILED:
            if server_run.state == "SKIPPED":
                error_message = f"Kubeflow skipped run {engine_run_id}, so it produced no outputs."
            else:
                error_message = (f"Kubeflow run {engine_run_id} failed: "
                                 f"{server_run.error or 'the server gave no error message'}.")
        elif status is RunStatus.CANCELED:
            error_message = f"Kubeflow canceled run {engine_run_id}."
        self._append_log(run, f"Kubeflow run {engine_run_id} ended {server_run.state}."
                              + (f" {server_run.error}" if server_run.error else ""))
        result = json.dumps({"kubeflow_run_id": engine_run_id, "state": server_run.state,
                             "run_page": f"{self.host}/#/runs/details/{engine_run_id}"})
        return EngineStatus(status, error_message=error_message, result=result)

    def cancel_run(self, engine_run_id: str, run: EngineRun) -> None:
        """Send terminate; when the server cannot be reached, keep sending it at each status poll.

        The cancellation deadline starts at the first attempt either way, so a run whose server stays
        away still ends CANCELED after `kubeflow_cancel_timeout_seconds`.
        """
        self._cancel_sent.setdefault(run.run_id, self.clock.monotonic())
        try:
            self._terminate(engine_run_id, run)
        except (errors.BackendUnavailable, errors.PermissionDenied) as exc:
            self._terminate_pending.add(run.run_id)
            logger.warning("kubeflow could not terminate run %s (run %s), will retry: %s", engine_run_id, run.run_id,
                           exc)
            self._append_log(run, f"Could not ask Kubeflow to terminate run {engine_run_id}, retrying: {exc}")

    def _terminate(self, engine_run_id: str, run: EngineRun) -> None:
        client = self.client_for(run.owner)
        with self._translated("cancel run", engine_run_id):
            client.terminate_run(engine_run_id)
        self._terminate_pending.discard(run.run_id)
        logger.info("kubeflow asked to terminate run %s (run %s)", engine_run_id, run.run_id)
        self._append_log(run, f"Asked Kubeflow to terminate run {engine_run_id}; waiting up to "
                              f"{self.settings.kubeflow_cancel_timeout_seconds:.0f} s for it to confirm.")

    def get_server_run(self, user: str, engine_run_id: str) -> ServerRun:
        client = self.client_for(user)
        with self._translated("read run", engine_run_id, namespace=resolve_namespace(self.settings, user)):
            return _server_run(client.get_run(engine_run_id))

    # Listings

    def list_server_pipelines(self, user: str, page_token: str = "", page_size: int = PAGE_SIZE) -> Page:
        """Return one page of the pipelines stored on the server that the user's namespace may see."""
        client = self.client_for(user)
        namespace = resolve_namespace(self.settings, user)
        with self._translated("list pipelines", "", namespace=namespace):
            response = client.list_pipelines(page_token=page_token, page_size=page_size, sort_by="display_name",
                                             namespace=namespace or None)
        pipelines = [
            ServerPipeline(p.pipeline_id, p.display_name or p.name or p.pipeline_id, p.description or "", p.created_at)
            for p in response.pipelines or []
        ]
        logger.info("kubeflow listed %d pipelines (namespace %s)", len(pipelines), namespace or "default")
        return Page(pipelines, response.next_page_token or "")

    def list_all_server_pipelines(self, user: str, page_size: int = PAGE_SIZE) -> list[ServerPipeline]:
        """Return the server's pipelines, following page tokens for at most MAX_LISTING_PAGES pages."""
        pipelines: list[ServerPipeline] = []
        token = ""
        for _ in range(MAX_LISTING_PAGES):
            page = self.list_server_pipelines(user, token, page_size)
            pipelines.extend(page.items)
            token = page.next_page_token
            if not token:
                return pipelines
        logger.warning("kubeflow has more than %d pipelines; listing the first %d", len(pipelines), len(pipelines))
        return pipelines

    def list_server_runs(self, user: str, page_token: str = "", page_size: int = PAGE_SIZE,
                         experiment_id: str | None = None) -> Page:
        """Return one page of runs, newest first: of one experiment, else of the user's namespace."""
        client = self.client_for(user)
        namespace = resolve_namespace(self.settings, user)
        with self._translated("list runs", f"of experiment {experiment_id}" if experiment_id else "",
                              namespace=namespace):
            response = client.list_runs(page_token=page_token, page_size=page_size, sort_by="created_at desc",
                                        experiment_id=experiment_id, namespace=namespace or None)
        runs = [_server_run(r) for r in response.runs or []]
        logger.info("kubeflow listed %d runs (namespace %s)", len(runs), namespace or "default")
        return Page(runs, response.next_page_token or "")

    def list_server_experiments(self, user: str, page_token: str = "", page_size: int = PAGE_SIZE) -> Page:
        client = self.client_for(user)
        namespace = resolve_namespace(self.settings, user)
        with self._translated("list experiments", "", namespace=namespace):
            response = client.list_experiments(page_token=page_token, page_size=page_size, sort_by="display_name",
                                               namespace=namespace or None)
        experiments = [
            ServerExperiment(e.experiment_id, e.display_name or "", e.namespace or "", e.created_at)
            for e in response.experiments or []
        ]
        logger.info("kubeflow listed %d experiments (namespace %s)", len(experiments), namespace or "default")
        return Page(experiments, response.next_page_token or "")

    def get_server_workflow(self, user: str, workflow_name: str) -> Workflow:
        """Describe a stored pipeline as a workflow, with the parameters of its latest version."""
        pipeline_name = workflow_name.removeprefix(SERVER_WORKFLOW_PREFIX)
        pipeline, _version_id, spec = self._latest_version(user, pipeline_name)
        parameters = [
            Parameter(name=name, default=default, label=label, type=type_name)
            for name, type_name, default, label in _spec_parameters(spec)
            if name != OUTPUT_PARAMETER
        ]
        return Workflow(
            name=SERVER_WORKFLOW_PREFIX + pipeline.name,
            kind=WorkflowKind.PIPELINE,
            path=Path(),
            engine=ENGINE_NAME,
            description=pipeline.description,
            parameters=tuple(parameters),
        )

    # Steps

    def _submit_server_pipeline(self, run: EngineRun) -> str:
        pipeline_name = run.workflow.name.removeprefix(SERVER_WORKFLOW_PREFIX)
        pipeline, version_id, spec = self._latest_version(run.owner, pipeline_name)
        types = {name: type_name for name, type_name, _default, _label in _spec_parameters(spec)}
        parameters = convert_parameters(run.workflow.name, types, run.parameters)
        if OUTPUT_PARAMETER in types:
            parameters[OUTPUT_PARAMETER] = run.output_location
        return self._create_run(run, parameters, pipeline_id=pipeline.pipeline_id, version_id=version_id)

    def _latest_version(self, user: str, pipeline_name: str) -> tuple[ServerPipeline, str, dict[str, Any]]:
        client = self.client_for(user)
        namespace = resolve_namespace(self.settings, user)
        with self._translated("find pipeline", repr(pipeline_name), namespace=namespace):
            response = client.list_pipelines(filter=_name_filter(pipeline_name), page_size=2,
                                             namespace=namespace or None)
            matches = response.pipelines or []
            if not matches:
                raise errors.NotFound(
                    f"Kubeflow at {self.host} has no pipeline named {pipeline_name!r}; list them with "
                    "`operatorflow kubeflow pipelines`."
                )
            stored = matches[0]
            versions = client.list_pipeline_versions(stored.pipeline_id, page_size=1, sort_by="created_at desc")
            if not versions.pipeline_versions:
                raise errors.InvalidInput(
                    f"Pipeline {pipeline_name!r} on Kubeflow has no version to run: upload one first."
                )
            version = client.get_pipeline_version(stored.pipeline_id, versions.pipeline_versions[0].pipeline_version_id)
        pipeline = ServerPipeline(stored.pipeline_id, stored.display_name or pipeline_name, stored.description or "",
                                  stored.created_at)
        spec = version.pipeline_spec or {}
        return pipeline, version.pipeline_version_id, spec

    def _create_run(self, run: EngineRun, parameters: dict[str, Any], *, pipeline_spec: dict | None = None,
                    pipeline_id: str | None = None, version_id: str | None = None) -> str:
        from kfp_server_api import V2beta1PipelineVersionReference, V2beta1Run, V2beta1RuntimeConfig

        client = self.client_for(run.owner)
        experiment_id = self._experiment_id(client, run.owner)
        existing = self._find_run(client, experiment_id, run)
        if existing is not None:
            logger.info("kubeflow run %s already exists as %s, not creating it again", run.run_id, existing)
            self._append_log(run, f"Kubeflow run {existing} already exists for this run; following it.")
            return existing

        _warn_about_local_locations(run, parameters, self._append_log)
        reference = None
        if pipeline_id is not None:
            reference = V2beta1PipelineVersionReference(pipeline_id=pipeline_id, pipeline_version_id=version_id)
        body = V2beta1Run(
            experiment_id=experiment_id,
            display_name=run.run_id,
            description=f"OperatorFlow run {run.run_id} of {run.workflow.name} for {run.owner}",
            pipeline_spec=pipeline_spec,
            pipeline_version_reference=reference,
            runtime_config=V2beta1RuntimeConfig(parameters=parameters, pipeline_root=_pipeline_root(run)),
        )
        try:
            with self._translated("create a run of", run.workflow.name):
                created = client.runs.run_service_create_run(run=body)
        except errors.BackendUnavailable as exc:
            # The server may have created the run before the connection or the response was lost.
            found = self._find_run(client, experiment_id, run)
            if found is None:
                raise
            logger.warning("kubeflow found run %s as %s after the create request failed: %s", run.run_id, found, exc)
            created_id = found
        else:
            created_id = created.run_id
        logger.info("kubeflow created run %s of %s for run %s", created_id, run.workflow.name, run.run_id)
        self._append_log(run, f"Submitted {run.workflow.name} to {self.host} as Kubeflow run {created_id} "
                              f"with parameters {json.dumps(parameters, sort_keys=True)}.")
        return created_id

    def _experiment_id(self, client, user: str) -> str:
        namespace = resolve_namespace(self.settings, user)
        name = experiment_name(user)
        with self._lock:
            cached = self._experiments.get((namespace, name))
        if cached is not None:
            return cached

        from kfp_server_api import V2beta1Experiment

        with self._translated("find experiment", name, namespace=namespace):
            response = client.list_experiments(filter=_name_filter(name), page_size=2, namespace=namespace or None)
            if response.experiments:
                experiment_id = response.experiments[0].experiment_id
            else:
                created = client.experiments.experiment_service_create_experiment(
                    experiment=V2beta1Experiment(display_name=name, namespace=namespace or None,
                                                 description=f"Runs that OperatorFlow started for {user}.")
                )
                experiment_id = created.experiment_id
                logger.info("kubeflow created experiment %s (%s) in namespace %s", name, experiment_id,
                            namespace or "default")
        with self._lock:
            self._experiments[(namespace, name)] = experiment_id
        return experiment_id

    def _find_run(self, client, experiment_id: str, run: EngineRun) -> str | None:
        with self._translated("look up run", run.run_id):
            response = client.list_runs(experiment_id=experiment_id, filter=_name_filter(run.run_id), page_size=2)
        matches = response.runs or []
        return matches[0].run_id if matches else None

    def _record_outage(self, engine_run_id: str, run: EngineRun, exc: errors.OperatorFlowError,
                       now: float) -> EngineStatus:
        outage = self._outages.get(run.run_id)
        if outage is None:
            outage = _Outage(since=now, next_attempt=now, delay=FIRST_RETRY_DELAY_SECONDS, error=str(exc))
            self._outages[run.run_id] = outage
            logger.warning("kubeflow cannot read run %s (run %s), keeping it RUNNING and retrying: %s",
                           engine_run_id, run.run_id, exc)
            self._append_log(run, f"Cannot read Kubeflow run {engine_run_id}, retrying: {exc}")
        else:
            outage.delay = min(outage.delay * 2, MAX_RETRY_DELAY_SECONDS)
            outage.error = str(exc)
            logger.debug("kubeflow run %s still unreadable, next try in %.0f s: %s", engine_run_id, outage.delay, exc)
        outage.next_attempt = now + outage.delay

        limit = self.settings.kubeflow_unreachable_timeout_seconds
        if now - outage.since < limit:
            return EngineStatus(RunStatus.RUNNING)
        self._forget(run.run_id)
        message = (f"The status of Kubeflow run {engine_run_id} could not be read for {limit:.0f} s "
                   f"(OPERATORFLOW_KUBEFLOW_UNREACHABLE_TIMEOUT_SECONDS), so OperatorFlow stopped following it; "
                   f"it may still be running on {self.host}. Last error: {outage.error}")
        self._append_log(run, message)
        return EngineStatus(RunStatus.FAILED, error_message=message)

    def _cancel_unconfirmed(self, engine_run_id: str, run: EngineRun) -> EngineStatus:
        limit = self.settings.kubeflow_cancel_timeout_seconds
        self._forget(run.run_id)
        message = (f"Kubeflow had not confirmed the cancellation of run {engine_run_id} after {limit:.0f} s, so "
                   f"OperatorFlow marked it canceled; check {self.host}/#/runs/details/{engine_run_id} in case "
                   "it still runs there.")
        logger.warning("kubeflow %s", message)
        self._append_log(run, message)
        return EngineStatus(RunStatus.CANCELED, error_message=message)

    def _forget(self, run_id: str) -> None:
        self._outages.pop(run_id, None)
        self._cancel_sent.pop(run_id, None)
        self._terminate_pending.discard(run_id)
        self._logged_states.pop(run_id, None)

    def _append_log(self, run: EngineRun, line: str) -> None:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        with (run.run_dir / LOG_FILE).open("a", encoding="utf-8") as handle:
            handle.write(line.rstrip("\n") + "\n")

    def _credentials_fix(self) -> str:
        return (STORED_TOKEN_FIX if self._token_provider is not None else "") + CREDENTIALS_FIX

    @contextlib.contextmanager
    def _translated(self, action: str, subject: str, namespace: str = "") -> Iterator[None]:
        """Translate kfp and HTTP errors into OperatorFlow's errors, once, chained."""
        import urllib3
        from kfp_server_api.exceptions import ApiException

        what = f"{action} {subject}".strip()
        try:
            yield
        except errors.OperatorFlowError:
            raise
        except ApiException as exc:
            detail = _server_message(exc.body) if exc.body else str(exc.reason or "no answer")
            raise _error_for_status(exc.status or 0, self.host, what, detail, namespace,
                                    self._credentials_fix()) from exc
        except (urllib3.exceptions.HTTPError, OSError, TimeoutError) as exc:
            raise errors.BackendUnavailable(
                f"Kubeflow at {self.host} did not respond to the request to {what}: {exc}. "
                "Check OPERATORFLOW_KUBEFLOW_HOST and the network, then try again."
            ) from exc


def _error_for_status(status: int, host: str, what: str, detail: str, namespace: str,
                      credentials_fix: str) -> errors.OperatorFlowError:
    if status == 401:
        return errors.PermissionDenied(
            f"Kubeflow at {host} rejected the credentials when trying to {what}: {detail}. {credentials_fix}"
        )
    if status == 403:
        where = f" in namespace {namespace}" if namespace else ""
        return errors.PermissionDenied(
            f"Kubeflow at {host}: not permitted to {what}{where}. Ask the Kubeflow administrator for access, or set "
            "OPERATORFLOW_KUBEFLOW_NAMESPACE to a namespace you may use."
        )
    if status == 404:
        return errors.NotFound(f"Kubeflow at {host} found nothing to {what}: {detail}.")
    if status in (400, 409, 422):
        return errors.InvalidInput(f"Kubeflow at {host} rejected the request to {what}: {detail}.")
    if status == 0:
        return errors.BackendUnavailable(
            f"Kubeflow at {host} did not respond to the request to {what}: {detail}. Check the host and the network."
        )
    return errors.BackendUnavailable(
        f"Kubeflow at {host} failed to {what} (HTTP {status}): {detail}. Try again later."
    )


def _server_message(body: Any) -> str:
    """Return the `message` of a KFP error body (a google.rpc.Status), or the body shortened."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    try:
        document = json.loads(text)
    except ValueError:
        return text.strip()[:300] or "no details"
    if isinstance(document, dict):
        message = document.get("message") or document.get("error")
        if message:
            return str(message).rstrip(".")
    return text.strip()[:300]


def _server_run(raw) -> ServerRun:
    error = ""
    if raw.error is not None:
        error = (raw.error.message or "").rstrip(".")
    return ServerRun(
        run_id=raw.run_id,
        name=raw.display_name or "",
        state=raw.state or "RUNTIME_STATE_UNSPECIFIED",
        experiment_id=raw.experiment_id or "",
        created_at=raw.created_at,
        finished_at=raw.finished_at,
        error=error,
    )


def _pipeline_root(run: EngineRun) -> str | None:
    """Return the output location as the run's pipeline root, where KFP stores every artifact, when it is a URL.

    A local folder is left out, so the server's default pipeline root applies.
    """
    return run.output_location if "://" in run.output_location else None


def _name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]})


def _spec_parameters(spec: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Return (name, kfp type name, default text, description) of a pipeline spec's input parameters."""
    from operatorflow.pipelines.loader import format_default

    pipeline_spec = spec.get("pipeline_spec", spec)
    definitions = ((pipeline_spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    found = []
    for name, definition in definitions.items():
        type_name = _SPEC_TYPES.get(definition.get("parameterType", "STRING"), "String")
        found.append((name, type_name, format_default(definition.get("defaultValue")),
                      definition.get("description", "")))
    return found


def compile_catalog_pipeline(path: Path, run_dir: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Compile a catalog pipeline file to `run_dir/pipeline.yaml`; return its spec and its parameter types."""
    from kfp import compiler

    from operatorflow.pipelines.loader import load_pipeline, parameter_types

    pipeline = load_pipeline(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    package = run_dir / "pipeline.yaml"
    compiler.Compiler().compile(pipeline, package_path=str(package))
    documents = [d for d in yaml.safe_load_all(package.read_text(encoding="utf-8")) if d]
    spec = documents[0] if len(documents) == 1 else {"pipeline_spec": documents[0], "platform_spec": documents[1]}
    return spec, parameter_types(pipeline)


def convert_parameters(workflow: str, types: dict[str, str], values: dict[str, str]) -> dict[str, Any]:
    """Convert parameter text to the declared kfp types; an empty value of a non-string means the pipeline default."""
    converted: dict[str, Any] = {}
    for name, text in values.items():
        type_name = types.get(name)
        if type_name is None:
            raise errors.InvalidInput(
                f"Pipeline {workflow} has no parameter {name!r}; it accepts: {', '.join(types) or 'none'}."
            )
        if type_name != "String" and not text.strip():
            continue
        try:
            converted[name] = parse_parameter_value(type_name, text)
        except ValueError:
            raise errors.InvalidInput(
                f"Invalid value {text!r} for {name} of {workflow}: {describe_expected(type_name)}."
            ) from None
    return converted


def _warn_about_local_locations(run: EngineRun, parameters: dict[str, Any], append_log) -> None:
    # NOTE: a local path reaches the pipeline's pods unchanged, and it does not exist there. The step that
    # reads or writes it fails with its own "file not found" error.
    for name, value in parameters.items():
        if name.endswith("_path") and isinstance(value, str) and value and "://" not in value:
            logger.warning("kubeflow run %s passes %s=%s, a path on this machine that the cluster cannot read; "
                           "use an s3:// or gs:// location", run.run_id, name, value)
            append_log(run, f"Warning: {name}={value} is a path on this machine, which Kubeflow's pods cannot "
                            "read or write; use an s3:// or gs:// location.")
