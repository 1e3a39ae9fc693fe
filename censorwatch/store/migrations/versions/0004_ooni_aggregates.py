"""OONI's own counts (``/api/v1/aggregation``) per month, for coverage and the report's totals.

The measurement list and raw files give the measurements; the aggregation endpoint gives OONI's
count of them (measurements, anomalies, confirmed, failures, ok) per month and, optionally, per
network, domain or category. The report uses it to say how much was measured and to check that
ingest has everything. One row per (country, test, grain, period, dimension, value); a later
fetch replaces the counts, which grow as late uploads arrive.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ooni_aggregates",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("probe_cc", sa.String(2), nullable=False),
        sa.Column("test_name", sa.String(64), nullable=False),
        sa.Column("time_grain", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("axis", sa.String(32), nullable=False),
        sa.Column("axis_value", sa.String(255), nullable=False),
        sa.Column("measurement_count", sa.BigInteger(), nullable=False),
        sa.Column("anomaly_count", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_count", sa.BigInteger(), nullable=False),
        sa.Column("failure_count", sa.BigInteger(), nullable=False),
        sa.Column("ok_count", sa.BigInteger(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ooni_aggregates"),
        sa.UniqueConstraint(
            "probe_cc",
            "test_name",
            "time_grain",
            "period_start",
            "axis",
            "axis_value",
            name="uq_ooni_aggregates_key",
        ),
    )


def downgrade() -> None:
    op.drop_table("ooni_aggregates")
