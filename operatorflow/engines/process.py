"""Engines that run each workflow in a child process on this machine.

The child is `python -m RUNNER_MODULE SPEC_PATH`. It reads the spec (see `write_spec`), writes its
log to standard output, uploads its outputs to the run's output location, and last writes
`outcome.json` in the run folder: `{"status": "SUCCEEDED" | "FAILED", "result": str | null,
"metrics": {...}, "error": str | null}`. The child runs in its own session, so it outlives a
restart of the app or the worker. The worker that starts next re-attaches to it by process id.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from operatorflow.engines.base import Engine, EngineRun, EngineStatus
from operatorflow.errors import BackendUnavailable
from operatorflow.status import RunStatus, status_from_local_outcome

logger = logging.getLogger(__name__)

SPEC_FILE = "spec.json"
LOG_FILE = "run.log"
OUTCOME_FILE = "outcome.json"
CANCEL_FILE = "cancel-requested"


def write_spec(run: EngineRun, extras: dict[str, Any]) -> Path:
    spec = {
        "run_id": run.run_id,
        "workflow": run.workflow.name,
        "workflow_path": str(run.workflow.path),
        "parameters": run.parameters,
        "output_location": run.output_location,
        "run_dir": str(run.run_dir),
        **extras,
    }
    path = run.run_dir / SPEC_FILE
    path.write_text(json.dumps(spec, indent=2))
    return path


def read_spec(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def write_outcome(run_dir: str | Path, status: str, result: str | None = None,
                  metrics: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Write the outcome atomically; runner modules call this last."""
    path = Path(run_dir) / OUTCOME_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"status": status, "result": result, "metrics": metrics or {}, "error": error}))
    os.replace(tmp, path)


class LocalProcessEngine(Engine):
    """Starts `runner_module` in a child process per run and follows it by process id."""

    def __init__(self, name: str, runner_module: str, working_dir: Path,
                 env: dict[str, str] | None = None, spec_extras: dict[str, Any] | None = None,
                 cancel_grace_seconds: float = 10.0, python: str = "") -> None:
        self.name = name
        self._python = python or sys.executable
        self._runner_module = runner_module
        self._working_dir = Path(working_dir)
        self._env = env or {}
        self._spec_extras = spec_extras or {}
        self._cancel_grace_seconds = cancel_grace_seconds
        # Children started by this process, kept so that `poll` reaps them instead of leaving zombies.
        self._children: dict[int, subprocess.Popen] = {}
        self._exit_listener: Callable[[], None] | None = None

    def set_exit_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` when a child started from now on exits, so its worker records the end at once."""
        self._exit_listener = listener

    def submit_run(self, run: EngineRun) -> str:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        spec_path = write_spec(run, self._spec_extras)
        env = {**os.environ, **self._env}
        with open(run.run_dir / LOG_FILE, "ab") as log:
            try:
                child = subprocess.Popen(
                    [self._python, "-m", self._runner_module, str(spec_path)],
                    cwd=self._working_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BackendUnavailable(f"Could not start the {self.name} process for run {run.run_id}: {exc}") from exc
        self._children[child.pid] = child
        if self._exit_listener is not None:
            threading.Thread(target=_notify_on_exit, args=(child, self._exit_listener),
                             name=f"{self.name}-exit-{child.pid}", daemon=True).start()
        logger.info("%s started run %s as process %d", self.name, run.run_id, child.pid)
        return str(child.pid)

    def get_run_status(self, engine_run_id: str, run: EngineRun) -> EngineStatus:
        pid = int(engine_run_id)
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:
            del self._children[pid]

        outcome_path = run.run_dir / OUTCOME_FILE
        if self._is_running(pid, run):
            return EngineStatus(RunStatus.RUNNING)

        if outcome_path.exists():
            outcome = json.loads(outcome_path.read_text())
            return EngineStatus(
                status=status_from_local_outcome(outcome.get("status", "")),
                error_message=outcome.get("error"),
                result=outcome.get("result"),
                metrics=outcome.get("metrics") or {},
            )

        if (run.run_dir / CANCEL_FILE).exists():
            return EngineStatus(RunStatus.CANCELED, error_message="Canceled by request.")

        code = child.returncode if child is not None else None
        ended = f"exited with code {code}" if code is not None else "ended"
        return EngineStatus(
            RunStatus.FAILED,
            error_message=(
                f"The {self.name} process of run {run.run_id} {ended} without writing a result, "
                f"so it was stopped or crashed. See the run log at {run.run_dir / LOG_FILE} and run it again."
            ),
        )

    def cancel_run(self, engine_run_id: str, run: EngineRun) -> None:
        pid = int(engine_run_id)
        (run.run_dir / CANCEL_FILE).touch()
        if not self._is_running(pid, run):
            return
        logger.info("%s cancel run %s: SIGTERM to process group %d", self.name, run.run_id, pid)
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return

    def kill_run(self, engine_run_id: str, run: EngineRun) -> None:
        """Force a run that ignored SIGTERM to stop."""
        pid = int(engine_run_id)
        if self._is_running(pid, run):
            logger.warning("%s run %s ignored SIGTERM: SIGKILL to process group %d", self.name, run.run_id, pid)
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _is_running(self, pid: int, run: EngineRun) -> bool:
        # A child of this process is asked directly: for a moment after the fork its /proc cmdline
        # is still empty, so the /proc check alone would report a just-started run as ended.
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        return _is_our_process(pid, run.run_dir / SPEC_FILE)

    @property
    def cancel_grace_seconds(self) -> float:
        return self._cancel_grace_seconds


def _notify_on_exit(child: subprocess.Popen, listener: Callable[[], None]) -> None:
    child.wait()
    listener()


def _is_our_process(pid: int, spec_path: Path) -> bool:
    """True when `pid` is alive and is the runner of this spec, so a reused process id never matches."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # A zombie has finished; its state letter follows the parenthesised command name.
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return str(spec_path).encode() in cmdline
