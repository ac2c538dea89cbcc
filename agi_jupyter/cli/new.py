"""``agi-jupyter new NAME``: a new app folder from a template, and the three commands that come next."""

from __future__ import annotations

import argparse
import logging
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from .verbosity import verbosity_options

if TYPE_CHECKING:
    from .options import Subcommands

logger = logging.getLogger(__name__)

NEW_TEXT = "create a new app folder from a template (settings, args, manager, worker, test, README)"
NEXT_MODES = {"pandas": "5", "dag": "5", "cpu": "7"}  # what install prepares: pool and dask, and cpu's Cython build


def add_command(commands: Subcommands) -> None:
    """Register ``new NAME`` on the ``agi-jupyter`` subcommands (the templates' help comes from the templates)."""
    from ..core.scaffold import TEMPLATES

    parser = commands.add_parser("new", help=NEW_TEXT, description=NEW_TEXT)
    parser.set_defaults(command=_new)
    verbosity_options(parser, default=argparse.SUPPRESS)
    parser.add_argument("app", metavar="NAME", help="the new app's name (demo or demo_project): lower case, a-z 0-9 _")
    parser.add_argument(
        "--template",
        choices=tuple(TEMPLATES),
        default="pandas",
        help="; ".join(f"{t.name}: {t.description}" for t in TEMPLATES.values()) + " (default: pandas)",
    )
    parser.add_argument("--apps-path", metavar="DIR", help="folder to create it in (default: AGI_APPS_PATH)")


def _new(options: argparse.Namespace) -> int:
    from ..core.env import setting
    from ..core.scaffold import new_app

    folder = new_app(options.app, options.template, options.apps_path)
    target = folder.name.removesuffix("_project")
    configured = setting("AGI_APPS_PATH")
    default_root = Path(configured).expanduser().resolve() if configured else None
    where = "" if default_root == folder.parent else f" --apps-path {shlex.quote(str(folder.parent))}"
    print(
        f"created {folder} from the {options.template} template\n"
        f"next:\n"
        f"  agi-jupyter install {target}{where} --modes {NEXT_MODES[options.template]}\n"
        f"  agi-jupyter distrib {target}{where}\n"
        f"  agi-jupyter run {target}{where}\n"
        f"edit: {folder / 'README.md'} says which file does what"
    )
    return 0
