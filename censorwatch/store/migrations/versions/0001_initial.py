"""The first schema: measurements, networks, test lists, probe runs, ingest state, reports.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Types are spelled out here rather than imported from the models: a published revision must
# keep meaning the same thing when the models move on.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BigIntKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Blob = sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "networks",
        sa.Column("asn", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("country_code", sa.String(2)),
        sa.Column("name_source", sa.String(16)),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("asn", name="pk_networks"),
    )
    op.create_table(
        "probe_runs",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("report_id", sa.String(128)),
        sa.Column("probe_cc", sa.String(2)),
        sa.Column("probe_asn", sa.Integer()),
        sa.Column("probe_network_name", sa.String(255)),
        sa.Column("software_version", sa.String(32)),
        sa.Column("testlist_hash", sa.String(64)),
        sa.Column("urls_planned", sa.Integer(), nullable=False),
        sa.Column("urls_measured", sa.Integer(), nullable=False),
        sa.Column("anomalies", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_probe_runs"),
    )
    op.create_table(
        "measurements",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("measurement_key", sa.String(40), nullable=False),
        sa.Column("measurement_uid", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("test_name", sa.String(64), nullable=False),
        sa.Column("test_version", sa.String(32)),
        sa.Column("input", sa.Text()),
        sa.Column("domain", sa.String(255)),
        sa.Column("category_code", sa.String(16)),
        sa.Column("probe_cc", sa.String(2), nullable=False),
        sa.Column("probe_asn", sa.Integer(), nullable=False),
        sa.Column("probe_network_name", sa.String(255)),
        sa.Column("report_id", sa.String(128)),
        sa.Column("software_name", sa.String(64)),
        sa.Column("software_version", sa.String(32)),
        sa.Column("measurement_start_time", sa.DateTime(), nullable=False),
        sa.Column("anomaly", sa.Boolean()),
        sa.Column("confirmed", sa.Boolean()),
        sa.Column("failure", sa.Boolean()),
        sa.Column("blocking", sa.String(32)),
        sa.Column("accessible", sa.Boolean()),
        sa.Column("verdict_blocking", sa.String(32)),
        sa.Column("scores", JSONType),
        sa.Column("document", Blob),
        sa.Column("document_ref", sa.Text()),
        sa.Column("probe_run_id", BigIntKey),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["probe_run_id"],
            ["probe_runs.id"],
            name="fk_measurements_probe_run_id_probe_runs",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_measurements"),
        sa.UniqueConstraint("measurement_key", name="uq_measurements_measurement_key"),
    )
    op.create_index(
        "ix_measurements_cc_time", "measurements", ["probe_cc", "measurement_start_time"]
    )
    op.create_index(
        "ix_measurements_test_time", "measurements", ["test_name", "measurement_start_time"]
    )
    op.create_index("ix_measurements_domain", "measurements", ["domain"])
    op.create_index("ix_measurements_asn", "measurements", ["probe_asn"])
    op.create_index("ix_measurements_uid", "measurements", ["measurement_uid"])
    op.create_table(
        "testlist_entries",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("list_name", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("category_code", sa.String(16), nullable=False),
        sa.Column("category_description", sa.String(255)),
        sa.Column("date_added", sa.Date()),
        sa.Column("source", sa.String(255)),
        sa.Column("notes", sa.Text()),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("tags", JSONType),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_changed_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_testlist_entries"),
        sa.UniqueConstraint("list_name", "url", name="uq_testlist_entries_list_name_url"),
    )
    op.create_table(
        "testlist_changes",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("list_name", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changes", JSONType),
        sa.Column("reason", sa.Text()),
        sa.Column("author", sa.String(255)),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("list_hash", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_testlist_changes"),
    )
    op.create_index("ix_testlist_changes_list_url", "testlist_changes", ["list_name", "url"])
    op.create_table(
        "ingest_state",
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("watermark", sa.DateTime()),
        sa.Column("cursor", sa.Text()),
        sa.Column("details", JSONType),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_ingest_state"),
    )
    op.create_table(
        "report_editions",
        sa.Column("id", BigIntKey, nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data_hash", sa.String(64)),
        sa.Column("config_hash", sa.String(64)),
        sa.Column("testlist_hash", sa.String(64)),
        sa.Column("snapshot_ref", sa.Text()),
        sa.Column("output_path", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_report_editions"),
    )


def downgrade() -> None:
    op.drop_table("report_editions")
    op.drop_table("ingest_state")
    op.drop_index("ix_testlist_changes_list_url", table_name="testlist_changes")
    op.drop_table("testlist_changes")
    op.drop_table("testlist_entries")
    for name in (
        "ix_measurements_uid",
        "ix_measurements_asn",
        "ix_measurements_domain",
        "ix_measurements_test_time",
        "ix_measurements_cc_time",
    ):
        op.drop_index(name, table_name="measurements")
    op.drop_table("measurements")
    op.drop_table("probe_runs")
    op.drop_table("networks")
