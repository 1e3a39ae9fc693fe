"""The project's own blocking fingerprints (OONI blocking-fingerprints schema)."""
