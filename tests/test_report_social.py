"""--social: headline charts as PNG and a plain summary of at most 100 words."""

from __future__ import annotations

import pytest

from censorwatch.reports.i18n import get_language
from censorwatch.reports.social import MAX_WORDS, summary_text, write_social


def test_summary_is_short_and_sourced(report_model) -> None:
    text = summary_text(report_model(), get_language("en"))
    assert len(text.split()) <= MAX_WORDS
    assert "36 websites showed confirmed blocking in Cambodia" in text
    assert "Source:" in text


def test_synthetic_summary_says_so(report_model) -> None:
    assert "SYNTHETIC" in summary_text(report_model(synthetic=True), get_language("en"))


def test_pngs_written(report_model, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    paths = write_social(report_model(), get_language("en"), tmp_path)
    names = {p.name for p in paths}
    assert {"measurements-per-month.png", "blocked-by-category.png", "summary.txt"} <= names
    for p in paths:
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
