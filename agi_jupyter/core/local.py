"""The warm local worker process that runs the local (non-Dask) modes.

Starting a Python process and importing pandas costs about half a second; a notebook runs the
same app again and again, so the engine keeps one worker process per installed app alive and
sends it one JSON job per run (``python -m agi_jupyter.core.runner``, one job per stdin line).
Events come back on a pipe of their own, and stdout and stderr carry only the app's output (see
:mod:`agi_jupyter.core.runner`). A new install (other code, other build) gets a new process,
and the old install's process is stopped once idle: at once if no run uses it, else when its run
ends, so a re-install never kills a busy run. Cancel kills the process group, pools included,
and the next run starts a fresh one.

The process also keeps the pools of the pool modes warm between runs (see
:mod:`agi_jupyter.core.pools`); a new process, like a new install, starts new pools. At exit the
idle processes are asked to end (their input closes), so they shut their pools down first.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .events import DoneEvent, Event, parse_event

if TYPE_CHECKING:
    from .jobs import LocalJob

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_warm: dict[tuple[str, ...], LocalWorker] = {}
_retiring: set[LocalWorker] = set()  # workers of an older install, still busy with a run
OUTPUT_WAIT = 30.0  # seconds to wait for a finished job's last output line (normally instant)
CLOSE_WAIT = 5.0  # seconds an idle worker gets to shut its warm pools down and exit


class LocalWorker:
    """One worker process of an app's worker environment, serving jobs one at a time."""

    def __init__(self, python: Path) -> None:
        events_read, events_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [str(python), "-m", "agi_jupyter.core.runner", "--serve", "--events-fd", str(events_write)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
                pass_fds=(events_write,),
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except BaseException:
            os.close(events_read)
            raise
        finally:
            os.close(events_write)
        self.events = os.fdopen(events_read, "r", encoding="utf-8")
        self.busy = threading.Lock()
        self._output = _OutputReader(self.process)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, job: LocalJob, on_event: Callable[[Event], None], on_line: Callable[[str], None]) -> int:
        """Send ``job``; pass events and output lines on until the job's ``done`` event; its status.

        The job goes as one JSON line (its wire form, with this job's end mark), which the
        runner validates through :class:`agi_jupyter.core.jobs.LocalJob` again on its side.
        Each event line is parsed through :func:`agi_jupyter.core.events.parse_event`: one that
        does not fit is a RunError naming the field.
        """
        assert self.process.stdin is not None
        mark = f"agi-end-of-output-{secrets.token_hex(16)}"
        self._output.follow(on_line, mark)
        try:
            line = json.dumps(job.model_copy(update={"end_mark": mark}).wire())
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
            for line in self.events:
                event = parse_event(line)
                if isinstance(event, DoneEvent):
                    self._output.wait_for_mark(OUTPUT_WAIT)
                    return event.status
                on_event(event)
            self._output.wait_for_end(OUTPUT_WAIT)  # the process died: keep its last words
            return self.process.wait() or -1
        finally:
            self._output.follow(None, "")

    def end_input(self) -> None:
        """Close the process's input: the runner finishes, shuts its warm pools down and exits."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            logger.debug("local worker %s: closing its input failed", self.process.pid, exc_info=True)

    def close(self, timeout: float = CLOSE_WAIT) -> bool:
        """End the process the clean way (:meth:`end_input`); kill its group if it outlives ``timeout``.

        Once the runner has exited, whatever is left of its group (a child the app started,
        multiprocessing's resource tracker) is killed without waiting to see it reaped.
        """
        self.end_input()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning(
                "local worker %s did not exit within %s s of its input's end: killed", self.process.pid, timeout
            )
            return self.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return True

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


class _OutputReader:
    """Reads the worker's stdout and stderr in a thread and hands each line to the current job.

    Between jobs (no job follows the output) lines go to this module's logger.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lock = threading.Lock()
        self.on_line: Callable[[str], None] | None = None
        self.mark = ""
        self.marked = threading.Event()
        self.thread = threading.Thread(target=self._read, name=f"agi-local-output-{process.pid}", daemon=True)
        self.thread.start()

    def follow(self, on_line: Callable[[str], None] | None, mark: str) -> None:
        with self.lock:
            self.on_line, self.mark = on_line, mark
            self.marked.clear()

    def wait_for_mark(self, timeout: float) -> None:
        if not self.marked.wait(timeout):
            logger.warning(
                "local worker %s: its end-of-output mark did not arrive within %s s", self.process.pid, timeout
            )

    def wait_for_end(self, timeout: float) -> None:
        self.thread.join(timeout)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.rstrip("\n")
            with self.lock:
                on_line, mark = self.on_line, self.mark
            if mark and line.endswith(mark):
                line = line[: -len(mark)]  # output without a final newline precedes the mark
                if line:
                    self._deliver(on_line, line)
                self.marked.set()
                continue
            self._deliver(on_line, line)

    def _deliver(self, on_line: Callable[[str], None] | None, line: str) -> None:
        if on_line is None:
            logger.info("local worker %s (between runs): %s", self.process.pid, line)
            return
        try:
            on_line(line)
        except Exception:  # a broken view must not stop the reader (and block the worker)
            logger.debug("output line callback failed", exc_info=True)


def acquire(python: Path, key: tuple[str, ...]) -> tuple[LocalWorker, bool]:
    """A warm idle worker for ``key`` (or a fresh one); the flag says whether it is the shared one.

    The warm workers of an older install of the same app are retired (:func:`_retire`). The
    caller holds ``worker.busy`` until it calls :func:`release`.
    """
    with _lock:
        for old_key in [k for k in _warm if k[0] == key[0] and k != key]:
            _retire(_warm.pop(old_key))
        worker = _warm.get(key)
        if worker is None or not worker.alive:
            worker = _warm[key] = LocalWorker(python)
        if worker.busy.acquire(blocking=False):
            return worker, True
    spare = LocalWorker(python)  # the warm one is busy with another run: use a one-off process
    spare.busy.acquire()
    return spare, False


def _retire(worker: LocalWorker) -> None:
    """Stop an older install's worker now if idle, else when its run releases it.

    Killing it at once used to kill a run still using it (exit -9). Call with ``_lock`` held: no
    new run can take the worker (it left ``_warm``), and :func:`release` checks under the lock.
    """
    if worker.busy.acquire(blocking=False):
        worker.kill()
        return
    logger.info("local worker %s belongs to an older install: it stops when its run ends", worker.process.pid)
    _retiring.add(worker)


def release(worker: LocalWorker, shared: bool) -> None:
    """Give the worker back; a one-off or retired worker is stopped now that it is idle."""
    with _lock:
        worker.busy.release()
        retired = worker in _retiring
        _retiring.discard(worker)
    if retired or not shared:
        worker.kill()


def discard(worker: LocalWorker) -> None:
    """Forget a worker that was killed (cancel) or broke, so the next run starts a fresh one."""
    with _lock:
        _retiring.discard(worker)
        for key in [k for k, v in _warm.items() if v is worker]:
            del _warm[key]


@atexit.register
def close_local_workers() -> int:
    """Stop every warm (and retiring) worker process; returns how many there were.

    An idle worker ends the clean way: its input closes, it shuts its warm pools down (their
    members exit) and exits; one still running a job, or slow to exit, is killed with its group.
    """
    with _lock:
        workers = [*_warm.values(), *_retiring]
        _warm.clear()
        _retiring.clear()
    idle = [worker for worker in workers if worker.busy.acquire(blocking=False)]
    for worker in idle:
        worker.end_input()  # all at once: they shut down in parallel
    for worker in workers:
        if worker in idle:
            worker.close()
        else:
            worker.kill()
    return len(workers)
