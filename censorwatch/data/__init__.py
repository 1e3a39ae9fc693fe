"""Data files shipped with censorwatch."""
