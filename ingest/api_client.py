"""A polite, resilient client of the OONI API.

The public API gives each client a quota of server time (about ten cheap calls a minute) and
answers ``429 {"error": "quota exceeded"}`` with ``X-RateLimit-Remaining`` beyond it. So the
client:

* spaces its calls (``calls_per_minute``), whatever the caller does;
* retries timeouts, dropped or truncated responses, 5xx and 429 with exponential backoff and
  full jitter (tenacity), honouring ``Retry-After`` when the server sends one;
* pages ``/api/v1/measurements`` by ``metadata.next_url`` (``count`` and ``pages`` may be -1,
  so the only end is a missing ``next_url`` or an empty page);
* splits long ranges into windows of at most 180 days, the most the API answers at once.

It is plain ``requests`` underneath: one Session, keep-alive, a User-Agent naming censorwatch.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import orjson
import requests
import tenacity

from censorwatch import __version__
from censorwatch.errors import CensorwatchError
from censorwatch.gcpause import gc_paused

log = logging.getLogger("censorwatch.ingest")

#: The longest since..until range the measurement list answers in one query.
MAX_WINDOW = timedelta(days=180)
USER_AGENT = f"censorwatch/{__version__} (+https://github.com/censorwatch)"


class ApiError(CensorwatchError):
    """The OONI API refused a request for good (4xx other than 429, or retries exhausted)."""


class TransientError(Exception):
    """A failure worth retrying: timeout, dropped or truncated response, 5xx, 429."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _never_connected(exc: Exception) -> bool:
    """Whether the connection itself failed (refused, no route, name not resolved)."""
    text = str(exc)
    return isinstance(exc, requests.ConnectionError) and any(
        marker in text
        for marker in (
            "NewConnectionError",
            "Connection refused",
            "NameResolutionError",
            "Name or service not known",
            "No route to host",
            "Failed to resolve",
        )
    )


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "No route to host",
        "Failed to resolve",
    ):
        if marker in text:
            return marker.lower()
    return exc.__class__.__name__


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """At most ``per_minute`` calls a minute, evenly spaced (no bursts that would cost quota)."""

    def __init__(
        self,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval

    def hold(self, seconds: float) -> None:
        """Nothing before ``seconds`` from now (the server asked us to back off)."""
        with self._lock:
            self._next = max(self._next, self.clock() + seconds)


@dataclass
class Page:
    """One page of the measurement list."""

    url: str
    results: list[Any]
    next_url: str | None
    metadata: dict[str, Any]


class _WaitRetryAfter(tenacity.wait.wait_base):
    """Exponential backoff with jitter, but never less than the server's ``Retry-After``."""

    def __init__(self, fallback: tenacity.wait.wait_base, maximum: float) -> None:
        self.fallback = fallback
        self.maximum = maximum

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        backoff = self.fallback(retry_state)
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, TransientError) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.maximum)
        return backoff


