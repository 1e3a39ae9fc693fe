"""What differs between two versions of a list, URL by URL.

Rows are matched by their URL in normal form, so re-ordering a list or fixing the letter case
of a host is not reported as a removal plus an addition. A diff is what ``testlist diff`` and
``testlist sync`` show and what ``testlist export --upstream`` sends back upstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from censorwatch.testlists.csvformat import HEADER, TestlistRow
from censorwatch.testlists.normalise import strict_key


@dataclass
class RowChange:
    old: TestlistRow
    new: TestlistRow
    #: ``{field: (old, new)}`` for each field that differs.
    fields: dict[str, tuple[str, str]]


@dataclass
class ListDiff:
    added: list[TestlistRow] = field(default_factory=list)
    removed: list[TestlistRow] = field(default_factory=list)
    changed: list[RowChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.removed)} removed, {len(self.changed)} changed"

    def lines(self) -> list[str]:
        """``+ url``, ``- url`` and ``~ url`` lines, as a person reads a diff."""
        out = [f"+ {r.url}  {r.category_code}  {r.notes}".rstrip() for r in self.added]
        out += [f"- {r.url}  {r.category_code}" for r in self.removed]
        for c in self.changed:
            what = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in c.fields.items())
            out.append(f"~ {c.new.url}  {what}")
        return out


def diff_lists(old: Iterable[TestlistRow], new: Iterable[TestlistRow]) -> ListDiff:
    """Compare two lists by URL (normal form); the first row of a duplicated URL counts."""
    old_by: dict[str, TestlistRow] = {}
    for row in old:
        old_by.setdefault(strict_key(row.url), row)
    new_by: dict[str, TestlistRow] = {}
    for row in new:
        new_by.setdefault(strict_key(row.url), row)
    diff = ListDiff()
    for key, row in new_by.items():
        before = old_by.get(key)
        if before is None:
            diff.added.append(row)
            continue
        fields = {
            name: (getattr(before, name), getattr(row, name))
            for name in HEADER
            if getattr(before, name) != getattr(row, name)
        }
        if fields:
            diff.changed.append(RowChange(before, row, fields))
    diff.removed = [row for key, row in old_by.items() if key not in new_by]
    return diff
