"""Create the runs and workers tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from operatorflow.registry.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("workflow", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("engine", sa.String(64), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
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
    op.create_index("ix_runs_owner", "runs", ["owner"])
    op.create_index("ix_runs_workflow", "runs", ["workflow"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("heartbeat_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_index("ix_runs_status", "runs")
    op.drop_index("ix_runs_workflow", "runs")
    op.drop_index("ix_runs_owner", "runs")
    op.drop_table("runs")
