"""Create the users, account_tokens, sessions, grants and credentials tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from operatorflow.registry.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("email", sa.String(320)),
        sa.Column("display_name", sa.String(255)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("confirmed_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("failed_sign_ins", sa.Integer, nullable=False),
        sa.Column("last_failed_sign_in_at", UtcDateTime),
        sa.Column("locked_until", UtcDateTime),
        sa.Column("signed_out_at", UtcDateTime),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
    )
    op.create_index("ix_account_tokens_user_name", "account_tokens", ["user_name"])
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("ended_at", UtcDateTime),
    )
    op.create_index("ix_sessions_user_name", "sessions", ["user_name"])
    op.create_table(
        "grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("object_type", sa.String(16), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("grantee", sa.String(255), nullable=False),
        sa.Column("permission", sa.String(8), nullable=False),
        sa.Column("granted_by", sa.String(255), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("object_type", "object_id", "owner", "grantee", name="uq_grants_object_grantee"),
    )
    op.create_index("ix_grants_grantee", "grants", ["grantee"])
    op.create_table(
        "credentials",
        sa.Column("scope", sa.String(300), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("credentials")
    op.drop_index("ix_grants_grantee", "grants")
    op.drop_table("grants")
    op.drop_index("ix_sessions_user_name", "sessions")
    op.drop_table("sessions")
    op.drop_index("ix_account_tokens_user_name", "account_tokens")
    op.drop_table("account_tokens")
    op.drop_table("users")
