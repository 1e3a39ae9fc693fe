"""Holding off CPython's cyclic garbage collector around bulk work that makes no cycles."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off CPython's cyclic garbage collector while one batch is converted and written.

    The collector runs after every 700 net allocations of container objects, and a batch
    holds thousands of them alive (the API page's dicts, the Measurements, their parameter
    rows) until it is written: each collection walks them all again, and the full ones walk
    every object of the process. For API rows that was 5 us of the 28 us a row cost (a fifth
    of the time; ``benchmarks/ingest_bench.py``). Nothing a batch builds needs the collector
    (JSON trees and rows free themselves by reference counting), whatever cycles it does make
    are collected as soon as it is re-enabled, and the memory held meanwhile is bounded by
    the batch. Nested or already-disabled collection is left as it was.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
