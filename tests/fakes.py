"""In-memory stand-ins used by worker and service tests."""

from __future__ import annotations

from operatorflow.engines.base import Engine, EngineRun, EngineStatus
from operatorflow.errors import BackendUnavailable
from operatorflow.status import RunStatus


class InMemoryEngine(Engine):
    """An engine whose runs end when the test calls `finish`."""

    def __init__(self, name: str = "local-spark") -> None:
        self.name = name
        self.submitted: list[EngineRun] = []
        self.status_calls: dict[str, int] = {}
        self.cancelled: list[str] = []
        self.outcomes: dict[str, EngineStatus] = {}
        self.fail_submit: Exception | None = None
        self.unavailable = False

    def submit_run(self, run: EngineRun) -> str:
        if self.fail_submit is not None:
            raise self.fail_submit
        self.submitted.append(run)
        return f"mem-{run.run_id}"

    def get_run_status(self, engine_run_id: str, run: EngineRun) -> EngineStatus:
        self.status_calls[engine_run_id] = self.status_calls.get(engine_run_id, 0) + 1
        if self.unavailable:
            raise BackendUnavailable("engine unreachable")
        if engine_run_id in self.cancelled:
            return EngineStatus(RunStatus.CANCELED, error_message="Canceled by request.")
        return self.outcomes.get(engine_run_id, EngineStatus(RunStatus.RUNNING))

    def cancel_run(self, engine_run_id: str, run: EngineRun) -> None:
        self.cancelled.append(engine_run_id)

    def finish(self, run_id: str, status: RunStatus, **fields) -> None:
        self.outcomes[f"mem-{run_id}"] = EngineStatus(status, **fields)
