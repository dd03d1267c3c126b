"""Periodic schedules of workflows: cron slots in a time zone, fired once per slot by the worker."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import zoneinfo
from typing import TYPE_CHECKING

from croniter import CroniterError, croniter

from operatorflow.access import Action, ObjectType, Resource
from operatorflow.errors import InvalidInput, NotFound, OperatorFlowError
from operatorflow.registry.schedules import Schedule, ScheduleStore, new_schedule_id
from operatorflow.registry.store import new_run_id

if TYPE_CHECKING:
    from operatorflow.service import OperatorFlow

logger = logging.getLogger(__name__)

CRON_EXAMPLE = "'0 3 * * *' (every day at 03:00)"
DEFAULT_TIMEZONE = "UTC"
NEXT_RUN_COUNT = 3
"""Next run times listed per schedule by default."""
MAX_COUNTED_MISSED_SLOTS = 10_000
"""Missed slots are counted up to this number, so a per-minute schedule idle for months costs bounded time."""
_MAX_STEPS_PER_SLOT = 8
"""croniter steps tried per wanted slot; extra steps are needed only around DST changes, where wall times are dropped."""


@dataclasses.dataclass(frozen=True)
class ScheduleView:
    """A schedule with its next run times, as pages and the command line show it."""

    schedule: Schedule
    next_run_times: list[dt.datetime]


# Cron expressions and time zones


def parse_cron(cron: str) -> str:
    """Return the cron expression stripped; raise InvalidInput unless it has five valid fields or is an @ alias."""
    expression = " ".join((cron or "").split())
    fields = expression.split(" ")
    valid = bool(expression) and (expression.startswith("@") or len(fields) == 5)
    if valid:
        try:
            # Asking for a slot also rejects dates that never occur, such as '0 0 31 2 *'.
            croniter(expression, dt.datetime(2026, 1, 1)).get_next(dt.datetime)
        except (CroniterError, ValueError, KeyError):
            valid = False
    if not valid:
        raise InvalidInput(
            f"Invalid cron expression {cron!r}: give five fields (minute hour day-of-month month day-of-week), "
            f"for example {CRON_EXAMPLE} or '*/15 * * * *' (every 15 minutes)."
        )
    return expression


def parse_timezone(name: str) -> zoneinfo.ZoneInfo:
    """Return the IANA time zone `name`; raise InvalidInput for an unknown name."""
    try:
        return zoneinfo.ZoneInfo((name or "").strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"Unknown time zone {name!r}: give an IANA time zone name such as Europe/Berlin, America/New_York or UTC."
        ) from exc


def to_utc(wall_time: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """Return the UTC instant of a wall-clock time in `zone`.

    A wall time that a DST change repeats maps to its first occurrence, so a daily schedule runs once
    on the day the clocks go back. A wall time that a DST change skips maps to the same distance past
    the change (02:30 in Europe/Berlin on the spring change runs at 03:30 CEST), so the slot still runs.
    Both follow Python's `fold=0` reading of zoneinfo times.
    """
    return wall_time.replace(tzinfo=zone, fold=0).astimezone(dt.timezone.utc)


def next_run_times(cron: str, timezone: str, after: dt.datetime, count: int = NEXT_RUN_COUNT) -> list[dt.datetime]:
    """Return the next `count` slots strictly after `after`, in UTC; slots are wall-clock times in `timezone`."""
    zone = parse_timezone(timezone)
    iterator = croniter(parse_cron(cron), _wall_time(after, zone))
    slots: list[dt.datetime] = []
    for _ in range(count * _MAX_STEPS_PER_SLOT):
        if len(slots) == count:
            break
        slot = to_utc(iterator.get_next(dt.datetime), zone)
        # Around a DST change a wall time can map to an instant at or before the previous slot.
        if slot > after and (not slots or slot > slots[-1]):
            slots.append(slot)
    return slots


def latest_slot(cron: str, timezone: str, now: dt.datetime) -> dt.datetime | None:
    """Return the most recent slot at or before `now`, in UTC."""
    zone = parse_timezone(timezone)
    iterator = croniter(parse_cron(cron), _wall_time(now, zone) + dt.timedelta(microseconds=1))
    for _ in range(_MAX_STEPS_PER_SLOT):
        try:
            slot = to_utc(iterator.get_prev(dt.datetime), zone)
        except CroniterError:
            return None
        if slot <= now:
            return slot
    return None


def count_slots_between(cron: str, timezone: str, after: dt.datetime, before: dt.datetime,
                        limit: int = MAX_COUNTED_MISSED_SLOTS) -> int:
    """Return the number of slots strictly between `after` and `before`, counting at most `limit`."""
    zone = parse_timezone(timezone)
    iterator = croniter(parse_cron(cron), _wall_time(after, zone))
    count = 0
    previous = after
    for _ in range(limit * _MAX_STEPS_PER_SLOT):
        slot = to_utc(iterator.get_next(dt.datetime), zone)
        if slot >= before or count >= limit:
            break
        if slot > previous:
            count += 1
            previous = slot
    return count


def _wall_time(instant: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


# The service


class ScheduleService:
    """Schedules of workflows, reached as `OperatorFlow.schedules`.

    The worker fires a due slot by inserting its row in `schedule_fires` and queueing the run in one
    transaction, and that table's unique (schedule_id, slot_at) constraint lets a slot fire only
    once, also with several workers or after a restart.

    Slots missed while no worker ran are caught up once: the most recent missed slot runs as soon as
    a worker runs again, and the older ones are skipped. Their number is added to
    `Schedule.missed_slots` and logged as a warning. A paused schedule fires nothing, and on resume
    it continues from the next slot after the resume time, without the slots of the pause.
    """

    def __init__(self, service: OperatorFlow) -> None:
        self._service = service
        self._clock = service.clock
        self.store = ScheduleStore(service.registry)
        self._databricks_engine = None
        # Schedules already logged as skipped for a disabled owner, so the worker's passes do not repeat the warning.
        self._skipped_disabled: set[str] = set()

    # What users do

    def create_schedule(self, user: str, workflow: str, cron: str, timezone: str = DEFAULT_TIMEZONE,
                        parameters: dict[str, str] | None = None, engine: str | None = None,
                        output_location: str | None = None) -> Schedule:
        """Create a schedule; raise InvalidInput for a bad cron expression, time zone, parameter or engine."""
        from operatorflow.service import _checked_user

        owner = _checked_user(user)
        expression = parse_cron(cron)
        zone_name = parse_timezone(timezone).key
        found = self._service.get_workflow(workflow)
        self._service.access.check(owner, Action.RUN, Resource.of_workflow(found.name))
        resolved = found.resolve_parameters(parameters or {})
        engines = self._service.list_engines(found.name)
        engine = engine or engines[0]
        if engine not in engines:
            raise InvalidInput(
                f"Engine {engine!r} cannot run {found.name}; available: {', '.join(engines)}. "
                "Other engines are enabled in settings."
            )
        location = (output_location or self._service.default_output_location(found.name)).strip()
        # Checked with a sample run id now, so a bad location fails here rather than at every slot.
        self._service._checked_output_location(location, new_run_id())

        schedule_id = new_schedule_id()
        engine_job_id = None
        if _is_databricks(engine):
            engine_job_id = self._databricks().create_scheduled_job(
                name=_databricks_job_name(owner, found.name, schedule_id), workflow=found, parameters=resolved,
                cron_expression=expression, time_zone=zone_name,
            )
        try:
            schedule = self.store.create_schedule(
                schedule_id=schedule_id, owner=owner, workflow=found.name, kind=found.kind.value, parameters=resolved,
                engine=engine, output_location=location, cron=expression, timezone=zone_name,
                engine_job_id=engine_job_id,
            )
        except OperatorFlowError:
            if engine_job_id is not None:
                self._databricks().delete_job(engine_job_id)
            raise
        logger.info("schedules %s created schedule %s of %s (%s, %s)", owner, schedule.id, found.name,
                    expression, zone_name)
        return schedule

    def get_schedule(self, user: str, schedule_id: str, action: Action = Action.VIEW) -> Schedule:
        """Return the schedule if `user` owns it or is an administrator.

        Another user's schedule and a missing one raise the same PermissionDenied.
        """
        from operatorflow.service import _checked_user

        user = _checked_user(user)
        schedule_id = (schedule_id or "").strip()
        access = self._service.access
        access.check_enabled(user, action, ObjectType.SCHEDULE)
        try:
            schedule = self.store.get_schedule(schedule_id)
        except NotFound:
            raise access.denied(user, action, ObjectType.SCHEDULE, schedule_id) from None
        access.check(user, action, Resource(ObjectType.SCHEDULE, schedule.id, schedule.owner, schedule.workflow))
        return schedule

    def list_schedules(self, user: str, next_count: int = NEXT_RUN_COUNT) -> list[ScheduleView]:
        """Return the user's schedules (every schedule for an administrator), oldest first.

        Each comes with its next `next_count` run times, none while paused.
        """
        from operatorflow.service import _checked_user

        user = _checked_user(user)
        access = self._service.access
        access.check_enabled(user, Action.LIST, ObjectType.SCHEDULE)
        now = self._clock.now()
        views = []
        for schedule in self.store.list_schedules(owner=None if access.is_admin(user) else user):
            upcoming = [] if schedule.paused else next_run_times(
                schedule.cron, schedule.timezone, max(now, schedule.baseline), next_count)
            views.append(ScheduleView(schedule, upcoming))
        return views

    def pause_schedule(self, user: str, schedule_id: str) -> Schedule:
        schedule = self.get_schedule(user, schedule_id, Action.CHANGE)
        if schedule.paused:
            return schedule
        if schedule.engine_job_id:
            self._databricks().update_job_schedule(schedule.engine_job_id, cron_expression=schedule.cron,
                                                   time_zone=schedule.timezone, paused=True)
        return self.store.set_paused(schedule.id, True)

    def resume_schedule(self, user: str, schedule_id: str) -> Schedule:
        """Resume a paused schedule from its next slot; the slots that passed while paused never run."""
        schedule = self.get_schedule(user, schedule_id, Action.CHANGE)
        if not schedule.paused:
            return schedule
        if schedule.engine_job_id:
            self._databricks().update_job_schedule(schedule.engine_job_id, cron_expression=schedule.cron,
                                                   time_zone=schedule.timezone, paused=False)
        return self.store.set_paused(schedule.id, False, last_slot_at=max(self._clock.now(), schedule.baseline))

    def delete_schedule(self, user: str, schedule_id: str) -> None:
        """Delete the schedule; the runs it already queued stay."""
        schedule = self.get_schedule(user, schedule_id, Action.CHANGE)
        if schedule.engine_job_id:
            try:
                self._databricks().delete_job(schedule.engine_job_id)
            except (NotFound, InvalidInput) as exc:
                # Databricks answers 400 for a job that no longer exists, for example one deleted in the workspace.
                logger.warning("schedules schedule %s: Databricks job %s was not deleted, deleting the schedule "
                               "anyway: %s", schedule.id, schedule.engine_job_id, exc)
        self.store.delete_schedule(schedule.id)
        logger.info("schedules %s deleted schedule %s of %s", schedule.owner, schedule.id, schedule.workflow)

    def _databricks(self):
        """Return the Databricks engine, built at first use so that schedules on other engines never need it."""
        if self._databricks_engine is None:
            from operatorflow.engines.databricks import make_databricks_engine

            self._databricks_engine = make_databricks_engine(self._service.settings)
        return self._databricks_engine

    # What the worker does

    def fire_due_schedules(self) -> list[str]:
        """Queue a run for each schedule whose slot is due and return the new run ids.

        A schedule that fails (for example, its output location became a file) is logged, marked with
        the error and skipped until its next slot, so one broken schedule does not hold up the others.
        """
        fired = []
        now = self._clock.now()
        for schedule in self.store.list_schedules(active_only=True):
            if schedule.engine_job_id:
                continue  # Databricks runs the job on its own schedule.
            if self._service.access.is_disabled(schedule.owner):
                # NOTE: the slot is not marked as handled, so the schedule catches up once if the owner is enabled again.
                if schedule.id not in self._skipped_disabled:
                    self._skipped_disabled.add(schedule.id)
                    logger.warning("schedules skipped schedule %s of %s: its owner %s is disabled", schedule.id,
                                   schedule.workflow, schedule.owner)
                continue
            self._skipped_disabled.discard(schedule.id)
            try:
                run_id = self._fire_if_due(schedule, now)
            except OperatorFlowError as exc:
                logger.warning("schedules could not fire schedule %s of %s: %s", schedule.id, schedule.workflow, exc)
                continue
            if run_id is not None:
                fired.append(run_id)
        return fired

    def _fire_if_due(self, schedule: Schedule, now: dt.datetime) -> str | None:
        slot = latest_slot(schedule.cron, schedule.timezone, now)
        if slot is None or slot <= schedule.baseline:
            return None

        skipped = count_slots_between(schedule.cron, schedule.timezone, schedule.baseline, slot)
        run_id = new_run_id()
        try:
            location = self._service._checked_output_location(schedule.output_location, run_id)
        except InvalidInput as exc:
            message = f"The slot at {slot.isoformat()} did not run: {exc}"
            if self.store.skip_slot(schedule, slot, message):
                logger.warning("schedules schedule %s skipped slot %s: %s", schedule.id, slot.isoformat(), exc)
            return None

        if not self.store.fire_slot(schedule, slot, skipped, location, run_id):
            return None
        if skipped:
            at_least = "at least " if skipped >= MAX_COUNTED_MISSED_SLOTS else ""
            logger.warning("schedules schedule %s skipped %s%d missed slot(s) before %s and ran only that one, "
                           "because no worker ran at their time", schedule.id, at_least, skipped, slot.isoformat())
        logger.info("schedules schedule %s queued run %s of %s for slot %s", schedule.id, run_id,
                    schedule.workflow, slot.isoformat())
        return run_id


def fire_due_schedules(service: OperatorFlow) -> list[str]:
    """Fire the due slots of every schedule; the worker calls this once per pass."""
    return service.schedules.fire_due_schedules()


# Databricks runs its schedules itself, as a job with a schedule.


def _is_databricks(engine: str) -> bool:
    from operatorflow.engines.databricks import ENGINE_NAME

    return engine == ENGINE_NAME


def _databricks_job_name(owner: str, workflow: str, schedule_id: str) -> str:
    return f"OperatorFlow {workflow} for {owner} (schedule {schedule_id})"
