"""How full measurement documents are kept: compact JSON, compressed.

A Cambodian year is about 2.4 million web_connectivity documents of 5-40 kB each; compressed
they take about a third of the space, on SQLite and PostgreSQL alike, and decompress in
microseconds.

Speed matters as much as size here: encoding is on the path of every ingested document, and
it was the largest single cost of storing one. orjson writes the JSON several times faster
than the standard library; Zstandard at level 1 compresses it three to four times faster than
zlib at its fastest level, and smaller (0.29 of the JSON on the real web_connectivity
documents of the fixtures; level 3 gains 0.01 for a third more time). Where the JSON text is
at hand already (a raw file's line, scrubbed), :func:`encode_json_text` compresses it as it is,
without writing the parsed tree out again: the document is kept byte for byte as OONI
published it, minus the volunteer's address.

Reading tells the formats apart by their first bytes: Zstandard frames start with the magic
``28 b5 2f fd``; anything else is the zlib of stores written before (``78 ..``), which stays
readable forever. Always go through :func:`decode_document`.
"""

from __future__ import annotations

import json
import threading
import zlib
from typing import Any

import orjson
import zstandard

_ZSTD_LEVEL = 1
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# zstandard's compressor and decompressor objects are not thread-safe: one per thread.
_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_local, "c", None)
    if c is None:
        c = _local.c = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "d", None)
    if d is None:
        d = _local.d = zstandard.ZstdDecompressor()
    return d


def _dumps(document: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(document)
    except TypeError:
        # What orjson will not write (integers beyond 64 bits): the standard library will.
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_document(document: dict[str, Any] | None) -> bytes | None:
    if document is None:
        return None
    return _compressor().compress(_dumps(document))


def encode_json_text(text: bytes) -> bytes:
    """Compress a document that is already JSON text (one object, UTF-8)."""
    return _compressor().compress(text)


def decode_document(blob: bytes | memoryview | None) -> dict[str, Any] | None:
    if blob is None:
        return None
    data = bytes(blob)
    zstd = data[:4] == _ZSTD_MAGIC
    raw = _decompressor().decompress(data) if zstd else zlib.decompress(data)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw.decode("utf-8"))
