"""Log lines: to a callback (the widget's log view) and to a log file, as they happen.

Every long action takes an optional ``on_line`` callback; :class:`LogSink` fans each line out
to it and to the action's log file, so the notebook shows progress live and the file keeps the
whole story. :func:`stream_command` runs a subprocess and feeds its output through a sink line
by line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

LineCallback = Callable[[str], None]

PACKAGE_LOGGER = "agi_jupyter"
VERBOSITY_LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG, 3: logging.DEBUG}
"""The ``agi_jupyter`` logger level for each ``[cluster] verbose`` value (0..3).

3 logs as much as 2; it differs in what the app's workers print (:meth:`BaseWorker.log`).
"""


def apply_verbosity(verbose: int) -> int:
    """Set the ``agi_jupyter`` logger to the level of ``verbose`` (see :data:`VERBOSITY_LEVELS`).

    Only the level: where records go (a notebook handler, the CLI's stderr) is the host's
    choice. Values outside 0..3 are clamped. Returns the level set.
    """
    level = VERBOSITY_LEVELS[min(max(int(verbose), 0), 3)]
    logging.getLogger(PACKAGE_LOGGER).setLevel(level)
    return level


def timestamp() -> str:
    """Local time for file names: ``20261128-011502``."""
    return time.strftime("%Y%m%d-%H%M%S")


def moment() -> str:
    """Local time for records (install, plan, benchmark rows): ``2026-11-28T01:15:02+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class LogSink:
    """Writes lines to a file (line-buffered) and passes them to ``on_line``; thread-safe."""

    def __init__(self, path: Path | None, on_line: LineCallback | None = None) -> None:
        self.path = path
        self.on_line = on_line
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1)

    def __call__(self, line: str) -> None:
        text = line.rstrip("\n")
        with self._lock:
            if self._file is not None:
                self._file.write(text + "\n")
        if self.on_line is not None:
            try:
                self.on_line(text)
            except Exception:  # a broken view must not break the action
                logger.debug("the line callback %r failed on %r", self.on_line, text, exc_info=True)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> LogSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def stream_command(
    command: Sequence[str],
    sink: LineCallback,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
) -> int:
    """Run ``command``, passing each stdout/stderr line to ``sink`` as it comes; return the exit code."""
    sink("$ " + " ".join(str(part) for part in command))
    process = subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    timer = threading.Timer(timeout, process.kill) if timeout else None
    if timer:
        timer.start()
    try:
        for line in process.stdout:
            sink(line.rstrip("\n"))
        return process.wait()
    finally:
        if timer:
            timer.cancel()
