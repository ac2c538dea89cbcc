"""``{agi-cli}``: the ``agi-jupyter`` command line, generated from its argparse parser.

Every subcommand the parser has gets a section with its description, usage line and a table of
its arguments; a subcommand added to :func:`agi_jupyter.cli.build_parser` appears here by itself.
"""

from __future__ import annotations

import argparse
import logging
import os

from agi_docs_common import code, import_object, parse_markdown, table
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

PARSER = "agi_jupyter.cli.build_parser"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Name -> parser of every subcommand, in the order they were added."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub not in found.values():  # an alias names the same parser again
                    found[name] = sub
    return found


def argument_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str]]:
    """(argument, meaning, default or choices) for each argument but --help and subcommands."""
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        rows.append((_name(action), formatter._expand_help(action) if action.help else "", _values(action)))
    return rows


def _name(action: argparse.Action) -> str:
    metavar = action.metavar if isinstance(action.metavar, str) else None
    if not action.option_strings:
        return code(metavar or action.dest.upper())
    takes_value = action.nargs != 0
    suffix = f" {metavar or action.dest.upper()}" if takes_value else ""
    return ", ".join(code(option + suffix) for option in action.option_strings)


def _values(action: argparse.Action) -> str:
    parts = []
    if action.choices:
        parts.append("one of " + ", ".join(code(choice) for choice in action.choices))
    if action.nargs != 0 and action.default not in (None, argparse.SUPPRESS):
        parts.append(f"default {code(action.default)}")
    if isinstance(action, argparse._AppendAction):
        parts.append("repeatable")
    return "; ".join(parts)


def usage(parser: argparse.ArgumentParser) -> str:
    return parser.format_usage().removeprefix("usage: ").strip()


def render(parser: argparse.ArgumentParser) -> str:
    """The whole page body: the program's options, then one section per subcommand."""
    parts = [
        f"## `{parser.prog}`\n",
        f"{parser.description} The options below are accepted by every subcommand too.\n",
        f"```text\n{usage(parser)}\n```\n",
        table(("option", "meaning", "values"), argument_rows(parser)),
    ]
    for name, sub in subcommands(parser).items():
        parts += [
            f"## `{parser.prog} {name}`\n",
            f"{sub.description or ''}\n",
            f"```text\n{usage(sub)}\n```\n",
            table(("argument", "meaning", "values"), argument_rows(sub)),
        ]
    return "\n".join(parts)


class CliDirective(SphinxDirective):
    """Renders the parser named by the optional argument (default: the ``agi-jupyter`` parser)."""

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        build = import_object(self.arguments[0] if self.arguments else PARSER)
        previous = os.environ.get("COLUMNS")
        os.environ["COLUMNS"] = "100"  # usage lines wrap the same on every terminal
        try:
            parser = build()
        finally:
            if previous is None:
                os.environ.pop("COLUMNS", None)
            else:
                os.environ["COLUMNS"] = previous
        return parse_markdown(self, render(parser))


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("agi-cli", CliDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