def make_retrying(
    what: str,
    *,
    max_attempts: int = 8,
    backoff_initial: float = 2.0,
    backoff_max: float = 300.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[], None] | None = None,
) -> tenacity.Retrying:
    """Retry :class:`TransientError` with exponential backoff, full jitter and Retry-After."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None:
            on_retry()
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning(
            "%s: %s; retrying in %.1f s (attempt %d)", what, exc, wait, state.attempt_number
        )

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientError),
        wait=_WaitRetryAfter(
            tenacity.wait_random_exponential(multiplier=backoff_initial, max=backoff_max),
            backoff_max,
        ),
        stop=tenacity.stop_after_attempt(max_attempts),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


class OoniApiClient:
    """``GET`` JSON from the OONI API with rate limiting and retries."""

    def __init__(
        self,
        base_url: str,
        *,
        calls_per_minute: float = 10,
        timeout: float = 60.0,
        max_attempts: int = 8,
        backoff_initial: float = 2.0,
        backoff_max: float = 300.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", USER_AGENT)
        self.session.headers["Accept"] = "application/json"
        self.limiter = RateLimiter(calls_per_minute, sleep=sleep)
        self.calls = 0
        #: Responses received; before the first one, an unreachable API means "offline".
        self.answered = 0
        self.retries = 0
        self._retrying = make_retrying(
            "OONI API",
            max_attempts=max_attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            sleep=sleep,
            on_retry=self._count_retry,
        )

    def _count_retry(self) -> None:
        self.retries += 1

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def follow(self, next_url: str) -> str:
        """``metadata.next_url`` as a URL of *our* API base.

        The API writes its public address into ``next_url``; behind a mirror or a test server
        the path and query are what count, so they are kept on the configured base.
        """
        ours, theirs = urlsplit(self.base_url), urlsplit(next_url)
        if (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc):
            return next_url
        base_path = ours.path.rstrip("/")
        path = theirs.path if theirs.path.startswith(base_path + "/") else base_path + theirs.path
        return urlunsplit((ours.scheme, ours.netloc, path, theirs.query, ""))

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        """The parsed JSON at ``url`` (absolute, or a path under the base), retried as needed."""
        full = url if "://" in url else self.url(url)
        try:
            return self._retrying(self._get_once, full, params)
        except TransientError as exc:
            raise ApiError(f"OONI API: giving up on {full}: {exc}") from None

    def _get_once(self, url: str, params: dict[str, Any] | None) -> Any:
        self.limiter.wait()
        self.calls += 1
        try:
            resp = self.session.get(url, params=params, timeout=self.timeout)
            body = resp.content
        except requests.Timeout as exc:
            raise TransientError(f"timed out ({exc.__class__.__name__})") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            if self.answered == 0 and _never_connected(exc):
                # Refused or unresolvable before anything answered: offline or a wrong
                # --api-url. Retrying for minutes would only hide that.
                host = urlsplit(url).netloc
                raise ApiError(
                    f"cannot reach the OONI API at {host} ({_reason(exc)}): "
                    "are you online, and is --api-url right?"
                ) from None
            raise TransientError(f"connection failed or response cut short: {exc}") from None
        self.answered += 1
        status = resp.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            if retry_after is not None:
                self.limiter.hold(retry_after)
            detail = _error_text(body)
            remaining = resp.headers.get("X-RateLimit-Remaining")
            if remaining is not None:
                detail += f", X-RateLimit-Remaining {remaining}"
            raise TransientError(f"HTTP {status} ({detail})", retry_after)
        if status >= 400:
            raise ApiError(f"OONI API: HTTP {status} for {resp.url}: {_error_text(body)}")
        try:
            return parse_answer(body)
        except orjson.JSONDecodeError as exc:
            # A 200 whose body stops mid-way (a proxy cut it): the next try gets it whole.
            raise TransientError(f"response is not complete JSON ({exc})") from None

    # -- endpoints --

    def measurement_pages(
        self, params: dict[str, Any] | None = None, start_url: str | None = None
    ) -> Iterator[Page]:
        """Pages of ``/api/v1/measurements``: from ``params``, or resuming at ``start_url``."""
        url = self.follow(start_url) if start_url else self.url("api/v1/measurements")
        query = None if start_url else params
        while url:
            data = self.get_json(url, query)
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise ApiError(f"OONI API: {url}: no 'results' list in the answer")
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            page_url = url
            if query is not None:
                page_url = requests.Request("GET", url, params=query).prepare().url or url
            nxt = meta.get("next_url")
            nxt = self.follow(nxt) if isinstance(nxt, str) and nxt and data["results"] else None
            yield Page(page_url, data["results"], nxt, meta)
            url, query = nxt, None  # type: ignore[assignment]

    def aggregation(self, params: dict[str, Any]) -> dict[str, Any]:
        """``/api/v1/aggregation`` (the caller sets ``time_grain`` explicitly)."""
        data = self.get_json("api/v1/aggregation", params)
        if not isinstance(data, dict) or not isinstance(data.get("result"), list | dict):
            raise ApiError("OONI API: aggregation answer has no 'result'")
        return data

    def measurement_meta(self, measurement_uid: str, full: bool = True) -> dict[str, Any]:
        """``/api/v1/measurement_meta``: OONI's flags and, with ``full``, the raw document."""
        data = self.get_json(
            "api/v1/measurement_meta",
            {"measurement_uid": measurement_uid, "full": "true" if full else "false"},
        )
        if not isinstance(data, dict):
            raise ApiError(f"OONI API: measurement_meta of {measurement_uid} is not an object")
        return data

    def raw_measurement(self, measurement_uid: str) -> dict[str, Any]:
        """``/api/v1/raw_measurement``: the full document alone."""
        data = self.get_json("api/v1/raw_measurement", {"measurement_uid": measurement_uid})
        if not isinstance(data, dict):
            raise ApiError(f"OONI API: raw_measurement of {measurement_uid} is not an object")
        return data


def parse_answer(body: bytes) -> Any:
    """An API answer's JSON, parsed with the garbage collector held off.

    A page of 1,000 to 5,000 rows is as many dicts kept alive at once: the collections they
    trigger while orjson builds them cost more than the parse (``censorwatch.gcpause``).
    """
    with gc_paused():
        return orjson.loads(body)


def _error_text(body: bytes) -> str:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip() or "no body"
    if isinstance(data, dict) and "error" in data:
        return str(data["error"])
    return body[:200].decode("utf-8", "replace")


def windows(
    since: datetime, until: datetime, size: timedelta = MAX_WINDOW
) -> Iterator[tuple[datetime, datetime]]:
    """``[since, until)`` cut into consecutive windows no longer than ``size``."""
    start = since
    while start < until:
        end = min(start + size, until)
        yield start, end
        start = end


def api_time(value: datetime | date) -> str:
    """The API's ``since``/``until`` format (UTC, no zone suffix)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    return value.isoformat()
