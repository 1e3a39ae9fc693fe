"""censorwatch: an Internet censorship monitoring pipeline.

Test lists -> probes / OONI ingest -> store -> analysis -> reports. This package holds what
every stage shares (configuration, the measurement model, the store and the CLI); the stages
themselves live in the source tree's top-level folders (``probes/``, ``ingest/``, ...) and are
installed as ``censorwatch.probes``, ``censorwatch.ingest`` and so on.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_STAGES = ("probes", "ingest", "analysis", "reports", "testlists")


def _extend_path_for_source_checkout() -> None:
    """Let ``censorwatch.probes`` resolve to ``./probes`` when run from a git checkout.

    An installed copy maps the folders into the package (see pyproject.toml); a checkout on
    ``sys.path`` (``python -m censorwatch`` in the repo) would otherwise see only ``censorwatch/``.
    """
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and all(
        (root / stage / "__init__.py").is_file() for stage in _STAGES
    ):
        root_str = str(root)
        if root_str not in __path__:
            __path__.append(root_str)


_extend_path_for_source_checkout()
