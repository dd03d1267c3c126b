"""Run records and the atomic state changes that the worker, the pages and the command line make."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any, Iterable

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from operatorflow.clock import Clock
from operatorflow.errors import BackendUnavailable, NotFound
from operatorflow.registry.schema import runs, workers
from operatorflow.status import ACTIVE_STATUSES, RunStatus

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclasses.dataclass(frozen=True)
class Run:
    id: str
    owner: str
    workflow: str
    kind: str
    engine: str
    parameters: dict[str, str]
    status: RunStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    output_location: str
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    engine_run_id: str | None = None
    log_location: str | None = None
    error_message: str | None = None
    result: str | None = None
    metrics: dict[str, Any] | None = None
    worker_id: str | None = None
    lease_expires_at: dt.datetime | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, or None until the run has both."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        for key, value in data.items():
            if isinstance(value, dt.datetime):
                data[key] = value.isoformat()
        data["duration_seconds"] = self.duration_seconds
        return data


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def queued_run_values(*, owner: str, workflow: str, kind: str, engine: str, parameters: dict[str, str],
                      output_location: str, now: dt.datetime, run_id: str | None = None) -> dict[str, Any]:
    """Build the `runs` row of a new QUEUED run, for `create_run` and for stores that queue runs in their own transaction."""
    return {
        "id": run_id or new_run_id(),
        "owner": owner,
        "workflow": workflow,
        "kind": kind,
        "engine": engine,
        "parameters": parameters,
        "status": RunStatus.QUEUED.value,
        "created_at": now,
        "updated_at": now,
        "output_location": output_location,
    }


class RunRegistry:
    def __init__(self, database_url: str, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._url = database_url
        self._engine = _create_engine(database_url)
        self.migrate()

    @property
    def url(self) -> str:
        return self._engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema to the newest migration; safe to call on every start."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self._engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except sa.exc.OperationalError as exc:
            raise BackendUnavailable(
                f"The run registry at {self.url} could not be opened: {exc.orig}. "
                "Check OPERATORFLOW_DATABASE_URL and that the database server is running."
            ) from exc

    def dispose(self) -> None:
        self._engine.dispose()

    # Runs

    def create_run(self, *, owner: str, workflow: str, kind: str, engine: str,
                   parameters: dict[str, str], output_location: str, run_id: str | None = None) -> Run:
        values = queued_run_values(owner=owner, workflow=workflow, kind=kind, engine=engine,
                                   parameters=parameters, output_location=output_location,
                                   now=self._clock.now(), run_id=run_id)
        with self._begin() as conn:
            conn.execute(runs.insert().values(**values))
        logger.info("registry queued run %s of %s for %s", values["id"], workflow, owner)
        return self.get_run(values["id"])

    def get_run(self, run_id: str) -> Run:
        with self._begin() as conn:
            row = conn.execute(runs.select().where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFound(f"No run {run_id!r}: check the id with `operatorflow runs list`.")
        return _to_run(row)

    def list_runs(self, *, owner: str | None = None, workflow: str | None = None,
                  statuses: Iterable[RunStatus] | None = None, limit: int | None = None,
                  where: sa.ColumnElement[bool] | None = None) -> list[Run]:
        """Return runs, newest first; `where` is an extra condition, such as the runs a user may see."""
        query = runs.select().order_by(runs.c.created_at.desc(), runs.c.id)
        if where is not None:
            query = query.where(where)
        if owner is not None:
            query = query.where(runs.c.owner == owner)
        if workflow is not None:
            query = query.where(runs.c.workflow == workflow)
        if statuses is not None:
            query = query.where(runs.c.status.in_([s.value for s in statuses]))
        if limit is not None:
            query = query.limit(limit)
        with self._begin() as conn:
            return [_to_run(row) for row in conn.execute(query).mappings()]

    def claim_next_queued(self, worker_id: str, lease_seconds: float) -> Run | None:
        """Claim the oldest queued run for `worker_id`, or return None when none is left.

        The claim is a conditional UPDATE on `status = QUEUED`, so when two workers pick the same run
        only one update matches a row and the other tries the next run.
        """
        for _ in range(10):
            with self._begin() as conn:
                candidate = conn.execute(
                    sa.select(runs.c.id)
                    .where(runs.c.status == RunStatus.QUEUED.value)
                    .order_by(runs.c.created_at, runs.c.id)
                    .limit(1)
                ).scalar()
                if candidate is None:
                    return None
                now = self._clock.now()
                claimed = conn.execute(
                    runs.update()
                    .where(runs.c.id == candidate, runs.c.status == RunStatus.QUEUED.value)
                    .values(
                        status=RunStatus.RUNNING.value,
                        worker_id=worker_id,
                        started_at=now,
                        updated_at=now,
                        lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                    )
                ).rowcount
            if claimed == 1:
                logger.info("registry run %s claimed by worker %s", candidate, worker_id)
                return self.get_run(candidate)
        return None

    def set_engine_run(self, run_id: str, engine_run_id: str, log_location: str | None) -> None:
        self._update(run_id, engine_run_id=engine_run_id, log_location=log_location)

    def requeue(self, run_id: str, worker_id: str) -> bool:
        """Put a claimed run that never reached its engine back in the queue."""
        return self._update(
            run_id,
            where=[runs.c.worker_id == worker_id, runs.c.engine_run_id.is_(None)],
            status=RunStatus.QUEUED.value,
            worker_id=None,
            started_at=None,
            lease_expires_at=None,
        )

    def set_active_metrics(self, run_id: str, metrics: dict[str, Any]) -> bool:
        """Record what an engine reports about an active run (its state there, since when it waits)."""
        return self._update(run_id, where=[runs.c.status.in_([s.value for s in ACTIVE_STATUSES])], metrics=metrics)

    def finish_run(self, run_id: str, status: RunStatus, *, error_message: str | None = None,
                   result: str | None = None, metrics: dict[str, Any] | None = None) -> bool:
        """Record a terminal status; a run that already ended is left as it is (returns False)."""
        if not status.is_terminal:
            raise ValueError(f"finish_run needs a terminal status, got {status}")
        now = self._clock.now()
        changed = self._update(
            run_id,
            where=[runs.c.status.in_([s.value for s in ACTIVE_STATUSES])],
            status=status.value,
            finished_at=now,
            error_message=error_message,
            result=result,
            metrics=metrics,
            lease_expires_at=None,
        )
        if changed:
            logger.info("registry run %s finished %s", run_id, status.value)
        return changed

    def request_cancel(self, run_id: str) -> Run:
        """Cancel a queued run at once; mark a running one CANCELLING for its worker to stop."""
        now = self._clock.now()
        if self._update(run_id, where=[runs.c.status == RunStatus.QUEUED.value],
                        status=RunStatus.CANCELED.value, finished_at=now,
                        error_message="Canceled before it started."):
            logger.info("registry run %s canceled while queued", run_id)
        elif self._update(run_id, where=[runs.c.status == RunStatus.RUNNING.value],
                          status=RunStatus.CANCELLING.value):
            logger.info("registry run %s cancellation requested", run_id)
        return self.get_run(run_id)

    def renew_leases(self, worker_id: str, lease_seconds: float) -> None:
        now = self._clock.now()
        with self._begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.worker_id == worker_id,
                       runs.c.status.in_([RunStatus.RUNNING.value, RunStatus.CANCELLING.value]))
                .values(lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
            )

    def list_followed(self, worker_id: str) -> list[Run]:
        """Return the active runs that `worker_id` has claimed."""
        query = runs.select().where(
            runs.c.worker_id == worker_id,
            runs.c.status.in_([RunStatus.RUNNING.value, RunStatus.CANCELLING.value]),
        ).order_by(runs.c.started_at)
        with self._begin() as conn:
            return [_to_run(row) for row in conn.execute(query).mappings()]

    def adopt_orphaned_runs(self, worker_id: str, lease_seconds: float, live_workers: set[str]) -> list[Run]:
        """Take over active runs whose worker is not among `live_workers` or whose lease has expired."""
        now = self._clock.now()
        query = sa.select(runs.c.id, runs.c.worker_id).where(
            runs.c.status.in_([RunStatus.RUNNING.value, RunStatus.CANCELLING.value]),
            sa.or_(runs.c.worker_id.is_(None), runs.c.worker_id != worker_id),
        )
        adopted = []
        with self._begin() as conn:
            candidates = conn.execute(query).all()
        for run_id, old_worker in candidates:
            run = self.get_run(run_id)
            expired = run.lease_expires_at is None or run.lease_expires_at <= now
            if old_worker in live_workers and not expired:
                continue
            owner_matches = runs.c.worker_id.is_(None) if old_worker is None else runs.c.worker_id == old_worker
            if self._update(run_id, where=[owner_matches], worker_id=worker_id,
                            lease_expires_at=now + dt.timedelta(seconds=lease_seconds)):
                logger.info("registry run %s adopted by worker %s from %s", run_id, worker_id, old_worker)
                adopted.append(self.get_run(run_id))
        return adopted

    # Workers

    def record_heartbeat(self, worker_id: str, hostname: str, pid: int) -> None:
        now = self._clock.now()
        with self._begin() as conn:
            updated = conn.execute(
                workers.update().where(workers.c.id == worker_id).values(heartbeat_at=now)
            ).rowcount
            if not updated:
                conn.execute(workers.insert().values(
                    id=worker_id, hostname=hostname, pid=pid, started_at=now, heartbeat_at=now))

    def remove_worker(self, worker_id: str) -> None:
        with self._begin() as conn:
            conn.execute(workers.delete().where(workers.c.id == worker_id))

    def list_workers(self) -> list[dict[str, Any]]:
        with self._begin() as conn:
            return [dict(row) for row in conn.execute(workers.select()).mappings()]

    # Internals

    def _update(self, run_id: str, where: list | None = None, **values: Any) -> bool:
        values.setdefault("updated_at", self._clock.now())
        statement = runs.update().where(runs.c.id == run_id, *(where or [])).values(**values)
        with self._begin() as conn:
            return conn.execute(statement).rowcount == 1

    def _begin(self):
        return _TranslatedTransaction(self._engine, self.url)

    def begin(self) -> "_TranslatedTransaction":
        """Open a transaction on the registry database, for stores that share it (schedules)."""
        return self._begin()

    @property
    def clock(self) -> Clock:
        return self._clock


class _TranslatedTransaction:
    """`engine.begin()` that turns a lost database connection into BackendUnavailable."""

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self._context = engine.begin()
        self._url = url

    def __enter__(self) -> sa.Connection:
        try:
            return self._context.__enter__()
        except sa.exc.OperationalError as exc:
            raise BackendUnavailable(f"The run registry at {self._url} is unavailable: {exc.orig}") from exc

    def __exit__(self, *exc_info) -> bool | None:
        try:
            return self._context.__exit__(*exc_info)
        except sa.exc.OperationalError as exc:
            raise BackendUnavailable(f"The run registry at {self._url} is unavailable: {exc.orig}") from exc


def _create_engine(database_url: str) -> sa.Engine:
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            # WAL lets the app read while a worker in another process writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(database_url, pool_pre_ping=True)


def _to_run(row: Any) -> Run:
    data = dict(row)
    data["status"] = RunStatus(data["status"])
    data["parameters"] = data.get("parameters") or {}
    return Run(**data)
