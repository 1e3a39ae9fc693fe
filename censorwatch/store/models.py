"""The store's tables, as SQLAlchemy 2.0 typed models.

The schema itself is owned by the Alembic migrations in ``migrations/versions``; these models
must match them (``tests/test_store_schema.py`` compares the two on SQLite and PostgreSQL).

Conventions: every time is naive UTC; ASNs are integers (``AS38623`` -> ``38623``); nothing here
may hold a volunteer's IP address or identity.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Tables that live in the same database but belong to a library, not to our migrations:
#: APScheduler's SQLAlchemyJobStore creates and owns ``apscheduler_jobs``.
FOREIGN_TABLES = ("apscheduler_jobs",)


class JSONOrJSONB(TypeDecorator[Any]):
    """JSON that is JSONB on PostgreSQL (indexable, compact) and text on SQLite.

    A type decorator rather than ``JSON().with_variant(JSONB(), "postgresql")``: the variant
    needs SQLAlchemy's PostgreSQL dialect imported with the models, 2.3 MiB that a probe
    writing to SQLite never uses (its budget is 80 MiB, docs/performance.md). The DDL and
    the values are the same.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, none_as_null: bool = False) -> None:
        super().__init__(none_as_null=none_as_null)
        self.none_as_null = none_as_null

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=self.none_as_null))
        return dialect.type_descriptor(JSON(none_as_null=self.none_as_null))


JSONType = JSONOrJSONB()
#: A 64-bit key on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit and autoincrements.
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")
#: BYTEA on PostgreSQL (LargeBinary's own type there), BLOB on SQLite.
Blob = LargeBinary()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONType, list[str]: JSONType}


