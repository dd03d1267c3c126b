"""Create the schedules and schedule_fires tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from operatorflow.registry.schema import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("workflow", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("output_location", sa.Text, nullable=False),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("last_slot_at", UtcDateTime),
        sa.Column("last_run_id", sa.String(32)),
        sa.Column("missed_slots", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("engine_job_id", sa.String(255)),
    )
    op.create_index("ix_schedules_owner", "schedules", ["owner"])
    op.create_table(
        "schedule_fires",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule_id", sa.String(32), nullable=False),
        sa.Column("slot_at", UtcDateTime, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("fired_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("schedule_id", "slot_at", name="uq_schedule_fires_slot"),
    )


def downgrade() -> None:
    op.drop_table("schedule_fires")
    op.drop_index("ix_schedules_owner", "schedules")
    op.drop_table("schedules")
