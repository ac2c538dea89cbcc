"""What the subcommands share: the app, where it runs, its arguments, and their reading into engine fields.

The engine validates the values themselves; here a malformed ``--arg`` or ``--worker`` becomes
an :class:`~agi_jupyter.core.errors.AgiError` naming the option as it was typed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.errors import AgiError
from .verbosity import verbosity_options

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..core.env import AgiEnv
    from ..core.modes import Mode

    # what add_subparsers returns (typeshed names the class only privately; not subscriptable at runtime)
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

APP_HELP = "app name (flight or flight_project) or its folder"
WORKER_HELP = "a worker host and its slots; repeat"


def app_command(
    commands: Subcommands,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    text: str,
    *,
    where: bool = True,
    json_output: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand on one app: ``APP``, ``--apps-path``, the verbosity options, and optionally
    ``--scheduler``/``--worker`` (``where``) and ``--json`` (``json_output``), so they read alike."""
    parser = commands.add_parser(name, help=text, description=text)
    parser.set_defaults(command=handler)
    verbosity_options(parser, default=argparse.SUPPRESS)
    parser.add_argument("app", metavar="APP", help=APP_HELP)
    parser.add_argument(
        "--apps-path",
        metavar="DIR",
        help="folder of *_project apps (default: AGI_APPS_PATH, else the bundled examples)",
    )
    if where:
        parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler host[:port]")
        parser.add_argument("--worker", action="append", metavar="HOST=SLOTS", help=WORKER_HELP)
    if json_output:
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return parser


def arg_option(parser: argparse.ArgumentParser) -> None:
    """``--arg NAME=VALUE``, repeatable: the app arguments of one call (see :func:`parse_assignments`)."""
    parser.add_argument(
        "--arg",
        action="append",
        metavar="NAME=VALUE",
        help='an app argument for this call; VALUE is JSON when it parses (12, true, ["a"]); repeat',
    )


def parse_assignments(texts: list[str] | None) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; values are JSON when they parse (``12``, ``true``), else strings."""
    values: dict[str, Any] = {}
    for text in texts or []:
        name, equals, raw = text.partition("=")
        if not equals or not name.strip():
            raise AgiError(f"--arg {text!r}: expected NAME=VALUE, e.g. --arg flights=12")
        try:
            values[name.strip()] = json.loads(raw)
        except ValueError:
            values[name.strip()] = raw
    return values


def parse_workers(texts: list[str] | None) -> dict[str, int] | None:
    """``HOST=SLOTS`` pairs as the workers dict; None when none were given (use the settings)."""
    if not texts:
        return None
    from ..core.settings import check_host, check_slots

    workers: dict[str, int] = {}
    for text in texts:
        host, equals, slots = text.rpartition("=")
        if not equals:
            raise AgiError(f"--worker {text!r}: expected HOST=SLOTS, e.g. 127.0.0.1=2")
        number: object = int(slots) if slots.strip().lstrip("-").isdigit() else slots
        try:
            workers[check_host(host)] = check_slots(host, number)  # the settings' own checks and messages
        except ValueError as error:
            raise AgiError(f"--worker {text!r}: {error}") from None
    return workers


def parse_modes(text: str) -> list[Mode]:
    """Comma-separated modes, each anything ``Mode.parse`` accepts."""
    from ..core.modes import Mode

    return [Mode.parse(part.strip()) for part in text.split(",") if part.strip()]


def app_env(options: argparse.Namespace) -> AgiEnv:
    """The app the command names, found in ``--apps-path`` (else the usual places)."""
    from ..core.env import AgiEnv

    return AgiEnv(options.app, apps_path=options.apps_path)


def where(options: argparse.Namespace) -> dict[str, Any]:
    """The scheduler and workers given on the command line (absent -> the app's settings)."""
    given: dict[str, Any] = {"workers": parse_workers(options.worker)}
    if options.scheduler:
        given["scheduler"] = options.scheduler
    return {key: value for key, value in given.items() if value is not None}
