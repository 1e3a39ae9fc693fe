"""Room for the verdict engine's full judgement beside each source's own flags.

``verdict_blocking`` (since 0001) holds the blocking type the shared verdict engine computes;
these columns add whether a blocking fingerprint confirmed it, which fingerprint(s), and the
version of the rules that judged it, so a change of rules can be re-applied to old rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("verdict_confirmed", sa.Boolean()))
        batch.add_column(sa.Column("verdict_fingerprint", sa.String(255)))
        batch.add_column(sa.Column("verdict_version", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.drop_column("verdict_version")
        batch.drop_column("verdict_fingerprint")
        batch.drop_column("verdict_confirmed")
