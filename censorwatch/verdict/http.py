"""Did the probe get the page the control got? OONI's four HTTP comparisons.

From probe-cli ``webconnectivity/httpanalysis.go`` (after Measurement Kit), each ``None``
when it cannot be applied:

* body length: ``min/max`` of the two lengths; a match above **0.7**; not applied when the
  control has no body, the probe's body is empty or was truncated;
* status code: equal codes match; a control 5xx makes the check inapplicable;
* headers: the *names* of the headers, ignoring a list of common ones (``date``, ``server``,
  ``set-cookie``, ...); identical name sets match, else any uncommon header in both matches;
* title: OONI compares the words of 5+ characters of both titles (all of them must be in
  both). Khmer, Thai, Lao, Burmese and CJK write words without spaces, so a whole title is one
  "word" and any difference breaks it. When either title is in such a script, censorwatch
  compares character bigrams instead (zero-width spaces removed, Unicode NFC, case folded):
  a Dice similarity of 0.7 or more (the body rule's threshold) is a match.
"""

from __future__ import annotations

import html
import re
import unicodedata

from censorwatch.verdict.observations import Control, Response

BODY_PROPORTION_FACTOR = 0.7
TITLE_SIMILARITY_FACTOR = 0.7
MIN_WORD_LENGTH = 5

COMMON_HEADERS = frozenset(
    {
        "date",
        "content-type",
        "server",
        "cache-control",
        "vary",
        "set-cookie",
        "location",
        "expires",
        "x-powered-by",
        "content-encoding",
        "last-modified",
        "accept-ranges",
        "pragma",
        "x-frame-options",
        "etag",
        "x-content-type-options",
        "age",
        "via",
        "p3p",
        "x-xss-protection",
        "content-language",
        "cf-ray",
        "strict-transport-security",
        "link",
        "x-varnish",
    }
)

#: Scripts written without spaces between words (Khmer first: the project's first users).
_NO_SPACE_SCRIPTS = re.compile(
    "[\u1780-\u17ff\u19e0-\u19ff"  # Khmer, Khmer symbols
    "\u0e00-\u0e7f\u0e80-\u0eff"  # Thai, Lao
    "\u1000-\u109f\uaa60-\uaa7f"  # Myanmar
    "\u0f00-\u0fff"  # Tibetan
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"  # Kana, CJK
)
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), None)
_TITLE_RE = re.compile(r"<title[^>]*>([^<]{1,1024})</title", re.IGNORECASE)


def extract_title(body: str | bytes | None) -> str:
    """The page title, as OONI's ``WebGetTitle`` finds it (first ``<title>``), unescaped."""
    if not body:
        return ""
    if isinstance(body, bytes):
        body = body[: 1 << 20].decode("utf-8", errors="replace")
    match = _TITLE_RE.search(body)
    return html.unescape(match.group(1)).strip() if match else ""


def body_proportion(resp: Response, ctrl: Control) -> tuple[bool | None, float | None]:
    control = ctrl.http_body_length
    if control <= 0 or resp.body_is_truncated:
        return None, None
    measured = resp.body_length or 0
    if measured <= 0:
        return None, None
    proportion = control / measured if measured >= control else measured / control
    return proportion > BODY_PROPORTION_FACTOR, proportion


def status_code_match(resp: Response, ctrl: Control) -> bool | None:
    control, measured = ctrl.http_status, resp.code
    if control <= 0 or measured <= 0:
        return None
    if control == measured:
        return True
    if control // 100 == 5:
        return None
    return False


def headers_match(resp: Response, ctrl: Control) -> bool | None:
    if resp.code <= 0 or ctrl.http_status <= 0:
        return None
    ours = {k.lower() for k in resp.headers}
    theirs = {k.lower() for k in ctrl.http_headers}
    if ours == theirs:
        return True
    return bool((ours - COMMON_HEADERS) & (theirs - COMMON_HEADERS))


def _normalise(title: str) -> str:
    return unicodedata.normalize("NFC", title).translate(_ZERO_WIDTH).casefold().strip()


def _bigrams(text: str) -> set[str]:
    chars = [c for c in text if c.isalnum() or unicodedata.category(c).startswith("M")]
    if len(chars) < 2:
        return {"".join(chars)} if chars else set()
    return {chars[i] + chars[i + 1] for i in range(len(chars) - 1)}


def titles_match(measured: str, control: str) -> bool | None:
    """Whether two page titles are "the same page" (see the module docstring)."""
    if not measured:
        return None
    a, b = _normalise(measured), _normalise(control)
    if _NO_SPACE_SCRIPTS.search(a) or _NO_SPACE_SCRIPTS.search(b):
        ga, gb = _bigrams(a), _bigrams(b)
        if not ga or not gb:
            return ga == gb
        return 2 * len(ga & gb) / (len(ga) + len(gb)) >= TITLE_SIMILARITY_FACTOR
    words: dict[str, int] = {}
    for word in a.split(" "):
        if len(word.encode("utf-8")) >= MIN_WORD_LENGTH:
            words[word] = words.get(word, 0) | 1
    for word in b.split(" "):
        if len(word.encode("utf-8")) >= MIN_WORD_LENGTH:
            words[word] = words.get(word, 0) | 2
    return all(v == 3 for v in words.values())


def title_match(resp: Response, ctrl: Control) -> bool | None:
    if resp.code <= 0 or resp.body_is_truncated or ctrl.http_status <= 0:
        return None
    return titles_match(extract_title(resp.body), ctrl.http_title)
