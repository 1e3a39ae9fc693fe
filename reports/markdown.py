"""The editable Markdown sections (legal context, recommendations), rendered safely.

Working groups write these sections themselves, beside the configuration; the tool never
writes political claims of its own. Raw HTML in them is shown as text, not interpreted, and
links may only point to http(s) or mailto addresses, so a section pasted from elsewhere can
neither run a script nor load anything when the report opens.
"""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup

from censorwatch.errors import InputError

_ALLOWED_SCHEMES = ("http://", "https://", "mailto:", "#")

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable("table")
_md.validateLink = lambda url: url.strip().lower().startswith(_ALLOWED_SCHEMES)  # type: ignore[method-assign]
# Images would be fetched when the report opens: render them as their alt text instead.
_md.disable("image")


def render_markdown(text: str) -> Markup:
    """Markdown -> HTML with raw HTML escaped and only safe link targets kept."""
    return Markup(_md.render(text))


def read_markdown_section(path: str | Path) -> Markup:
    """Read and render a section file; a missing or unreadable file is a clear error."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: report section file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason})") from None
    return render_markdown(text)
