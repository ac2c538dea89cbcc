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
    """Parse ``text`` as MyST Markdown in the directive's place (headings allowed).

    The text before the first heading is parsed on its own: a parse that makes sections keeps
    only them.
    """
    intro, headed = split_at_first_heading(text)
    found: list[nodes.Node] = []
    for part, titles in ((intro, False), (headed, True)):
        if not part.strip():
            continue
        container = nodes.section()
        container.document = directive.state.document
        lines = StringList(part.splitlines(), source=f"<{directive.name} directive>")
        directive.state.nested_parse(lines, directive.content_offset, container, match_titles=titles)
        found += container.children
    return found


def split_at_first_heading(text: str) -> tuple[str, str]:
    """(text before the first Markdown heading outside code fences, the rest)."""
    lines = text.splitlines(keepends=True)
    fenced = False
    for number, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            return "".join(lines[:number]), "".join(lines[number:])
    return text, ""


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
