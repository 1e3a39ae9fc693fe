"""Analysis: which websites were blocked, where, how and since when, with a stated method.

Installed as ``censorwatch.analysis``. :func:`analyze` reads the store (aggregation pushed
into SQL) and returns an :class:`AnalysisResult` of DataFrames and dataclasses for the report;
the rules themselves (:mod:`rules`, :mod:`verdicts`, :mod:`domains`, ...) are pure functions
with no I/O. The method is in docs/analysis-method.md and, generated from the configured
thresholds, in :func:`describe_method`.

Names are loaded from their modules when first used (PEP 562): ``censorwatch analyze --help``
and the period parsing need no pandas (issue #15).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from censorwatch.analysis.method import Method, MethodSentence, describe_method
    from censorwatch.analysis.period import Period, country_timezone, parse_period
    from censorwatch.analysis.pipeline import analyze
    from censorwatch.analysis.result import AnalysisResult, Headline
    from censorwatch.analysis.verdicts import Thresholds

#: Each public name and the module that defines it.
_LAZY: dict[str, str] = {
    "Method": "method",
    "MethodSentence": "method",
    "describe_method": "method",
    "Period": "period",
    "country_timezone": "period",
    "parse_period": "period",
    "analyze": "pipeline",
    "AnalysisResult": "result",
    "Headline": "result",
    "Thresholds": "verdicts",
}

__all__ = [
    "AnalysisResult",
    "Headline",
    "Method",
    "MethodSentence",
    "Period",
    "Thresholds",
    "analyze",
    "country_timezone",
    "describe_method",
    "parse_period",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found by plain lookup from now on
    return value
