"""The annual censorship report: one self-contained HTML file rendered with Jinja2.

Installed as ``censorwatch.reports``.
"""
