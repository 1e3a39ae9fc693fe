"""How full measurement documents are kept: compact JSON, zlib-compressed.

A Cambodian year is about 2.4 million web_connectivity documents of 5-40 kB each; compressed
they take about a third of the space, on SQLite and PostgreSQL alike, and decompress in
microseconds.

Speed matters as much as size here: encoding is on the path of every ingested document. orjson
writes the JSON several times faster than the standard library, and zlib level 1 compresses
twice as fast as level 6 for a few percent more bytes (0.34 against 0.31 of the JSON on real
web_connectivity documents). Any zlib level decodes the same way, so stores written with
another level stay readable.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import orjson

_LEVEL = 1


def _dumps(document: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(document)
    except TypeError:
        # What orjson will not write (integers beyond 64 bits): the standard library will.
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_document(document: dict[str, Any] | None) -> bytes | None:
    if document is None:
        return None
    return zlib.compress(_dumps(document), _LEVEL)


def decode_document(blob: bytes | memoryview | None) -> dict[str, Any] | None:
    if blob is None:
        return None
    raw = zlib.decompress(bytes(blob))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))