class Network(Base):
    """An autonomous system seen in measurements: ASN -> ISP name, country."""

    __tablename__ = "networks"

    asn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str | None] = mapped_column(String(255))
    country_code: Mapped[str | None] = mapped_column(String(2))
    #: Where the name came from: "measurement" (probe_network_name) or "config".
    name_source: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class ProbeRun(Base):
    """One run of our own probe over a test list (never the volunteer's address)."""

    __tablename__ = "probe_runs"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: running, completed, interrupted, failed
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    report_id: Mapped[str | None] = mapped_column(String(128))
    probe_cc: Mapped[str | None] = mapped_column(String(2))
    probe_asn: Mapped[int | None] = mapped_column(Integer)
    probe_network_name: Mapped[str | None] = mapped_column(String(255))
    software_version: Mapped[str | None] = mapped_column(String(32))
    #: Content hash of the test lists used, so a report's method can name the list version.
    testlist_hash: Mapped[str | None] = mapped_column(String(64))
    urls_planned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    urls_measured: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    anomalies: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class MeasurementRow(Base):
    """One measurement, ours or OONI's (see :mod:`censorwatch.measurement`)."""

    __tablename__ = "measurements"
    __table_args__ = (
        Index("ix_measurements_cc_time", "probe_cc", "measurement_start_time"),
        Index("ix_measurements_test_time", "test_name", "measurement_start_time"),
        Index("ix_measurements_domain", "domain"),
        Index("ix_measurements_asn", "probe_asn"),
        Index("ix_measurements_uid", "measurement_uid"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: Deterministic identity (report_id, input, start time): the conflict key of every upsert.
    measurement_key: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    measurement_uid: Mapped[str] = mapped_column(String(128), nullable=False)
    #: "ooni" or "censorwatch" (our own probes).
    source: Mapped[str] = mapped_column(String(16), nullable=False)
    test_name: Mapped[str] = mapped_column(String(64), nullable=False)
    test_version: Mapped[str | None] = mapped_column(String(32))
    input: Mapped[str | None] = mapped_column(Text)
    domain: Mapped[str | None] = mapped_column(String(255))
    category_code: Mapped[str | None] = mapped_column(String(16))
    probe_cc: Mapped[str] = mapped_column(String(2), nullable=False)
    probe_asn: Mapped[int] = mapped_column(Integer, nullable=False)
    probe_network_name: Mapped[str | None] = mapped_column(String(255))
    report_id: Mapped[str | None] = mapped_column(String(128))
    software_name: Mapped[str | None] = mapped_column(String(64))
    software_version: Mapped[str | None] = mapped_column(String(32))
    measurement_start_time: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    anomaly: Mapped[bool | None] = mapped_column(Boolean)
    confirmed: Mapped[bool | None] = mapped_column(Boolean)
    failure: Mapped[bool | None] = mapped_column(Boolean)
    #: test_keys.blocking as reported: a method, "false", or NULL when unknown.
    blocking: Mapped[str | None] = mapped_column(String(32))
    accessible: Mapped[bool | None] = mapped_column(Boolean)
    #: The blocking type recomputed by censorwatch's verdict engine.
    verdict_blocking: Mapped[str | None] = mapped_column(String(32))
    #: Whether a blocking fingerprint confirmed the verdict, and which one(s).
    verdict_confirmed: Mapped[bool | None] = mapped_column(Boolean)
    verdict_fingerprint: Mapped[str | None] = mapped_column(String(255))
    #: Version of the verdict rules that judged the row (re-judge when the rules change).
    verdict_version: Mapped[str | None] = mapped_column(String(16))
    #: Hash over the fingerprint sets that judged the row (re-judge when they change).
    verdict_fingerprints_hash: Mapped[str | None] = mapped_column(String(64))
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: The full document as compressed JSON (Zstandard, or zlib in older rows; see
    #: censorwatch.store.codec, and always read it with decode_document).
    document: Mapped[bytes | None] = mapped_column(Blob)
    document_ref: Mapped[str | None] = mapped_column(Text)
    probe_run_id: Mapped[int | None] = mapped_column(
        BigIntKey, ForeignKey("probe_runs.id", ondelete="SET NULL")
    )
    ingested_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class TestlistEntry(Base):
    """A URL of a test list as the store last saw it; its history is in testlist_changes."""

    __tablename__ = "testlist_entries"
    __table_args__ = (UniqueConstraint("list_name", "url"),)
    __test__ = False

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: "kh", "global", ... (the CSV's file name without extension).
    list_name: Mapped[str] = mapped_column(String(32), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    category_code: Mapped[str] = mapped_column(String(16), nullable=False)
    category_description: Mapped[str | None] = mapped_column(String(255))
    date_added: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)
    #: active, retired, historically-blocked
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="active")
    tags: Mapped[list[str] | None] = mapped_column(JSONType)
    first_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    last_changed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class TestlistChange(Base):
    """One change to a test list entry: who, when, why, and what changed."""

    __tablename__ = "testlist_changes"
    __table_args__ = (Index("ix_testlist_changes_list_url", "list_name", "url"),)
    __test__ = False

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    list_name: Mapped[str] = mapped_column(String(32), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    #: added, changed, removed, retired
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    #: {field: [old, new]}
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reason: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(255))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    #: Content hash of the list file after the change.
    list_hash: Mapped[str | None] = mapped_column(String(64))


class IngestState(Base):
    """Per-source progress of ingest: the watermark and a resumable cursor."""

    __tablename__ = "ingest_state"

    #: e.g. "ooni-api:KH:web_connectivity", "ooni-raw:KH"
    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    watermark: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cursor: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class OoniAggregate(Base):
    """OONI's own monthly counts (``/api/v1/aggregation``), optionally per network/domain/category.

    ``axis`` is the second dimension (``probe_asn``, ``domain``, ``category_code``) or ``""``
    for the country total; ``axis_value`` its value as text (``""`` for the total).
    """

    __tablename__ = "ooni_aggregates"
    __table_args__ = (
        UniqueConstraint(
            "probe_cc",
            "test_name",
            "time_grain",
            "period_start",
            "axis",
            "axis_value",
            name="uq_ooni_aggregates_key",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    probe_cc: Mapped[str] = mapped_column(String(2), nullable=False)
    test_name: Mapped[str] = mapped_column(String(64), nullable=False)
    #: "month" (set explicitly in every query), "day", ...
    time_grain: Mapped[str] = mapped_column(String(8), nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    axis: Mapped[str] = mapped_column(String(32), nullable=False)
    axis_value: Mapped[str] = mapped_column(String(255), nullable=False)
    measurement_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    anomaly_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    confirmed_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    failure_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ok_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class ReportEdition(Base):
    """A generated report, with the hashes that let an endorsed edition be reproduced."""

    __tablename__ = "report_editions"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    country: Mapped[str] = mapped_column(String(2), nullable=False)
    period_start: Mapped[dt.date] = mapped_column(Date, nullable=False)
    period_end: Mapped[dt.date] = mapped_column(Date, nullable=False)
    lang: Mapped[str] = mapped_column(String(8), nullable=False)
    #: draft, review, endorsed
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    data_hash: Mapped[str | None] = mapped_column(String(64))
    config_hash: Mapped[str | None] = mapped_column(String(64))
    testlist_hash: Mapped[str | None] = mapped_column(String(64))
    snapshot_ref: Mapped[str | None] = mapped_column(Text)
    output_path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class JobRun(Base):
    """One run of a pipeline job (probe, ingest-ooni, analyze, report), manual or scheduled."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    job: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: running, success, failed, interrupted, skipped (the job was already running elsewhere)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)


class JobLock(Base):
    """Who runs a job right now, so two schedulers (or a manual run) never overlap.

    A row exists only while a job runs; its holder renews ``expires_at`` (a heartbeat) and a
    row whose ``expires_at`` has passed belongs to a process that died and may be taken over.
    ``holder`` is a random installation id, a process id and a random token: never a host
    name or an address.
    """

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), nullable=False)
    acquired_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class Alert(Base):
    """A website found newly blocked or unblocked, recorded once and sent where configured."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("kind", "domain", "period"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    #: blocked, unblocked
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    domain: Mapped[str] = mapped_column(String(255), nullable=False)
    #: The reporting period the change belongs to, e.g. ``2023-01-01..2023-12-31``.
    period: Mapped[str] = mapped_column(String(32), nullable=False)
    country: Mapped[str | None] = mapped_column(String(2))
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    #: What the analysis said: verdict, methods, networks, first/last blocked.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: Channel -> time it was delivered (``{"webhook": "2026-...Z"}``); missing = not yet.
    delivered: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_error: Mapped[str | None] = mapped_column(Text)


class AnswerDecision(Base):
    """A working group's decision on a suspicious DNS answer address, with who, when and why.

    ``decision`` is ``accept`` (the address is a censor's: it becomes a ``local.*`` fingerprint)
    or ``reject`` (a known false positive). The latest row per ``ip`` counts; earlier rows are
    the record. ``decided_by`` is the name a member gives (``--by`` or the configuration), never
    a host name or an address.
    """

    __tablename__ = "answer_decisions"

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True)
    ip: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    decision: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    decided_by: Mapped[str] = mapped_column(String(128), nullable=False)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    country: Mapped[str | None] = mapped_column(String(2))
    asn: Mapped[int | None] = mapped_column(Integer)
    #: What ``blocking_answers`` said about the address when it was decided.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
