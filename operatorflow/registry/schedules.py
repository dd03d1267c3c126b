"""Schedule records and the one-transaction firing of a slot, in the run registry's database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from typing import Any

import sqlalchemy as sa

from operatorflow.errors import NotFound
from operatorflow.registry.schema import runs, schedule_fires, schedules
from operatorflow.registry.store import RunRegistry, queued_run_values

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Schedule:
    id: str
    owner: str
    workflow: str
    kind: str
    parameters: dict[str, str]
    engine: str
    output_location: str
    cron: str
    timezone: str
    paused: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    last_slot_at: dt.datetime | None = None
    last_run_id: str | None = None
    missed_slots: int = 0
    """Slots skipped in total because no worker ran at their time (only the latest missed one runs)."""
    last_error: str | None = None
    engine_job_id: str | None = None

    @property
    def baseline(self) -> dt.datetime:
        """Return the time after which the next slot is due: the last handled slot, else the creation time."""
        return self.last_slot_at or self.created_at

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, dt.datetime):
                data[key] = value.isoformat()
        return data


def new_schedule_id() -> str:
    return uuid.uuid4().hex[:12]


class ScheduleStore:
    """Schedules in the registry's database; `fire_slot` is the only way a schedule queues a run."""

    def __init__(self, registry: RunRegistry) -> None:
        self._registry = registry
        self._clock = registry.clock

    def create_schedule(self, *, owner: str, workflow: str, kind: str, parameters: dict[str, str], engine: str,
                        output_location: str, cron: str, timezone: str,
                        engine_job_id: str | None = None, schedule_id: str | None = None) -> Schedule:
        now = self._clock.now()
        values = {
            "id": schedule_id or new_schedule_id(),
            "owner": owner,
            "workflow": workflow,
            "kind": kind,
            "parameters": parameters,
            "engine": engine,
            "output_location": output_location,
            "cron": cron,
            "timezone": timezone,
            "paused": False,
            "created_at": now,
            "updated_at": now,
            "missed_slots": 0,
            "engine_job_id": engine_job_id,
        }
        with self._registry.begin() as conn:
            conn.execute(schedules.insert().values(**values))
        logger.info("registry created schedule %s of %s for %s (%s, %s)", values["id"], workflow, owner, cron, timezone)
        return self.get_schedule(values["id"])

    def get_schedule(self, schedule_id: str) -> Schedule:
        with self._registry.begin() as conn:
            row = conn.execute(schedules.select().where(schedules.c.id == schedule_id)).mappings().first()
        if row is None:
            raise NotFound(f"No schedule {schedule_id!r}: check the id with `operatorflow schedules list`.")
        return _to_schedule(row)

    def list_schedules(self, *, owner: str | None = None, active_only: bool = False) -> list[Schedule]:
        """Return schedules, oldest first; `active_only` leaves out paused ones."""
        query = schedules.select().order_by(schedules.c.created_at, schedules.c.id)
        if owner is not None:
            query = query.where(schedules.c.owner == owner)
        if active_only:
            query = query.where(schedules.c.paused.is_(False))
        with self._registry.begin() as conn:
            return [_to_schedule(row) for row in conn.execute(query).mappings()]

    def set_paused(self, schedule_id: str, paused: bool, last_slot_at: dt.datetime | None = None) -> Schedule:
        """Pause or resume the schedule. On resume, `last_slot_at` marks the slots that passed while paused as done."""
        values: dict[str, Any] = {"paused": paused, "updated_at": self._clock.now()}
        if last_slot_at is not None:
            values["last_slot_at"] = last_slot_at
        with self._registry.begin() as conn:
            conn.execute(schedules.update().where(schedules.c.id == schedule_id).values(**values))
        logger.info("registry schedule %s %s", schedule_id, "paused" if paused else "resumed")
        return self.get_schedule(schedule_id)

    def delete_schedule(self, schedule_id: str) -> None:
        with self._registry.begin() as conn:
            conn.execute(schedule_fires.delete().where(schedule_fires.c.schedule_id == schedule_id))
            conn.execute(schedules.delete().where(schedules.c.id == schedule_id))
        logger.info("registry deleted schedule %s", schedule_id)

    def fire_slot(self, schedule: Schedule, slot_at: dt.datetime, skipped: int, output_location: str,
                  run_id: str) -> bool:
        """Record that `slot_at` fired and queue its run, in one transaction; return False when it was already handled.

        The insert into `schedule_fires` comes first: its unique (schedule_id, slot_at) constraint makes a
        second worker's insert of the same slot fail, after waiting for the first one's commit, and that
        rolls back the loser's run too. The update of the schedule only applies while the schedule is
        unchanged and not paused, so a slot computed from stale data also rolls back.
        """
        now = self._clock.now()
        try:
            with self._registry.begin() as conn:
                conn.execute(schedule_fires.insert().values(
                    schedule_id=schedule.id, slot_at=slot_at, run_id=run_id, fired_at=now))
                conn.execute(runs.insert().values(**queued_run_values(
                    owner=schedule.owner, workflow=schedule.workflow, kind=schedule.kind, engine=schedule.engine,
                    parameters=dict(schedule.parameters), output_location=output_location, now=now, run_id=run_id,
                )))
                updated = conn.execute(
                    schedules.update()
                    .where(schedules.c.id == schedule.id, schedules.c.paused.is_(False),
                           _same_last_slot(schedule.last_slot_at))
                    .values(last_slot_at=slot_at, last_run_id=run_id, last_error=None, updated_at=now,
                            missed_slots=schedules.c.missed_slots + skipped)
                ).rowcount
                if updated != 1:
                    raise _StaleSchedule()
        except sa.exc.IntegrityError:
            logger.info("registry slot %s of schedule %s was already fired by another worker",
                        slot_at.isoformat(), schedule.id)
            return False
        except _StaleSchedule:
            logger.info("registry schedule %s changed while firing slot %s; left for the next pass",
                        schedule.id, slot_at.isoformat())
            return False
        logger.info("registry schedule %s fired slot %s as run %s", schedule.id, slot_at.isoformat(), run_id)
        return True

    def skip_slot(self, schedule: Schedule, slot_at: dt.datetime, error: str) -> bool:
        """Mark `slot_at` as done without a run, keeping `error` for the user; return False when already handled."""
        with self._registry.begin() as conn:
            updated = conn.execute(
                schedules.update()
                .where(schedules.c.id == schedule.id, _same_last_slot(schedule.last_slot_at))
                .values(last_slot_at=slot_at, last_error=error, updated_at=self._clock.now())
            ).rowcount
        return updated == 1

    def list_fires(self, schedule_id: str) -> list[dict[str, Any]]:
        """Return the fired slots of a schedule, oldest first, as `slot_at`, `run_id` and `fired_at`."""
        query = (sa.select(schedule_fires.c.slot_at, schedule_fires.c.run_id, schedule_fires.c.fired_at)
                 .where(schedule_fires.c.schedule_id == schedule_id)
                 .order_by(schedule_fires.c.slot_at))
        with self._registry.begin() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]


class _StaleSchedule(Exception):
    """Signal that rolls back a firing whose schedule changed since it was read."""


def _same_last_slot(last_slot_at: dt.datetime | None):
    if last_slot_at is None:
        return schedules.c.last_slot_at.is_(None)
    return schedules.c.last_slot_at == last_slot_at


def _to_schedule(row: Any) -> Schedule:
    data = dict(row)
    data["parameters"] = data.get("parameters") or {}
    data["paused"] = bool(data["paused"])
    return Schedule(**data)
