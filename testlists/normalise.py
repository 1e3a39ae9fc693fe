"""URLs of a test list: what upstream accepts, the one normal form, and keys for near-duplicates.

Upstream Citizen Lab lint accepts an ``http``/``https`` URL whose host is a DNS name (letters,
digits and hyphens, at least two labels, in ASCII: internationalised names are written in
punycode) or a dotted IPv4 address, with an optional port and then nothing, ``/``, or a path or
query without whitespace; it rejects ``\\r``, ``\\n``, ``\\t`` and backslashes anywhere, spaces
at the ends, and a bare domain without its trailing slash. :func:`url_problems` applies exactly
those rules (written here from their description, not copied) plus one of ours: the normal form.

The normal form (:func:`normalise_url`) is what two people typing the same URL should get:
scheme and host in lower case, no default port, ``/`` as the path of a bare domain. Path and
query keep their case, because servers may treat ``/News`` and ``/news`` differently; that is
why "same URL in another letter case" is only a warning (:func:`loose_key`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit, urlunsplit

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
#: Characters upstream refuses anywhere in a URL, notes or source.
BAD_CHARS = ("\r", "\n", "\t", "\\")

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DNS_HOST = re.compile(rf"(?:{_LABEL}\.)+(?:[a-z]{{2,6}}|[a-z0-9-]{{2,}})\.?", re.IGNORECASE)
_IPV4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_WHITESPACE = re.compile(r"\s")


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number in range
    except ValueError:
        return None
    return parts


def url_problems(url: str) -> list[tuple[str, str]]:
    """``(rule, message)`` for each way ``url`` breaks the rules; empty when it is fine."""
    problems: list[tuple[str, str]] = []
    bad = sorted({repr(c) for c in BAD_CHARS if c in url})
    if bad:
        problems.append(("url-bad-chars", f"URL contains {', '.join(bad)}"))
    if url != url.strip():
        problems.append(("url-whitespace", "extra spaces at the ends of the URL"))
    elif _WHITESPACE.search(url) and not bad:
        problems.append(("url-whitespace", "URL contains whitespace"))
    text = url.strip()
    parts = _split(text)
    if parts is None or "://" not in text:
        problems.append(("url-syntax", f"not a valid URL: {url!r}"))
        return problems
    if parts.scheme.lower() not in SCHEMES:
        problems.append(("url-scheme", f"scheme must be http or https, not {parts.scheme!r}"))
        return problems
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        problems.append(("url-syntax", "URL must not contain a user name or password"))
    if not (_DNS_HOST.fullmatch(host) or _valid_ipv4(host)):
        problems.append(("url-syntax", f"not a valid host name or IPv4 address: {host!r}"))
    if parts.fragment or text.endswith("#"):
        problems.append(("url-fragment", "the #fragment is never sent to the server"))
    if parts.path == "":
        problems.append(("url-trailing-slash", "a bare domain needs a trailing slash"))
    if all(rule == "url-fragment" for rule, _ in problems):
        normal = normalise_url(text)
        if normal != url:
            problems.append(("url-not-normalised", f"write it as {normal}"))
    return problems


def _valid_ipv4(host: str) -> bool:
    return bool(_IPV4.fullmatch(host)) and all(int(p) <= 255 for p in host.split("."))


@lru_cache(maxsize=65536)
def normalise_url(url: str) -> str:
    """The normal form: trimmed, scheme and host lower case, no default port, ``/`` path.

    A URL that cannot be parsed is returned trimmed and otherwise untouched: normalising must
    never invent a different URL.
    """
    text = url.strip()
    parts = _split(text)
    if parts is None or not parts.netloc:
        return text
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host.endswith(".") and _DNS_HOST.fullmatch(host):
        host = host.rstrip(".")
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{parts.port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


def strict_key(url: str) -> str:
    """Identity of a URL: its normal form (what duplicate detection compares)."""
    return normalise_url(url)


def loose_key(url: str) -> str:
    """The URL with scheme, letter case and a trailing slash ignored: finds near-duplicates.

    (Upstream's first lint also compared URLs lower-cased and without their trailing slash.)
    """
    normal = normalise_url(url)
    _, sep, rest = normal.partition("://")
    rest = (rest if sep else normal).lower()
    if "?" not in rest:
        rest = rest.rstrip("/") or rest
    return rest


def variant_kind(a: str, b: str) -> str:
    """How two URLs with the same :func:`loose_key` differ: ``scheme``, ``slash`` or ``case``."""
    if a.split(":", 1)[0].lower() != b.split(":", 1)[0].lower():
        return "scheme"
    na, nb = normalise_url(a), normalise_url(b)
    if na.lower() == nb.lower():
        return "case"
    return "slash"


def site_key(url: str) -> str:
    """The site a URL belongs to: host in lower case without a leading ``www.``."""
    parts = _split(url.strip())
    host = ((parts.hostname if parts else "") or "").lower().rstrip(".")
    return host.removeprefix("www.")


def is_homepage(url: str) -> bool:
    """True when the URL is a whole site (``https://example.org/``), not one page of it."""
    parts = _split(url.strip())
    return bool(parts) and parts.path in ("", "/") and not parts.query


def upstream_sort_key(url: str) -> str:
    """Upstream's own order for a list: by URL without its scheme."""
    return url.split("//", 1)[-1]
