"""The worker: claims queued runs, starts them on their engine, follows them and records the end.

One pass (`run_once`) does, in order: heartbeat, renew the leases of the runs this worker follows,
adopt runs whose worker died, follow every run it holds (cancel, poll, finish), and start queued
runs while it has capacity. Runs live in the registry, so any number of workers may share one
database: the claim is atomic, and each run is polled only by the worker that claimed it.

`python -m operatorflow.worker` runs a worker on its own; by default the app runs one in a thread.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import threading
import uuid
from pathlib import Path

from operatorflow.clock import Clock
from operatorflow.engines.base import Engine, EngineRun
from operatorflow.errors import NotFound, OperatorFlowError
from operatorflow.registry import Run
from operatorflow.schedules import fire_due_schedules
from operatorflow.service import OperatorFlow
from operatorflow.status import RunStatus
from operatorflow.storage import join_location
from operatorflow.workflows import Workflow, WorkflowKind

logger = logging.getLogger(__name__)


class Worker:
    def __init__(self, service: OperatorFlow, engines: dict[str, Engine], *,
                 worker_id: str | None = None, clock: Clock | None = None) -> None:
        self.service = service
        self.registry = service.registry
        self.settings = service.settings
        self.engines = engines
        self.clock = clock or service.clock
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.worker_id = worker_id or f"{self.hostname}:{self.pid}:{uuid.uuid4().hex[:6]}"
        # Monotonic time at which a cancel was sent, per run, so a run that ignores SIGTERM is killed.
        self._cancel_sent: dict[str, float] = {}
        # Set by a submission in this process or a finished child, to start the next pass before
        # the poll interval is over: waiting out the interval would add up to a second to each run.
        self.wake = threading.Event()
        service.add_submit_listener(self.wake.set)
        for engine in engines.values():
            set_listener = getattr(engine, "set_exit_listener", None)
            if set_listener is not None:
                set_listener(self.wake.set)

    def stop(self, stop: threading.Event) -> None:
        """Set `stop` and end the current wait, so `run_forever` returns after this pass."""
        stop.set()
        self.wake.set()

    # The loop

    def run_forever(self, stop: threading.Event, max_passes: int | None = None) -> None:
        logger.info("worker %s started (registry %s)", self.worker_id, self.registry.url)
        passes = 0
        reason = "stop requested"
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except OperatorFlowError as exc:
                    logger.warning("worker %s pass failed, retrying: %s", self.worker_id, exc)
                except Exception:
                    logger.exception("worker %s pass failed unexpectedly, retrying", self.worker_id)
                passes += 1
                if max_passes is not None and passes >= max_passes:
                    reason = f"{max_passes} passes done"
                    break
                self.clock.sleep(self.settings.poll_seconds, self.wake)
                self.wake.clear()
        finally:
            try:
                self.registry.remove_worker(self.worker_id)
            except OperatorFlowError as exc:
                logger.warning("worker %s could not remove its heartbeat: %s", self.worker_id, exc)
            logger.info("worker %s stopped: %s", self.worker_id, reason)

    def run_once(self) -> None:
        self.registry.record_heartbeat(self.worker_id, self.hostname, self.pid)
        self.registry.renew_leases(self.worker_id, self.settings.lease_seconds)
        self._adopt_orphans()
        # Before claiming, so a run that a schedule queues now starts in this same pass.
        fire_due_schedules(self.service)

        followed = self.registry.list_followed(self.worker_id)
        for run in followed:
            self._follow(run)

        active = len(self.registry.list_followed(self.worker_id))
        while active < self.settings.max_running:
            run = self.registry.claim_next_queued(self.worker_id, self.settings.lease_seconds)
            if run is None:
                break
            self._start(run)
            active += 1

    # Steps

    def _adopt_orphans(self) -> None:
        live = {self.worker_id}
        for record in self.registry.list_workers():
            if record["id"] == self.worker_id:
                continue
            if self._is_dead(record):
                self.registry.remove_worker(record["id"])
                logger.info("worker %s removed the record of stopped worker %s", self.worker_id, record["id"])
            else:
                live.add(record["id"])

        for run in self.registry.adopt_orphaned_runs(self.worker_id, self.settings.lease_seconds, live):
            logger.info("worker %s re-attached to run %s (%s)", self.worker_id, run.id, run.status.value)

    def _is_dead(self, record: dict) -> bool:
        """Return True for a worker on this host whose process is gone, or any whose heartbeat is older than a lease."""
        stale = (self.clock.now() - record["heartbeat_at"]).total_seconds() > self.settings.lease_seconds
        gone = record["hostname"] == self.hostname and not _process_exists(record["pid"])
        return stale or gone

    def _start(self, run: Run) -> None:
        engine = self.engines.get(run.engine)
        if engine is None:
            self._fail(run, f"Run {run.id} needs engine {run.engine!r}, which this worker does not have "
                            f"(it has: {', '.join(self.engines)}).")
            return

        try:
            workflow = self.service.get_workflow(run.workflow)
        except NotFound as exc:
            # A pipeline stored on the engine's own server is not in the catalog; the engine looks it up itself.
            runs_server_workflow = getattr(engine, "runs_server_workflow", None)
            if runs_server_workflow is None or not runs_server_workflow(run.workflow):
                self._fail(run, f"Workflow {run.workflow} is no longer in the catalog, so run {run.id} cannot start: {exc}")
                return
            workflow = _workflow_stub(run)

        engine_run = self._engine_run(run, workflow)
        try:
            engine_run_id = engine.submit_run(engine_run)
        except OperatorFlowError as exc:
            self._fail(run, f"Run {run.id} could not start on {engine.name}: {exc}")
            return
        except Exception as exc:
            logger.exception("worker %s: engine %s failed to start run %s", self.worker_id, engine.name, run.id)
            self._fail(run, f"Run {run.id} could not start on {engine.name}: {type(exc).__name__}: {exc}")
            return

        log_location = str(engine_run.run_dir / "run.log")
        self.registry.set_engine_run(run.id, engine_run_id, log_location)
        logger.info("worker %s started run %s of %s on %s as %s", self.worker_id, run.id, run.workflow,
                    engine.name, engine_run_id)

    def _follow(self, run: Run) -> None:
        if run.engine_run_id is None:
            # Claimed, but the worker stopped before the engine had it: start it afresh.
            if self.registry.requeue(run.id, self.worker_id):
                logger.warning("worker %s re-queued run %s, which was claimed but never started", self.worker_id, run.id)
            return

        engine = self.engines.get(run.engine)
        if engine is None:
            self._fail(run, f"Run {run.id} runs on engine {run.engine!r}, which this worker does not have.")
            return
        engine_run = self._engine_run(run, _workflow_stub(run))

        if run.status is RunStatus.CANCELLING:
            self._send_cancel(engine, run, engine_run)

        try:
            status = engine.get_run_status(run.engine_run_id, engine_run)
        except NotFound as exc:
            # The engine has no record of the run any more (deleted or expired), so retrying cannot help.
            self._fail(run, f"{engine.name} no longer knows run {run.id} ({run.engine_run_id}): {exc}")
            return
        except OperatorFlowError as exc:
            logger.warning("worker %s could not read the status of run %s, will retry: %s", self.worker_id, run.id, exc)
            return

        if not status.status.is_terminal:
            if status.metrics and status.metrics != run.metrics:
                # Details of an active run, such as how long it has been pending, for the pages to show.
                self.registry.set_active_metrics(run.id, status.metrics)
            return

        self._copy_log_to_output(run, engine_run)
        final = status.status
        if run.status is RunStatus.CANCELLING and final is RunStatus.FAILED:
            final = RunStatus.CANCELED
        self.registry.finish_run(run.id, final, error_message=status.error_message,
                                 result=status.result, metrics=status.metrics or None)
        self._cancel_sent.pop(run.id, None)
        level = logging.INFO if final is RunStatus.SUCCEEDED else logging.WARNING
        logger.log(level, "worker %s run %s ended %s%s", self.worker_id, run.id, final.value,
                   f": {status.error_message}" if status.error_message else "")

    def _send_cancel(self, engine: Engine, run: Run, engine_run: EngineRun) -> None:
        sent_at = self._cancel_sent.get(run.id)
        if sent_at is None:
            engine.cancel_run(run.engine_run_id, engine_run)
            self._cancel_sent[run.id] = self.clock.monotonic()
            return
        grace = getattr(engine, "cancel_grace_seconds", None)
        kill = getattr(engine, "kill_run", None)
        if grace is not None and kill is not None and self.clock.monotonic() - sent_at > grace:
            kill(run.engine_run_id, engine_run)

    def _fail(self, run: Run, message: str) -> None:
        logger.warning("worker %s run %s failed: %s", self.worker_id, run.id, message)
        self.registry.finish_run(run.id, RunStatus.FAILED, error_message=message)

    def _engine_run(self, run: Run, workflow: Workflow) -> EngineRun:
        return EngineRun(
            run_id=run.id,
            workflow=workflow,
            parameters=dict(run.parameters),
            output_location=run.output_location,
            run_dir=self.settings.runs_dir / run.id,
            owner=run.owner,
        )

    def _copy_log_to_output(self, run: Run, engine_run: EngineRun) -> None:
        """Copy the run log beside the outputs, so the output location alone records what happened."""
        log = engine_run.run_dir / "run.log"
        if not log.is_file():
            return
        target = join_location(run.output_location, "logs", "run.log")
        try:
            self.service.stores.for_location(target).upload_file(log, target)
        except OperatorFlowError as exc:
            logger.warning("worker %s could not copy the log of run %s to %s: %s", self.worker_id, run.id, target, exc)


def _workflow_stub(run: Run) -> Workflow:
    """Build a workflow record for a run already started, because following it needs only names, not the file."""
    return Workflow(name=run.workflow, kind=WorkflowKind(run.kind), path=Path(), engine=run.engine)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# A worker inside the app's process

_background_lock = threading.Lock()
_background: dict[str, tuple[Worker, threading.Event, threading.Thread]] = {}


def start_background_worker(service: OperatorFlow, engines: dict[str, Engine] | None = None) -> Worker:
    """Start a worker thread for this registry, once per process; later calls return the same worker."""
    key = service.registry.url
    with _background_lock:
        if key in _background and _background[key][2].is_alive():
            return _background[key][0]

        if engines is None:
            from operatorflow.factory import build_engines

            engines = build_engines(service.settings)
        worker = Worker(service, engines)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run_forever, args=(stop,), name="operatorflow-worker", daemon=True)
        thread.start()
        _background[key] = (worker, stop, thread)
        return worker


def stop_background_workers(timeout_seconds: float = 10.0) -> None:
    with _background_lock:
        entries = list(_background.values())
        _background.clear()
    for worker, stop, _thread in entries:
        worker.stop(stop)
    for _worker, _stop, thread in entries:
        thread.join(timeout_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m operatorflow.worker",
                                     description="Run an OperatorFlow worker until interrupted.")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from operatorflow.factory import build_engines, build_service

    service = build_service()
    worker = Worker(service, build_engines(service.settings))
    stop = threading.Event()

    import signal

    def _stop(signum, _frame) -> None:
        logger.info("worker %s received signal %d, stopping after this pass", worker.worker_id, signum)
        worker.stop(stop)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run_forever(stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
