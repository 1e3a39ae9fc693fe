"""What the Citizen Lab CSV cannot say, kept in a side file next to it: ``kh.meta.json``.

Why a side file: the CSV must stay exactly upstream's format so rows can go back upstream in a
pull request, yet a country team needs more: whether a URL is still tested (``active``), kept
only for its history (``retired``), or known to have been blocked (``historically-blocked``);
free tags such as ``election-2023`` or ``officially-blocked-2018``; and, for every change, why
it was made and by whom. Upstream clean-ups have deleted URLs that were still blocked and lost
their history; here a URL that was ever found blocked is retired, not deleted.

The file is JSON (sorted keys, two-space indent, final newline) so that it diffs well in git::

    {
      "changes": [{"action": "added", "at": "2026-01-05T03:00:00Z", "author": "...",
                   "fields": {...}, "reason": "...", "url": "https://..."}],
      "entries": {"https://vodkhmer.news/": {"status": "historically-blocked",
                                              "tags": ["blocked-2023"]}},
      "format": 1,
      "list": "kh"
    }

A URL absent from ``entries`` is ``active`` with no tags.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from censorwatch.errors import InputError
from censorwatch.measurement import utcnow
from censorwatch.testlists.csvformat import atomic_write_bytes, list_name, sha256_bytes
from censorwatch.testlists.normalise import strict_key

FORMAT_VERSION = 1
STATUSES = ("active", "retired", "historically-blocked")
#: Statuses that take a URL out of probe runs.
INACTIVE_STATUSES = frozenset({"retired"})
_TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
ACTIONS = ("added", "changed", "removed", "retired", "status", "tagged", "untagged")


def meta_path(csv_path: str | os.PathLike[str]) -> Path:
    """``lists/kh.csv`` -> ``lists/kh.meta.json``."""
    p = Path(csv_path)
    return p.with_name(f"{p.stem}.meta.json")


def check_tag(tag: str) -> str:
    """A tag is a short lower-case word: letters, digits, ``-``, ``.`` or ``_``."""
    if not _TAG.fullmatch(tag):
        raise InputError(
            f"tag {tag!r}: use lower-case letters, digits, '-', '.' or '_' "
            "(for example election-2023), at most 63 characters"
        )
    return tag


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InputError(f"status {status!r}: must be one of {', '.join(STATUSES)}")
    return status


@dataclass
class EntryMeta:
    status: str = "active"
    tags: list[str] = field(default_factory=list)

    def is_default(self) -> bool:
        return self.status == "active" and not self.tags


@dataclass
class Change:
    """One recorded change to a list: what, to which URL, when, why and by whom."""

    action: str
    url: str
    reason: str
    at: str
    author: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "action": self.action,
            "at": self.at,
            "reason": self.reason,
            "url": self.url,
        }
        if self.author:
            data["author"] = self.author
        if self.fields:
            data["fields"] = self.fields
        return data


@dataclass
class ListMeta:
    """The side file of one list (empty when the file does not exist yet)."""

    path: Path
    list: str
    entries: dict[str, EntryMeta] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    #: Hash of the bytes read (None when there was no file): part of a run's list version.
    sha256: str | None = None
    #: strict_key -> key in ``entries`` (built on demand, dropped whenever entries change).
    _index: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def _key(self, url: str) -> str:
        """The key ``url`` is stored under: itself, or the same URL before ``lint --fix``
        normalised it (``https://Example.org`` for ``https://example.org/``)."""
        if url in self.entries or not self.entries:
            return url
        if self._index is None:
            self._index = {strict_key(u): u for u in self.entries}
        return self._index.get(strict_key(url), url)

    def entry(self, url: str) -> EntryMeta:
        return self.entries.get(self._key(url)) or EntryMeta()

    def status(self, url: str) -> str:
        return self.entry(url).status

    def tags(self, url: str) -> list[str]:
        return list(self.entry(url).tags)

    def _set(self, url: str, entry: EntryMeta) -> None:
        self.entries.pop(self._key(url), None)
        self._index = None
        if entry.is_default():
            self.entries.pop(url, None)
        else:
            entry.tags = sorted(set(entry.tags))
            self.entries[url] = entry

    def set_status(self, url: str, status: str) -> str:
        """Set the status; returns the previous one."""
        entry = self.entry(url)
        old = entry.status
        self._set(url, EntryMeta(check_status(status), list(entry.tags)))
        return old

    def add_tags(self, url: str, tags: list[str]) -> list[str]:
        """Add tags; returns those that were new."""
        entry = self.entry(url)
        new = [check_tag(t) for t in tags if t not in entry.tags]
        self._set(url, EntryMeta(entry.status, [*entry.tags, *new]))
        return sorted(set(new))

    def remove_tags(self, url: str, tags: list[str]) -> list[str]:
        """Remove tags; returns those that were there."""
        entry = self.entry(url)
        gone = [t for t in tags if t in entry.tags]
        self._set(url, EntryMeta(entry.status, [t for t in entry.tags if t not in gone]))
        return sorted(set(gone))

    def forget(self, url: str) -> None:
        """Drop a deleted URL's status and tags (its changes stay in the log)."""
        self.entries.pop(self._key(url), None)
        self._index = None

    def record(
        self,
        action: str,
        url: str,
        reason: str,
        *,
        author: str = "",
        fields: dict[str, Any] | None = None,
    ) -> Change:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        if not reason.strip():
            raise InputError(f"{url}: every change needs a reason (--reason)")
        change = Change(
            action=action,
            url=url,
            reason=reason.strip(),
            at=utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            author=author.strip(),
            fields=dict(fields or {}),
        )
        self.changes.append(change)
        return change

    def changes_for(self, url: str) -> list[Change]:
        key = strict_key(url)
        return [c for c in self.changes if c.url == url or strict_key(c.url) == key]

    def to_json(self) -> str:
        data = {
            "changes": [c.as_json() for c in self.changes],
            "entries": {
                url: {"status": e.status, "tags": sorted(e.tags)}
                for url, e in sorted(self.entries.items())
            },
            "format": FORMAT_VERSION,
            "list": self.list,
        }
        return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def load_meta(csv_path: str | os.PathLike[str]) -> ListMeta:
    """Read the side file of ``csv_path``; an empty one when it does not exist."""
    path = meta_path(csv_path)
    meta = ListMeta(path=path, list=list_name(csv_path))
    try:
        data_bytes = path.read_bytes()
    except FileNotFoundError:
        return meta
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(data_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"{path}{where}: json: not a valid side file ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: json: expected an object")
    if data.get("format", FORMAT_VERSION) != FORMAT_VERSION:
        raise InputError(f"{path}: format: version {data.get('format')!r} is not supported")
    entries = data.get("entries") or {}
    if not isinstance(entries, dict):
        raise InputError(f"{path}: entries: expected an object of URL -> status and tags")
    for url, raw in entries.items():
        if not isinstance(raw, dict):
            raise InputError(f"{path}: entries[{url!r}]: expected an object")
        tags = raw.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InputError(f"{path}: entries[{url!r}].tags: expected a list of words")
        try:
            status = check_status(str(raw.get("status", "active")))
            tags = [check_tag(t) for t in tags]
        except InputError as exc:
            raise InputError(f"{path}: entries[{url!r}]: {exc}") from None
        meta._set(url, EntryMeta(status, tags))
    changes = data.get("changes") or []
    if not isinstance(changes, list):
        raise InputError(f"{path}: changes: expected a list")
    for i, raw in enumerate(changes):
        try:
            meta.changes.append(
                Change(
                    action=str(raw["action"]),
                    url=str(raw["url"]),
                    reason=str(raw["reason"]),
                    at=str(raw["at"]),
                    author=str(raw.get("author", "")),
                    fields=dict(raw.get("fields") or {}),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: changes[{i}]: missing or bad field {exc}") from None
    meta.sha256 = sha256_bytes(data_bytes)
    return meta


def save_meta(meta: ListMeta) -> None:
    """Write the side file atomically (temporary file + rename)."""
    data = meta.to_json().encode("utf-8")
    atomic_write_bytes(meta.path, data)
    meta.sha256 = sha256_bytes(data)
