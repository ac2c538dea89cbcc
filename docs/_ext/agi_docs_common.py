"""What the reference generators share: Markdown text turned into nodes, and tables.

Each generator writes MyST Markdown and hands it to the page's own parser, so generated text
gets the same roles, code spans and headings as hand-written text, and a mistake in it is a
build warning (which fails the build) like any other.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def parse_markdown(directive: SphinxDirective, text: str) -> list[nodes.Node]:
    """Parse ``text`` as MyST Markdown in the directive's place.

    Text with headings must start with one: MyST attaches the sections it makes to the page
    itself as it parses, so anything before the first heading would land after them.
    """
    titles = has_heading(text)
    if titles and not text.startswith("#"):
        raise directive.error(f"{directive.name}: generated text with headings must start with one")
    container = nodes.section()
    container.document = directive.state.document
    lines = StringList(text.splitlines(), source=f"<{directive.name} directive>")
    directive.state.nested_parse(lines, directive.content_offset, container, match_titles=titles)
    return list(container.children)


def has_heading(text: str) -> bool:
    """Whether Markdown ``text`` has a heading outside its code fences."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            return True
    return False


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown pipe table; cells are Markdown already (pipes in them are escaped)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def code(text: object) -> str:
    """An inline code span for any text, backticks included."""
    value = str(text)
    fence = "``" if "`" in value else "`"
    return f"{fence} {value} {fence}" if fence == "``" else f"`{value}`"


def import_object(dotted: str) -> Any:
    """``package.module.Name`` (or ``package.module:Name``) -> the object."""
    module, _, name = dotted.replace(":", ".").rpartition(".")
    return getattr(importlib.import_module(module), name)


def described(directive: SphinxDirective, content: Iterable[str]) -> dict[str, str]:
    """``name: meaning`` lines of a directive's content (continuation lines indented)."""
    meanings: dict[str, str] = {}
    current = ""
    for line in content:
        if not line.strip():
            continue
        if line[:1].isspace() and current:
            meanings[current] += " " + line.strip()
            continue
        name, colon, meaning = line.partition(":")
        if not colon:
            raise directive.error(f"{directive.name}: expected 'name: meaning', got {line!r}")
        current = name.strip()
        meanings[current] = meaning.strip()
    return meanings
