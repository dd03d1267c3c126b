"""The Kubeflow Pipelines server as the KubeFlow page and the CLI show it: stored pipelines, runs and experiments."""

from __future__ import annotations

import threading
from typing import Any, Callable

from operatorflow.engines.kubeflow import (
    SERVER_WORKFLOW_PREFIX,
    KubeflowEngine,
    Page,
    ServerPipeline,
    make_kubeflow_engine,
)
from operatorflow.engines.kubeflow_config import TokenProvider, kubeflow_enabled, resolve_namespace
from operatorflow.errors import OperatorFlowError
from operatorflow.registry import Run
from operatorflow.service import OperatorFlow, _checked_user
from operatorflow.workflows import Workflow

LISTING_TTL_SECONDS = 30.0
"""Seconds a server listing is reused, because every page rerun would otherwise call the server."""
FAILURE_TTL_SECONDS = 10.0
"""Seconds a failed listing is reported again without a new request, so an unreachable server slows few reruns."""


class KubeflowCatalog:
    def __init__(self, service: OperatorFlow, engine: KubeflowEngine) -> None:
        self.service = service
        self.engine = engine
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, ...], tuple[float, Any]] = {}

    def list_server_pipelines(self, user: str) -> list[ServerPipeline]:
        """Return the pipelines stored on the server that the user's namespace may read, cached LISTING_TTL_SECONDS."""
        owner = _checked_user(user)
        return self._cached(("pipelines", self._namespace(owner)), lambda: self.engine.list_all_server_pipelines(owner))

    def get_server_workflow(self, user: str, workflow_name: str) -> Workflow:
        """Describe a stored pipeline (`kubeflow:<name>`) with the parameters of its latest version."""
        owner = _checked_user(user)
        return self._cached(("workflow", self._namespace(owner), workflow_name),
                            lambda: self.engine.get_server_workflow(owner, workflow_name))

    def submit_server_pipeline_run(self, user: str, workflow_name: str, parameters: dict[str, str] | None = None,
                                   output_location: str | None = None) -> Run:
        """Queue a run of a stored pipeline; the worker creates it on the server from the latest version."""
        workflow = self.get_server_workflow(user, workflow_name)
        return self.service.submit_workflow_run(user, workflow, parameters, output_location)

    def list_server_runs(self, user: str, page_token: str = "", page_size: int = 50,
                         experiment_id: str | None = None) -> Page:
        return self.engine.list_server_runs(_checked_user(user), page_token, page_size, experiment_id)

    def list_server_experiments(self, user: str, page_token: str = "", page_size: int = 50) -> Page:
        return self.engine.list_server_experiments(_checked_user(user), page_token, page_size)

    def _namespace(self, user: str) -> str:
        return resolve_namespace(self.engine.settings, user)

    def _cached(self, key: tuple[str, ...], load: Callable[[], Any]) -> Any:
        now = self.service.clock.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            failed = isinstance(cached[1], OperatorFlowError)
            if now - cached[0] < (FAILURE_TTL_SECONDS if failed else LISTING_TTL_SECONDS):
                if failed:
                    raise cached[1]
                return cached[1]
        try:
            value = load()
        except OperatorFlowError as exc:
            with self._lock:
                self._cache[key] = (now, exc)
            raise
        with self._lock:
            self._cache[key] = (now, value)
        return value


def server_workflow_name(pipeline: ServerPipeline) -> str:
    return SERVER_WORKFLOW_PREFIX + pipeline.name


def build_kubeflow_catalog(service: OperatorFlow, engine: KubeflowEngine | None = None,
                           token_provider: TokenProvider | None = None) -> KubeflowCatalog | None:
    """Return the catalog of the configured server, or None when settings name no Kubeflow endpoint."""
    if engine is None:
        if not kubeflow_enabled(service.settings):
            return None
        if token_provider is None:
            from operatorflow.factory import stored_kubeflow_token

            token_provider = stored_kubeflow_token(service.settings)
        engine = make_kubeflow_engine(service.settings, service.clock, token_provider)
    return KubeflowCatalog(service, engine)
