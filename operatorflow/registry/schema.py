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

users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("email", sa.String(320)),
    sa.Column("display_name", sa.String(255)),
    # Where the account is proved: `local` (password here), `cognito`, `alb` or `command-line`.
    sa.Column("source", sa.String(16), nullable=False),
    # A slow hash of a local account's password; empty for accounts proved elsewhere.
    sa.Column("password_hash", sa.Text),
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("confirmed_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("failed_sign_ins", sa.Integer, nullable=False, default=0),
    sa.Column("last_failed_sign_in_at", UtcDateTime),
    sa.Column("locked_until", UtcDateTime),
    # Sessions started before this time are ended, so signing out ends every open tab and browser.
    sa.Column("signed_out_at", UtcDateTime),
    sa.UniqueConstraint("email", name="uq_users_email"),
)

account_tokens = sa.Table(
    "account_tokens",
    metadata,
    # SHA-256 of the token sent by email; the token itself is never stored.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(255), nullable=False, index=True),
    # `confirm` (email confirmation) or `reset` (password reset).
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

sessions = sa.Table(
    "sessions",
    metadata,
    # SHA-256 of the session token kept in the browser's cookie.
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_name", sa.String(255), nullable=False, index=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
    sa.Column("ended_at", UtcDateTime),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    # `run` or `workflow`.
    sa.Column("object_type", sa.String(16), nullable=False),
    sa.Column("object_id", sa.String(255), nullable=False),
    # The user whose object this is: a run's owner, or for a workflow the user whose runs of it are shared.
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("grantee", sa.String(255), nullable=False, index=True),
    # `view` or `run` (run includes view).
    sa.Column("permission", sa.String(8), nullable=False),
    sa.Column("granted_by", sa.String(255), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("object_type", "object_id", "owner", "grantee", name="uq_grants_object_grantee"),
)

credentials = sa.Table(
    "credentials",
    metadata,
    # `user:<name>` for a user's own credentials, `shared` for those an administrator stores for everyone.
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    # Encrypted value; the key never enters the database.
    sa.Column("ciphertext", sa.Text, nullable=False),
    # Fingerprint of the key that encrypted the value, so a wrong key is reported instead of decrypting garbage.
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(255), nullable=False),
)
