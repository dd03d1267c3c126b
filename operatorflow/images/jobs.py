"""Background image jobs: one thread per build or push, its output written line by line to a log file.

The job records live in this process's memory, so every browser session of the app reads them and a
page reload finds its job again. NOTE: a restart of the app loses the records and stops their
threads; the log files stay under `home/images/`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
import threading
import uuid
from pathlib import Path
from typing import Callable

from operatorflow.clock import Clock
from operatorflow.errors import InvalidInput, NotFound, OperatorFlowError

logger = logging.getLogger(__name__)

MAX_LOG_BYTES = 200_000
"""Bytes from the end of a job's log that `read_job_log` returns by default."""
MAX_JOB_RECORDS = 500
"""Job records kept in memory; the oldest finished ones are dropped first, and their log files stay."""


class ImageJobStatus(str, enum.Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class ImageAction(str, enum.Enum):
    BUILD = "build"
    PUSH = "push"


@dataclasses.dataclass
class ImageJob:
    """One build or push started by a user, and how it ended."""

    id: str
    action: ImageAction
    owner: str
    image: str
    """Full image reference that the job builds or pushes."""
    log_path: Path
    created_at: dt.datetime
    status: ImageJobStatus = ImageJobStatus.RUNNING
    finished_at: dt.datetime | None = None
    error_message: str | None = None

    @property
    def is_active(self) -> bool:
        return self.status is ImageJobStatus.RUNNING


JobStep = Callable[[ImageJob, Callable[[str], None]], None]
"""The work of a job: it writes output lines to the sink and raises OperatorFlowError on failure."""


class ImageJobs:
    """The process-wide record of image jobs, with a thread per running job."""

    def __init__(self, log_dir: Path, clock: Clock | None = None, max_records: int = MAX_JOB_RECORDS) -> None:
        self.log_dir = log_dir
        self.clock = clock or Clock()
        self.max_records = max_records
        self._jobs: dict[str, ImageJob] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start_job(self, owner: str, action: ImageAction, image: str, step: JobStep,
                  echo: Callable[[str], None] | None = None) -> ImageJob:
        """Record a job and run `step` in a new thread; reject a second active job of the same action and image.

        Each output line goes to the job's log file and, when given, to `echo` (the command line prints it).
        """
        with self._lock:
            for job in self._jobs.values():
                if job.is_active and job.owner == owner and job.action is action and job.image == image:
                    raise InvalidInput(
                        f"A {action.value} of {image} is already running as job {job.id}: wait for it to finish."
                    )
            job_id = uuid.uuid4().hex[:12]
            self.log_dir.mkdir(parents=True, exist_ok=True)
            job = ImageJob(id=job_id, action=action, owner=owner, image=image,
                           log_path=self.log_dir / f"{job_id}.log", created_at=self.clock.now())
            job.log_path.touch()
            self._jobs[job_id] = job
            self._drop_old_records()
            thread = threading.Thread(target=self._run, args=(job, step, echo), name=f"image-job-{job_id}", daemon=True)
            self._threads[job_id] = thread
        logger.info("images job %s started: %s %s for %s", job.id, action.value, image, owner)
        thread.start()
        return job

    def get_job(self, owner: str, job_id: str) -> ImageJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise NotFound(f"Image job {job_id} not found: it belongs to another user or the app restarted since.")
        return dataclasses.replace(job)

    def list_jobs(self, owner: str) -> list[ImageJob]:
        """Return the owner's jobs, newest first, as copies."""
        with self._lock:
            jobs = [dataclasses.replace(j) for j in self._jobs.values() if j.owner == owner]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)

    def read_job_log(self, owner: str, job_id: str, max_bytes: int = MAX_LOG_BYTES) -> str:
        """Return the end of the job's log, at most `max_bytes`."""
        job = self.get_job(owner, job_id)
        with job.log_path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(0, size - max_bytes))
            return handle.read().decode("utf-8", errors="replace")

    def wait_for_job(self, owner: str, job_id: str, timeout_seconds: float | None = None) -> ImageJob:
        """Wait for the job's thread to end and return the finished job."""
        self.get_job(owner, job_id)
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout_seconds)
        return self.get_job(owner, job_id)

    def _run(self, job: ImageJob, step: JobStep, echo: Callable[[str], None] | None) -> None:
        with job.log_path.open("a", encoding="utf-8", buffering=1) as log:
            def write(line: str) -> None:
                log.write(line + "\n")
                if echo is not None:
                    echo(line)

            try:
                step(dataclasses.replace(job), write)
            except OperatorFlowError as exc:
                write(f"error: {exc}")
                self._finish(job, ImageJobStatus.FAILED, str(exc))
                logger.info("images job %s failed: %s", job.id, exc)
                return
            except Exception as exc:  # noqa: BLE001 - the thread must record every failure
                write(f"error: unexpected failure: {type(exc).__name__}: {exc}")
                self._finish(job, ImageJobStatus.FAILED, f"Unexpected failure: {type(exc).__name__}: {exc}. "
                                                         "The details are in the app log.")
                logger.error("images job %s failed unexpectedly", job.id, exc_info=exc)
                return
        self._finish(job, ImageJobStatus.SUCCEEDED, None)
        logger.info("images job %s succeeded: %s %s", job.id, job.action.value, job.image)

    def _drop_old_records(self) -> None:
        """Forget the oldest finished jobs beyond `max_records`; call with the lock held."""
        finished = sorted((j for j in self._jobs.values() if not j.is_active), key=lambda j: j.created_at)
        for job in finished[:max(0, len(self._jobs) - self.max_records)]:
            del self._jobs[job.id]
            self._threads.pop(job.id, None)

    def _finish(self, job: ImageJob, status: ImageJobStatus, message: str | None) -> None:
        with self._lock:
            job.status = status
            job.error_message = message
            job.finished_at = self.clock.now()
