"""The scheduled pipeline: job locks and alerts.

``job_locks`` lets two schedulers on one database, or a scheduled and a manual run, never run
the same job at once; ``alerts`` records each website found newly blocked or unblocked exactly
once, with where it was delivered. APScheduler's own table (``apscheduler_jobs``) is created
by its job store, not here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_job_locks"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2)),
        sa.Column("detected_at", sa.DateTime(), nullable=False),
        sa.Column("details", JSONType),
        sa.Column("delivered", JSONType),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("kind", "domain", "period", name="uq_alerts_kind_domain_period"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("job_locks")
