"""An OONI Run v2 descriptor for a test list, so OONI Probe app users test the same URLs.

The descriptor follows OONI's specification (ooni/spec, backends/bk-005-ooni-run-v2.md,
"OONI Run descriptor"): a JSON object with ``name``, ``short_description``, ``description``
(Markdown), ``author``, optional ``icon``, ``color`` and ``expiration_date``, and ``nettests``:
here one ``web_connectivity`` nettest whose ``inputs`` are the URLs and whose ``inputs_extra``
carry each URL's ``category_code`` (same length and order as ``inputs``, as the spec asks).
OONI's API limits ``name`` to 50 characters, ``short_description`` to 200 and ``author`` to
100; we check those here so the file is accepted when pasted into run.ooni.org.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from censorwatch.errors import InputError
from censorwatch.testlists.inputs import TestInput

NAME_MAX, SHORT_MAX, AUTHOR_MAX = 50, 200, 100
#: OONI Run links expire; the OONI API defaults to six months.
DEFAULT_LIFETIME = dt.timedelta(days=180)
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def ooni_run_descriptor(
    inputs: Sequence[TestInput],
    *,
    name: str,
    short_description: str,
    description: str,
    author: str,
    list_hash: str,
    icon: str | None = None,
    color: str | None = None,
    expiration_date: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Build the descriptor; InputError when a field breaks OONI's limits."""
    if not inputs:
        raise InputError("the test list is empty: nothing to put in an OONI Run link")
    _check_length("name", name, 2, NAME_MAX)
    _check_length("short_description", short_description, 2, SHORT_MAX)
    _check_length("author", author, 2, AUTHOR_MAX)
    if color is not None and not _COLOR.fullmatch(color):
        raise InputError(f"color {color!r}: expected # and six hex digits, e.g. #0588cb")
    now = now or dt.datetime.now(dt.UTC)
    expires = expiration_date or (now + DEFAULT_LIFETIME)
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    version = (
        f"\n\nTest list version (censorwatch content hash): `{list_hash}`, "
        f"{len(inputs)} URLs, exported {now:%Y-%m-%d}."
    )
    descriptor: dict[str, Any] = {
        "name": name,
        "short_description": short_description,
        "description": description + version,
        "author": author,
        "expiration_date": expires.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nettests": [
            {
                "test_name": "web_connectivity",
                "inputs": [i.url for i in inputs],
                "inputs_extra": [{"category_code": i.category_code} for i in inputs],
                "is_background_run_enabled": True,
                "is_manual_run_enabled": True,
            }
        ],
    }
    if icon:
        descriptor["icon"] = icon
    if color:
        descriptor["color"] = color
    return descriptor


def _check_length(field: str, value: str, low: int, high: int) -> None:
    if not low <= len(value.strip()) <= high:
        raise InputError(
            f"{field}: OONI Run needs {low} to {high} characters, got {len(value.strip())}"
        )
