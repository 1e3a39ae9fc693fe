"""Country test lists in the Citizen Lab CSV format: read, lint, edit, sync and import.

Installed as ``censorwatch.testlists``; the folder also ships the project's own lists.
"""
