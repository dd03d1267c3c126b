"""Tables of the run registry. Change them only together with a new migration in `migrations/versions`."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UtcDateTime(TypeDecorator):
    """A timestamp stored without zone and always read back as timezone-aware UTC (SQLite keeps no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the registry; use Clock.now()")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False, index=True),
    sa.Column("workflow", sa.String(255), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("engine", sa.String(64), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("engine_run_id", sa.String(255)),
    sa.Column("output_location", sa.Text, nullable=False),
    sa.Column("log_location", sa.Text),
    sa.Column("error_message", sa.Text),
    sa.Column("result", sa.Text),
    sa.Column("metrics", sa.JSON),
    sa.Column("worker_id", sa.String(255)),
    sa.Column("lease_expires_at", UtcDateTime),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("heartbeat_at", UtcDateTime, nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False, index=True),
    sa.Column("workflow", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("engine", sa.String(64), nullable=False),
    # May contain `{run_id}`, replaced by each fired run's id.
    sa.Column("output_location", sa.Text, nullable=False),
    sa.Column("cron", sa.String(255), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("paused", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # Every slot at or before this time is done: fired, skipped as missed, or passed while paused.
    sa.Column("last_slot_at", UtcDateTime),
    sa.Column("last_run_id", sa.String(32)),
    sa.Column("missed_slots", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    # The Databricks job that runs the schedule, for schedules that Databricks fires itself.
    sa.Column("engine_job_id", sa.String(255)),
)

schedule_fires = sa.Table(
    "schedule_fires",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schedule_id", sa.String(32), nullable=False),
    sa.Column("slot_at", UtcDateTime, nullable=False),
    sa.Column("run_id", sa.String(32)),
    sa.Column("fired_at", UtcDateTime, nullable=False),
    # Unique, so when workers race for a slot the second insert fails and only one run is queued.
    sa.UniqueConstraint("schedule_id", "slot_at", name="uq_schedule_fires_slot"),
)
