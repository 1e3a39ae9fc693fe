"""A working group's decisions on suspicious DNS answer addresses.

``censorwatch fingerprints accept IP --reason`` / ``reject IP --reason`` record who decided,
when and why. An accepted address becomes a ``local.*`` DNS fingerprint that confirms
measurements like OONI's; a rejected one is a known false positive. The latest decision per
address is the one that counts; earlier ones stay as the record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "answer_decisions",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.Column("country", sa.String(2)),
        sa.Column("asn", sa.Integer()),
        sa.Column("evidence", sa.JSON()),
        sa.PrimaryKeyConstraint("id", name="pk_answer_decisions"),
    )
    op.create_index("ix_answer_decisions_ip", "answer_decisions", ["ip"])


def downgrade() -> None:
    op.drop_index("ix_answer_decisions_ip", table_name="answer_decisions")
    op.drop_table("answer_decisions")
