"""Editing a list file and its side file so that a wrong list cannot be saved.

:class:`ListEditor` loads a list (strictly: a file the parser cannot read is not edited) and
its side file, applies one change (add, remove, edit, status, tags), validates the result with
the linter's row rules and the duplicate rules (also across the global list), records the
reason in the side file, and writes both files atomically. Whatever goes wrong, the files on
disk are either all old or all new.

Removing a URL that was ever found blocked retires it instead (status ``retired`` in the side
file, row kept in the CSV): its history stays, and probe runs skip it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from censorwatch.errors import InputError
from censorwatch.testlists.csvformat import (
    HEADER,
    TestlistRow,
    atomic_write_bytes,
    read_testlist,
    write_testlist,
)
from censorwatch.testlists.legend import Legend, default_legend
from censorwatch.testlists.lint import ERROR, GlobalIndex, Linter
from censorwatch.testlists.normalise import (
    is_homepage,
    loose_key,
    normalise_url,
    site_key,
    strict_key,
    upstream_sort_key,
    url_problems,
)
from censorwatch.testlists.sidefile import ListMeta, load_meta, meta_path, save_meta

#: ``url -> evidence`` ("OONI: dns on 2023-05-01") when the URL was ever found blocked.
BlockedLookup = Callable[[str], str | None]


@dataclass(frozen=True)
class EditOutcome:
    """What a change did, in words for the person who asked for it."""

    action: str
    url: str
    message: str
    row: TestlistRow | None = None


class ListEditor:
    """One list file open for editing."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        legend: Legend | None = None,
        global_index: GlobalIndex | None = None,
        author: str = "",
        today: dt.date | None = None,
        blocked_lookup: BlockedLookup | None = None,
    ) -> None:
        self.path = Path(path)
        self.legend = legend or default_legend()
        self.global_index = global_index
        self.author = author
        # date_added is the editor's local date, as a person would write it by hand.
        self.today = today or dt.date.today()
        self.blocked_lookup = blocked_lookup
        self.linter = Linter(self.legend, global_index, self.today)
        if self.path.exists():
            self.rows: list[TestlistRow] = list(read_testlist(self.path).rows)
        else:
            self.rows = []
        self.meta: ListMeta = load_meta(self.path)

    # -- finding -----------------------------------------------------------------------------
    def find(self, url: str) -> TestlistRow | None:
        key = strict_key(url)
        return next((r for r in self.rows if strict_key(r.url) == key), None)

    def require(self, url: str) -> TestlistRow:
        row = self.find(url)
        if row is not None:
            return row
        near = [r.url for r in self.rows if loose_key(r.url) == loose_key(url)]
        hint = f"; did you mean {near[0]}?" if near else ""
        raise InputError(f"{self.path}: {url} is not in the list{hint}")

    # -- changes -----------------------------------------------------------------------------
    def add(
        self,
        url: str,
        category: str,
        *,
        notes: str = "",
        source: str = "",
        date: str | None = None,
        tags: Iterable[str] = (),
        reason: str = "",
        allow_variant: bool = False,
    ) -> EditOutcome:
        """Add a URL (normal form) after refusing duplicates and anything the linter rejects."""
        normal = normalise_url(url)
        self._check_url(normal, url)
        self._refuse_duplicates(normal, allow_variant)
        code = category.strip().upper()
        if code not in self.legend:
            raise InputError(
                f"--category {category!r}: not a Citizen Lab category code "
                f"(one of {', '.join(sorted(self.legend))})"
            )
        if not source.strip():
            raise InputError(
                f"{normal}: say where the URL comes from: --source NAME "
                "(or set testlists.source in the configuration)"
            )
        row = TestlistRow(
            url=normal,
            category_code=code,
            category_description=self.legend[code].name,
            date_added=date or self.today.isoformat(),
            source=source.strip(),
            notes=notes.strip(),
        )
        self._check_row(row)
        self.rows = _insert(self.rows, row)
        tag_list = list(tags)
        if tag_list:
            self.meta.add_tags(normal, tag_list)
        fields = {name: getattr(row, name) for name in HEADER if getattr(row, name)}
        if tag_list:
            fields["tags"] = sorted(set(tag_list))
        self.meta.record(
            "added", normal, reason or "added to the list", author=self.author, fields=fields
        )
        self._save()
        said = "" if normal == url else f" (normal form of {url.strip()!r})"
        return EditOutcome("added", normal, f"added {normal} as {code}{said}", row)

    def remove(self, url: str, reason: str, *, retire: bool = False) -> EditOutcome:
        """Delete a URL, or retire it when it was ever found blocked (or when asked to)."""
        row = self.require(url)
        self._need_reason(reason)
        evidence = self._blocked_evidence(row.url)
        if evidence or retire:
            if self.meta.status(row.url) == "retired":
                raise InputError(f"{self.path}: {row.url} is already retired")
            old = self.meta.set_status(row.url, "retired")
            why = evidence or "asked to retire it"
            self.meta.record(
                "retired",
                row.url,
                reason,
                author=self.author,
                fields={"status": [old, "retired"], "evidence": why},
            )
            self._save()
            return EditOutcome(
                "retired",
                row.url,
                f"retired {row.url} instead of deleting it ({why}); it stays in the CSV "
                "with its history and probe runs skip it",
                row,
            )
        self.rows = [r for r in self.rows if r is not row]
        self.meta.forget(row.url)
        fields = {name: getattr(row, name) for name in HEADER if getattr(row, name)}
        self.meta.record("removed", row.url, reason, author=self.author, fields=fields)
        self._save()
        return EditOutcome("removed", row.url, f"removed {row.url}", row)

    def edit(
        self,
        url: str,
        reason: str,
        *,
        category: str | None = None,
        notes: str | None = None,
        source: str | None = None,
        date: str | None = None,
    ) -> EditOutcome:
        row = self.require(url)
        self._need_reason(reason)
        values = {name: getattr(row, name) for name in HEADER}
        if category is not None:
            code = category.strip().upper()
            if code not in self.legend:
                raise InputError(f"--category {category!r}: not a Citizen Lab category code")
            values["category_code"] = code
            values["category_description"] = self.legend[code].name
        if notes is not None:
            values["notes"] = notes.strip()
        if source is not None:
            values["source"] = source.strip()
        if date is not None:
            values["date_added"] = date
        new = TestlistRow(**values, line=row.line)
        changes = {
            name: [getattr(row, name), getattr(new, name)]
            for name in HEADER
            if getattr(row, name) != getattr(new, name)
        }
        if not changes:
            raise InputError(f"{row.url}: nothing to change (give --category, --notes, ...)")
        self._check_row(new)
        self.rows = [new if r is row else r for r in self.rows]
        self.meta.record("changed", row.url, reason, author=self.author, fields=changes)
        self._save()
        what = ", ".join(f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in changes.items())
        return EditOutcome("changed", row.url, f"changed {row.url}: {what}", new)

    def set_status(self, url: str, status: str, reason: str) -> EditOutcome:
        row = self.require(url)
        self._need_reason(reason)
        old = self.meta.status(row.url)
        if old == status:
            raise InputError(f"{row.url} is already {status}")
        self.meta.set_status(row.url, status)
        action = "retired" if status == "retired" else "status"
        self.meta.record(
            action, row.url, reason, author=self.author, fields={"status": [old, status]}
        )
        self._save()
        return EditOutcome(action, row.url, f"{row.url}: status {old} -> {status}", row)

    def tag(self, url: str, tags: list[str], reason: str, *, remove: bool = False) -> EditOutcome:
        row = self.require(url)
        self._need_reason(reason)
        if remove:
            changed = self.meta.remove_tags(row.url, tags)
            action, verb = "untagged", "removed tags"
        else:
            changed = self.meta.add_tags(row.url, tags)
            action, verb = "tagged", "added tags"
        if not changed:
            raise InputError(f"{row.url}: nothing to change (tags now: {self.meta.tags(row.url)})")
        self.meta.record(action, row.url, reason, author=self.author, fields={"tags": changed})
        self._save()
        return EditOutcome(action, row.url, f"{row.url}: {verb} {', '.join(changed)}", row)

    # -- checks ------------------------------------------------------------------------------
    def _need_reason(self, reason: str) -> None:
        if not reason or not reason.strip():
            raise InputError("every change needs a reason: --reason TEXT")

    def _check_url(self, normal: str, typed: str) -> None:
        for rule, message in url_problems(normal):
            if rule != "url-fragment":
                raise InputError(f"{typed}: {rule}: {message}")

    def _refuse_duplicates(self, normal: str, allow_variant: bool) -> None:
        same = self.find(normal)
        if same is not None:
            status = self.meta.status(same.url)
            extra = (
                f"; it is {status}: `censorwatch testlist status {same.url} active "
                "--reason ...` brings it back"
                if status == "retired"
                else ""
            )
            raise InputError(
                f"{normal} is already in {self.path.name} (line {same.line}, added "
                f"{same.date_added} by {same.source or 'an unknown source'} as "
                f"{same.category_code}){extra}"
            )
        g = self.global_index
        if g is not None and self.path.stem.lower() != "global":
            line = g.strict.get(strict_key(normal))
            if line is not None:
                raise InputError(
                    f"{normal} is already in the global list ({Path(g.path).name}:{line}), "
                    "which every probe run tests too: a country list must not repeat it"
                )
        if allow_variant:
            return
        near = next((r for r in self.rows if loose_key(r.url) == loose_key(normal)), None)
        if near is not None:
            raise InputError(
                f"{normal} is {near.url} (line {near.line}) written with another scheme, "
                "letter case or trailing slash: both test the same page (use "
                "--allow-variant if you really need both)"
            )
        if g is not None and self.path.stem.lower() != "global":
            hit = g.loose.get(loose_key(normal))
            if hit is None and is_homepage(normal):
                hit = g.homepages.get(site_key(normal))
            if hit is not None:
                raise InputError(
                    f"the global list already tests this site as {hit[0]} "
                    f"({Path(g.path).name}:{hit[1]}) (use --allow-variant to add it anyway)"
                )

    def _check_row(self, row: TestlistRow) -> None:
        problems = [
            i
            for i in self.linter.check_row(row, str(self.path))
            if i.severity == ERROR or i.rule in {"date-future", "blank-notes"}
        ]
        if problems:
            first = problems[0]
            raise InputError(f"{row.url}: {first.rule}: {first.message} (nothing was written)")

    def _blocked_evidence(self, url: str) -> str | None:
        status = self.meta.status(url)
        if status == "historically-blocked":
            return "its status is historically-blocked"
        tags = [t for t in self.meta.tags(url) if "blocked" in t]
        if tags:
            return f"tagged {', '.join(tags)}"
        if self.blocked_lookup is not None:
            return self.blocked_lookup(url)
        return None

    # -- writing -----------------------------------------------------------------------------
    def _save(self) -> None:
        """Side file first, then the CSV; if the CSV cannot be written, restore the side file."""
        side = meta_path(self.path)
        old_side = side.read_bytes() if side.exists() else None
        save_meta(self.meta)
        try:
            write_testlist(self.path, self.rows)
        except BaseException:
            if old_side is None:
                side.unlink(missing_ok=True)
            else:
                atomic_write_bytes(side, old_side)
            raise
        # Line numbers of the rows now on disk, for the messages of the next change.
        self.rows = [replace(r, line=i + 2) for i, r in enumerate(self.rows)]


def _insert(rows: list[TestlistRow], row: TestlistRow) -> list[TestlistRow]:
    """Keep a sorted list sorted (upstream's order); otherwise append, as upstream PRs do."""
    keys = [upstream_sort_key(r.url) for r in rows]
    if keys == sorted(keys):
        new_key = upstream_sort_key(row.url)
        index = next((i for i, k in enumerate(keys) if k > new_key), len(rows))
        return [*rows[:index], row, *rows[index:]]
    return [*rows, row]
