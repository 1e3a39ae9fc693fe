"""Analysis: coverage, per-domain verdicts and blocking methods over a reporting period.

Installed as ``censorwatch.analysis``. Plain functions over the store; no I/O in the rules.
"""
