"""``agi-jupyter``: the engine without a notebook, for CI jobs, scripts and monitors.

Each subcommand calls the same public engine function a notebook cell awaits (``AGI.install``,
``AGI.get_distrib``, ``AGI.run``, ``AGI.serve``, ``AGI.cluster``), with the same request fields, so
a command line and a notebook cannot disagree. One module per command family:

- :mod:`.app`: ``install``, ``distrib``, ``run`` and ``doctor`` of an app;
- :mod:`.new`: ``new``, an app folder from a template;
- :mod:`.service`: ``serve`` and ``health`` (service mode);
- :mod:`.cluster`: ``cluster start|status|stop``, the scheduler and workers the engine starts;

and what they share: :mod:`.options` (the common options and their parsing), :mod:`.verbosity`
(``--verbose``/``--debug`` on stderr), :mod:`.engine` (running a coroutine, closing at the end),
:mod:`.output` and :mod:`.table` (what reaches stdout and stderr).

Engine log lines stream to stderr as they come; stdout carries only the answer (a short human
summary, or exactly one JSON document with ``--json``), so ``agi-jupyter run APP --json | jq`` works.

``--verbose`` (INFO) and ``--debug`` (DEBUG, with tracebacks of product errors) make the
``agi_jupyter`` loggers speak on stderr, given before or after the subcommand; by default only
warnings do. They never change stdout.

Exit codes: 0 success; 1 a product error (``error: <message>`` on stderr, no traceback) or an
unexpected failure (with its traceback); 2 a usage error (argparse's own); 130 interrupted
(Ctrl-C cancels a run's worker processes first). ``health`` exits with its gate code instead
(0 pass, 2 unhealthy, 3 degraded, 4 idle, 5 restarts) and 1 on any other failure, its usage
errors included, so a monitor never reads a typo as "unhealthy".
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

from ..core.errors import AgiError
from .engine import close_engine
from .verbosity import logging_to_stderr, verbosity_options

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit code (argparse usage errors return 2)."""
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) and usage errors (2) end here, not the caller
        code = int(stop.code or 0)
        given = sys.argv[1:] if argv is None else argv
        return 1 if code == 2 and given[:1] == ["health"] else code  # health's 2 means "unhealthy"
    with logging_to_stderr(options.log_level):
        return _execute(options)


def build_parser() -> argparse.ArgumentParser:
    """The ``agi-jupyter`` parser: install, distrib, run, doctor, new, serve, health, cluster."""
    from . import app, cluster, new, service

    parser = argparse.ArgumentParser(
        prog="agi-jupyter", description="Install, distribute, run and serve agi-jupyter apps; check a service's health."
    )
    verbosity_options(parser, default=logging.WARNING)
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")
    app.add_commands(commands)
    new.add_command(commands)
    service.add_commands(commands)
    cluster.add_command(commands)
    return parser


def _execute(options: argparse.Namespace) -> int:
    """Run the parsed subcommand, turning failures into exit codes; always close the engine."""
    logger.debug("agi-jupyter %s with %s", options.name, _given(options))
    try:
        command: Callable[[argparse.Namespace], int] = options.command  # the handler its parser set
        return command(options)
    except AgiError as error:
        logger.debug("%s failed", options.name, exc_info=True)  # where a product error came from, with --debug
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logger.debug("%s interrupted", options.name, exc_info=True)
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a bug: show where, and still close the cluster
        traceback.print_exc()
        return 1
    finally:
        close_engine()


def _given(options: argparse.Namespace) -> dict[str, Any]:
    """The options as given, for a debug line (the handler function is not an option)."""
    return {name: value for name, value in vars(options).items() if name != "command"}
