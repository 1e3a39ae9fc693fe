"""Errors that users can act on.

Anything raised as a :class:`CensorwatchError` is printed by the CLI as one line on stderr
(no traceback unless ``--verbose``): the message must name the file, line or field at fault.
"""

from __future__ import annotations


class CensorwatchError(Exception):
    """An error with a message meant for the person at the keyboard."""

    exit_code = 1


class ConfigError(CensorwatchError):
    """The configuration file, an environment variable or a flag holds a bad value."""

    exit_code = 2


class StoreError(CensorwatchError):
    """The database cannot be opened, migrated or written."""


class InputError(CensorwatchError):
    """A file or document given to censorwatch is malformed (the message says where)."""
