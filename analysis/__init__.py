"""Analysis: which websites were blocked, where, how and since when, with a stated method.

Installed as ``censorwatch.analysis``. :func:`analyze` reads the store (aggregation pushed
into SQL) and returns an :class:`AnalysisResult` of DataFrames and dataclasses for the report;
the rules themselves (:mod:`rules`, :mod:`verdicts`, :mod:`domains`, ...) are pure functions
with no I/O. The method is in docs/analysis-method.md and, generated from the configured
thresholds, in :func:`describe_method`.
"""

from censorwatch.analysis.method import Method, MethodSentence, describe_method
from censorwatch.analysis.period import Period, country_timezone, parse_period
from censorwatch.analysis.pipeline import analyze
from censorwatch.analysis.result import AnalysisResult, Headline
from censorwatch.analysis.verdicts import Thresholds

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
