"""Country test lists in the Citizen Lab CSV format: read, lint, edit, sync and import.

Installed as ``censorwatch.testlists``; the folder also ships the project's own lists
(``lists/``) and the category legend (``legend.csv``).

What the other stages use:

* :func:`read_testlist` ``(path) -> Testlist`` (``.rows``, ``.name``, ``.sha256``) and
  :func:`content_hash` ``([Testlist, ...]) -> str``;
* :func:`resolve_testlist_paths` ``(config) -> list[Path]``: the lists a probe run uses;
* :func:`load_inputs` ``(paths, exclude_categories=(), categories=()) -> (inputs, hash)``: the
  URLs to test (deduplicated, retired entries left out) and the version of the lists to record
  with the run (see :mod:`censorwatch.testlists.inputs`).
"""

from censorwatch.testlists.csvformat import (
    Testlist,
    TestlistRow,
    content_hash,
    format_testlist,
    parse_testlist,
    read_testlist,
    write_testlist,
)
from censorwatch.testlists.inputs import (
    TestInput,
    describe_testlist_paths,
    load_inputs,
    resolve_testlist_paths,
)

__all__ = [
    "TestInput",
    "Testlist",
    "TestlistRow",
    "content_hash",
    "describe_testlist_paths",
    "format_testlist",
    "load_inputs",
    "parse_testlist",
    "read_testlist",
    "resolve_testlist_paths",
    "write_testlist",
]
