"""How full measurement documents are kept: compact JSON, zlib-compressed.

A Cambodian year is about 2.4 million web_connectivity documents of 5-40 kB each; compressed
they take a fifth of the space, on SQLite and PostgreSQL alike, and decompress in microseconds.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

_LEVEL = 6


def encode_document(document: dict[str, Any] | None) -> bytes | None:
    if document is None:
        return None
    raw = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return zlib.compress(raw.encode("utf-8"), _LEVEL)


def decode_document(blob: bytes | memoryview | None) -> dict[str, Any] | None:
    if blob is None:
        return None
    return json.loads(zlib.decompress(bytes(blob)).decode("utf-8"))
