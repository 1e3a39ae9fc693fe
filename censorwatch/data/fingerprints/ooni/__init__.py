"""A snapshot of OONI's blocking fingerprints (BSD-3-Clause, see ATTRIBUTION.md)."""
