"""``-v/--verbose`` and ``--debug``: how loud the ``agi_jupyter`` loggers are on stderr for one command."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

PACKAGE_LOGGER = "agi_jupyter"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def verbosity_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """``-v/--verbose`` and ``--debug``: the level of the ``agi_jupyter`` loggers on stderr.

    Every subcommand accepts them too, with ``default=SUPPRESS`` there so that a subcommand which
    was not given one keeps the level set before it (``agi-jupyter --debug run ...``).
    """
    levels = parser.add_mutually_exclusive_group()
    levels.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const=logging.INFO,
        default=default,
        help="log what the engine does (INFO) on stderr",
    )
    levels.add_argument(
        "--debug",
        dest="log_level",
        action="store_const",
        const=logging.DEBUG,
        default=default,
        help="log everything (DEBUG) on stderr, tracebacks of errors included",
    )


@contextlib.contextmanager
def logging_to_stderr(level: int) -> Iterator[None]:
    """The ``agi_jupyter`` loggers at ``level`` on stderr for one command, then as they were.

    Restoring matters because ``main`` also runs inside other processes (tests, a notebook):
    a second call must not add a second handler, and the host's logging must be left alone.
    The handler writes to the ``sys.stderr`` of this call (a caller's capture included).
    """
    package = logging.getLogger(PACKAGE_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    previous = package.level
    package.setLevel(level)
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(previous)
