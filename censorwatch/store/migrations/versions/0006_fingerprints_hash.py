"""Which fingerprint sets judged each row.

``verdict_version`` (0003) says which rules judged a row; ``verdict_fingerprints_hash`` says
which fingerprints they used (a hash over every loaded set), so ``censorwatch rejudge`` can
find the rows judged with an older snapshot of OONI's fingerprints or before a working group
accepted a new sinkhole.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.add_column(sa.Column("verdict_fingerprints_hash", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("measurements") as batch:
        batch.drop_column("verdict_fingerprints_hash")
