"""What a command prints besides its tables: engine lines and progress on stderr, JSON on stdout.

stdout carries only the answer, so that ``agi-jupyter run APP --json | jq`` works; everything
the engine says while working goes to stderr, flushed line by line so a CI log shows it live.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any


def say(line: str) -> None:
    """One engine line on stderr, at once (the ``on_line`` callback of every engine call)."""
    print(line, file=sys.stderr, flush=True)


def print_json(data: Any) -> int:
    """``data`` as one indented JSON document on stdout; returns exit code 0 for the caller to return."""
    print(json.dumps(data, indent=2, default=str))
    return 0


def progress_printer() -> Callable[[int, int], None]:
    """``progress N/M`` on stderr, at most about every tenth of the chunks (and at the end)."""
    shown = {"tenth": -1}

    def report(done: int, total: int) -> None:
        if done == 0:  # a new run starts (a benchmark runs several)
            shown["tenth"] = -1
        tenth = 10 * done // total if total else 10
        if tenth > shown["tenth"]:
            shown["tenth"] = tenth
            print(f"progress {done}/{total}", file=sys.stderr, flush=True)

    return report
