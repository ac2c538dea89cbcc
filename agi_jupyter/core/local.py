"""The warm local worker process that runs the local (non-Dask) modes.

Starting a Python process and importing pandas costs about half a second; a notebook runs the
same app again and again, so the engine keeps one worker process per installed app alive and
sends it one JSON job per run (``python -m agi_jupyter.core.runner``, one job per stdin line,
events back on stdout). A new install (other code, other build) gets a new process; cancel
kills the process group, pools included, and the next run starts a fresh one.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .runner import EVENT_PREFIX

_lock = threading.Lock()
_warm: dict[tuple[str, ...], LocalWorker] = {}


class LocalWorker:
    """One worker process of an app's worker environment, serving jobs one at a time."""

    def __init__(self, python: Path) -> None:
        self.process = subprocess.Popen(
            [str(python), "-m", "agi_jupyter.core.runner", "--serve"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.busy = threading.Lock()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, job: dict[str, Any], on_event: Callable[[dict[str, Any]], None],
            on_line: Callable[[str], None]) -> int:
        """Send ``job``; pass events and log lines on until the job's ``done`` event; its status."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if not line.startswith(EVENT_PREFIX):
                on_line(line.rstrip("\n"))
                continue
            event = json.loads(line[len(EVENT_PREFIX):])
            if event["event"] == "done":
                return int(event["status"])
            on_event(event)
        return self.process.wait() or -1

    def kill(self) -> bool:
        """Kill the process and its pool children; True once the whole group is gone."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return True
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            return False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False


def acquire(python: Path, key: tuple[str, ...]) -> tuple[LocalWorker, bool]:
    """A warm idle worker for ``key`` (or a fresh one); the flag says whether it is the shared one.

    The caller holds ``worker.busy`` until it calls :func:`release`.
    """
    with _lock:
        for old_key in [k for k in _warm if k[0] == key[0] and k != key]:
            _warm.pop(old_key).kill()  # an older install of the same app
        worker = _warm.get(key)
        if worker is None or not worker.alive:
            worker = _warm[key] = LocalWorker(python)
        if worker.busy.acquire(blocking=False):
            return worker, True
    spare = LocalWorker(python)  # the warm one is busy with another run: use a one-off process
    spare.busy.acquire()
    return spare, False


def release(worker: LocalWorker, shared: bool) -> None:
    worker.busy.release()
    if not shared:
        worker.kill()


def discard(worker: LocalWorker) -> None:
    """Forget a worker that was killed (cancel) or broke, so the next run starts a fresh one."""
    with _lock:
        for key in [k for k, v in _warm.items() if v is worker]:
            del _warm[key]


@atexit.register
def close_local_workers() -> int:
    """Stop every warm worker process; returns how many there were."""
    with _lock:
        workers = list(_warm.values())
        _warm.clear()
    for worker in workers:
        worker.kill()
    return len(workers)
