"""OONI ingest: the OONI API, OONI's raw measurement files and our probes' bundles.

Installed as ``censorwatch.ingest``. Incremental and idempotent (see ``censorwatch.store.bulk``).
"""
