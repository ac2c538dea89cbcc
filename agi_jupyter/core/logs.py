"""Log lines: to a callback (the widget's log view) and to a log file, as they happen.

Every long action takes an optional ``on_line`` callback; :class:`LogSink` fans each line out
to it and to the action's log file, so the notebook shows progress live and the file keeps the
whole story. :func:`stream_command` runs a subprocess and feeds its output through a sink line
by line.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

LineCallback = Callable[[str], None]


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
                pass

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> LogSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def stream_command(command: Sequence[str], sink: LineCallback, *, cwd: Path | None = None,
                   env: dict[str, str] | None = None, timeout: float | None = None) -> int:
    """Run ``command``, passing each stdout/stderr line to ``sink`` as it comes; return the exit code."""
    sink("$ " + " ".join(str(part) for part in command))
    process = subprocess.Popen([str(part) for part in command], cwd=cwd, env={**os.environ, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
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
