"""The engine interface: start a run without blocking, report its status, cancel it."""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any

from operatorflow.status import RunStatus
from operatorflow.workflows import Workflow


@dataclasses.dataclass(frozen=True)
class EngineRun:
    """Inputs an engine needs to start one run."""

    run_id: str
    workflow: Workflow
    parameters: dict[str, str]
    output_location: str
    run_dir: Path
    """Local folder of this run: spec, log, outcome and scratch space."""
    owner: str = ""
    """OperatorFlow user who submitted the run; remote engines act in this user's name and namespace."""


@dataclasses.dataclass(frozen=True)
class EngineStatus:
    status: RunStatus
    error_message: str | None = None
    result: str | None = None
    """The notebook's exit value, or the pipeline's summary, as text (often JSON)."""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)


class Engine(abc.ABC):
    """Runs workflows of one kind on one back end.

    `submit_run` returns quickly with the engine's own run id; `get_run_status` is called by the one
    worker that follows the run, never by pages.
    """

    name: str

    @abc.abstractmethod
    def submit_run(self, run: EngineRun) -> str:
        """Start the run and return the engine's run id."""

    @abc.abstractmethod
    def get_run_status(self, engine_run_id: str, run: EngineRun) -> EngineStatus:
        """Return the run's current status; terminal statuses carry the result, metrics or error."""

    @abc.abstractmethod
    def cancel_run(self, engine_run_id: str, run: EngineRun) -> None:
        """Ask the engine to stop the run; `get_run_status` reports CANCELED once it has."""
