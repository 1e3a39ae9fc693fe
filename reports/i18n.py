"""Languages of the report: gettext catalogues, localised numbers and dates.

Every fixed string of the report goes through gettext. The catalogues are plain ``.po`` files
in ``reports/locale/<lang>/LC_MESSAGES/messages.po`` (edited by translators with any PO
editor); they are compiled in memory with Babel when a report is rendered, so there is no
build step and no binary file in the repository.

Khmer (``km``) uses Khmer digits (០-៩) and Khmer month names. The Khmer catalogue is marked as
a draft for native-speaker review: the report says so until a reviewer clears the
``X-Review-Status`` header of the catalogue.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from censorwatch.errors import ConfigError

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("en", "km")
DOMAIN = "messages"

_KHMER_DIGITS = str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩")


@dataclass(frozen=True)
class Language:
    """What the templates need to speak one language."""

    code: str
    translations: gettext.NullTranslations
    #: True while the catalogue awaits native-speaker review.
    draft: bool
    #: Name of the language in itself, for the page's language switcher and metadata.
    native_name: str

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def digits(self, text: str) -> str:
        """Western digits in ``text`` written in this language's digits."""
        return text.translate(_KHMER_DIGITS) if self.code == "km" else text

    def number(self, value: float | int | None, decimals: int = 0) -> str:
        if value is None:
            return "–"
        fmt = "#,##0" if decimals == 0 else "#,##0." + "0" * decimals
        return self.digits(format_decimal(value, format=fmt, locale=self.code))

    def percent(self, ratio: float | None, decimals: int = 0) -> str:
        """``0.4567`` -> ``46%`` (or ``៤៦%``)."""
        if ratio is None:
            return "–"
        return self.number(ratio * 100, decimals) + "%"

    def date(self, value: dt.date | dt.datetime | str | None, fmt: str = "d MMMM y") -> str:
        if value is None or value == "":
            return "–"
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        return self.digits(format_date(value, fmt, locale=self.code))

    def month(self, value: dt.date | str) -> str:
        """``2023-03`` -> ``March 2023`` / ``មីនា ២០២៣``."""
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:7] + "-01")
        return self.date(value, "MMMM y")

    def month_short(self, value: dt.date | str) -> str:
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:7] + "-01")
        return self.date(value, "MMM" if self.code == "en" else "MMMM")


def _catalogue_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def get_language(code: str) -> Language:
    """Load a language; English is the source language and needs no catalogue."""
    if code not in LANGUAGES:
        raise ConfigError(f"--lang: unsupported language {code!r} (choose {', '.join(LANGUAGES)})")
    if code == "en":
        return Language("en", gettext.NullTranslations(), draft=False, native_name="English")
    path = _catalogue_path(code)
    with path.open("rb") as fh:
        catalogue = read_po(fh, locale=code, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    translations = gettext.GNUTranslations(buffer)
    headers = dict(catalogue.mime_headers)
    draft = headers.get("X-Review-Status", "draft").strip().lower() != "reviewed"
    return Language(code, translations, draft=draft, native_name="ខ្មែរ")
