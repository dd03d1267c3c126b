"""The Databricks workspace as SparkFlow shows it: the folder's notebooks with the user's run status, and the clusters."""

from __future__ import annotations

import dataclasses
import threading

from operatorflow.engines.databricks import (
    PAGE_RETRY_TIMEOUT_SECONDS,
    DatabricksCluster,
    DatabricksEngine,
    WorkspaceNotebook,
    make_databricks_engine,
)
from operatorflow.engines.databricks_config import databricks_enabled
from operatorflow.service import OperatorFlow, _checked_user
from operatorflow.status import ACTIVE_STATUSES

LISTING_TTL_SECONDS = 30.0
"""Seconds a workspace listing is reused, because every page rerun would otherwise call the workspace."""


@dataclasses.dataclass(frozen=True)
class DatabricksNotebookStatus:
    notebook: WorkspaceNotebook
    status: str
    """`RUNNING` while one of the user's Databricks runs uses the notebook, else `AVAILABLE`."""
    in_catalog: bool
    """Whether a local catalog notebook of the same name is imported to this path before each run."""


class DatabricksCatalog:
    def __init__(self, service: OperatorFlow, engine: DatabricksEngine) -> None:
        self.service = service
        self.engine = engine
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, list]] = {}

    def list_databricks_notebooks(self, user: str) -> list[DatabricksNotebookStatus]:
        owner = _checked_user(user)
        notebooks = self._cached("notebooks", self.engine.list_workspace_notebooks)
        active = {
            run.workflow
            for run in self.service.list_runs(owner, statuses=ACTIVE_STATUSES, limit=500)
            if run.engine == self.engine.name and run.owner == owner  # shared runs do not make a notebook RUNNING
        }
        catalog = {workflow.name for workflow in self.service.list_workflows()}
        return [
            DatabricksNotebookStatus(notebook, "RUNNING" if notebook.name in active else "AVAILABLE",
                                     notebook.name in catalog)
            for notebook in notebooks
        ]

    def list_databricks_clusters(self, user: str) -> list[DatabricksCluster]:
        _checked_user(user)
        return self._cached("clusters", self.engine.list_clusters)

    def _cached(self, key: str, load) -> list:
        now = self.service.clock.monotonic()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] < LISTING_TTL_SECONDS:
                return cached[1]
        items = load()
        with self._lock:
            self._cache[key] = (now, items)
        return items


def build_databricks_catalog(service: OperatorFlow, engine: DatabricksEngine | None = None) -> DatabricksCatalog | None:
    """Return the catalog of the configured workspace, or None when settings enable no Databricks workspace."""
    if engine is None:
        if not databricks_enabled(service.settings):
            return None
        engine = make_databricks_engine(service.settings, PAGE_RETRY_TIMEOUT_SECONDS, service.clock)
    return DatabricksCatalog(service, engine)
