"""Heartbeats: each service loop says it is alive, what it is doing, and which incarnation it is.

A loop writes ``heartbeats/<worker>~<incarnation>.json`` (the file is named after the loop's
*claimer* name, see :func:`claimer_name`) at least every third of the heartbeat timeout, from a
background thread so that a long task does not look like a dead loop. Its state is ``running``
(idle, waiting for work), ``processing`` (a task is in hand: ``task`` and ``task_started`` say
which and since when), ``task-timeout`` (the task in hand ran past its time limit and was failed)
or ``stopped``.

One file per incarnation is what makes claims safe to recover: a claim in ``running/`` is held
by the claimer its name carries, and that claimer is alive exactly while its own heartbeat file
is fresh and not ``stopped`` (:func:`claimer_alive`). Another service on the same app, in
another kernel, sees the same files and so never takes a task from a loop that still works on it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .queue import write_json
from .records import HEARTBEAT_SCHEMA, HeartbeatRecord

__all__ = [
    "HEARTBEAT_SCHEMA",
    "Heartbeat",
    "claimer_alive",
    "claimer_name",
    "heartbeat_name",
    "read_beats",
    "read_heartbeats",
    "write_heartbeat",
]

logger = logging.getLogger(__name__)

ALIVE_STATES = ("running", "processing")
SETTLE_SECONDS = 0.01  # a loop's new state is written once it has lasted this long (see Heartbeat)


def heartbeat_name(worker: str) -> str:
    """A Dask worker address as a file name: ``tcp://127.0.0.1:4321`` -> ``127.0.0.1_4321``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", worker.split("://", 1)[-1]).strip("_")


def claimer_name(worker: str, incarnation: str) -> str:
    """Who holds a claim: the loop's worker and incarnation (the part after ``~``)."""
    return f"{heartbeat_name(worker)}~{incarnation}"


def incarnation_of(claimer: str) -> str:
    return claimer.rsplit("~", 1)[-1]


def heartbeat_path(folder: Path, worker: str, incarnation: str) -> Path:
    return folder / f"{claimer_name(worker, incarnation)}.json"


def write_heartbeat(
    folder: Path,
    worker: str,
    state: str,
    incarnation: str,
    slot: int,
    *,
    timeout: float | None = None,
    task: str | None = None,
    task_started: float | None = None,
    time_limit: float | None = None,
) -> None:
    record = HeartbeatRecord(
        worker=worker,
        state=state,
        pid=os.getpid(),
        incarnation=incarnation,
        slot=slot,
        timestamp=time.time(),
        timeout=timeout,
        task=task,
        task_started=task_started,
        time_limit=time_limit,
    )
    write_json(heartbeat_path(folder, worker, incarnation), record)


def read_beats(folder: Path) -> dict[str, HeartbeatRecord]:
    """Every heartbeat by claimer name, checked by :class:`HeartbeatRecord` (a file being replaced or
    a malformed one is skipped: the next beat, or its absence, tells)."""
    beats = {}
    for path in folder.glob("*.json"):
        try:
            beats[path.stem] = HeartbeatRecord.model_validate_json(path.read_bytes())
        except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
            logger.debug("skipping unreadable heartbeat %s", path, exc_info=True)
    return beats


def read_heartbeats(folder: Path) -> dict[str, HeartbeatRecord]:
    """Latest heartbeat per worker address (of all the incarnations that ran there)."""
    latest: dict[str, HeartbeatRecord] = {}
    for beat in read_beats(folder).values():
        known = latest.get(beat.worker)
        if known is None or beat.timestamp > known.timestamp:
            latest[beat.worker] = beat
    return latest


def claimer_alive(claimer: str, beats: dict[str, HeartbeatRecord], timeout: float, now: float | None = None) -> bool:
    """Whether the loop named ``claimer`` still beats: its file is fresh and not stopped.

    A beat carries the timeout its own service judges it by; the longer of that and ``timeout``
    wins, so a service with a short timeout never declares another service's loop dead early.
    """
    beat = beats.get(claimer)
    if beat is None or beat.state not in ALIVE_STATES:
        return False
    now = time.time() if now is None else now
    limit = max(timeout, beat.timeout or 0.0)
    return now - beat.timestamp <= limit


class Heartbeat:
    """Background writer of one loop's heartbeat; ``state`` may change at any time.

    The file is written on entry and exit, at least every ``timeout / 3`` (the lease of the
    loop's claims), and after a change of state once the new state has lasted ``settle``
    seconds. A burst of tiny tasks (each shorter than ``settle``) thus costs no heartbeat write
    per task, while a task that takes longer shows in the file (``processing``, its id and start)
    within ``settle`` of its start. Only what the file says about the task in hand waits: whether
    the loop is alive is judged by the file's age, which the periodic write keeps fresh.

    ``before_write`` runs in the beat thread before each of its writes: the loop passes the
    publication of its held results, so a result never waits for long behind a long next task,
    and a heartbeat showing the next task is only written once the results before it are durable.
    """

    def __init__(
        self,
        folder: Path,
        worker: str,
        incarnation: str,
        slot: int,
        timeout: float,
        on_overdue: Callable[[str, float], None] | None = None,
        settle: float = SETTLE_SECONDS,
        before_write: Callable[[], object] | None = None,
    ) -> None:
        self.folder, self.worker, self.incarnation, self.slot = folder, worker, incarnation, slot
        self.timeout = timeout
        self.on_overdue = on_overdue  # called once, from the beat thread, with the task and its limit
        self.interval = timeout / 3
        self.settle = settle
        self.before_write = before_write  # called by the beat thread before each of its writes
        self.state = "running"
        self.task: str | None = None
        self.task_started: float | None = None
        self.time_limit: float | None = None
        self._guard = threading.RLock()  # the loop and the beat thread: one consistent state, one write at a time
        self._stop = threading.Event()
        self._changed = threading.Event()  # wakes the beat thread for a change it has not scheduled yet
        self._since: float | None = None  # when the current, not yet written, state began (monotonic)
        self._thread = threading.Thread(target=self._beat, name=f"agi-heartbeat-{slot}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.write()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(self.interval + 1)
        with self._guard:
            self.state, self.task = "stopped", None
            self.write()

    def set(self, state: str) -> None:
        """Change the state and write it now."""
        with self._guard:
            self.state = state
            self.write()

    def working(self, task: str, time_limit: float | None) -> None:
        """A task is in hand from now on, for at most ``time_limit`` seconds (written once it lasts ``settle``)."""
        with self._guard:
            self.task, self.task_started, self.time_limit = task, time.time(), time_limit
            self.state = "processing"
            self._note_change()

    def idle(self) -> None:
        """No task in hand any more (written once that lasts ``settle``)."""
        with self._guard:
            self.task = self.task_started = self.time_limit = None
            self.state = "running"
            self._note_change()

    def _note_change(self) -> None:
        first = self._since is None
        self._since = time.monotonic()
        if first:  # the beat thread may be in its long wait: bring its next write forward
            self._changed.set()

    def overdue(self) -> bool:
        """The task in hand ran past its limit."""
        return (
            self.task is not None
            and self.time_limit is not None
            and self.task_started is not None
            and time.time() - self.task_started > self.time_limit
        )

    def write(self) -> None:
        with self._guard:
            self._since = None
            self._write()

    def _write(self) -> None:
        try:
            write_heartbeat(
                self.folder,
                self.worker,
                self.state,
                self.incarnation,
                self.slot,
                timeout=self.timeout,
                task=self.task,
                task_started=self.task_started,
                time_limit=self.time_limit,
            )
        except OSError:  # a full disk must not kill the loop; the missing beat will show in STATUS
            logger.debug("heartbeat of %s not written", self.worker, exc_info=True)

    def _beat(self) -> None:
        written = time.monotonic()
        while not self._stop.is_set():
            with self._guard:
                since = self._since
            now = time.monotonic()
            due = written + self.interval if since is None else min(written + self.interval, since + self.settle)
            if now < due:
                self._changed.wait(due - now)
                self._changed.clear()
                continue  # a change only ever moves the next write later, or forward from the long wait
            self._before_write()
            with self._guard:  # decide on one snapshot: the loop may move to its next task meanwhile
                overdue = self.state == "processing" and self.overdue()
                task, limit = self.task, self.time_limit
                if overdue:
                    self.state = "task-timeout"  # STATUS restarts this loop (and ends the hung code)
                self.write()
            written = time.monotonic()
            if overdue and task is not None and limit is not None:
                self._time_out(task, limit)

    def _before_write(self) -> None:
        if self.before_write is None:
            return
        try:
            self.before_write()
        except Exception:  # noqa: BLE001 - the beat must go on; the loop's own call raises it again
            logger.warning("heartbeat of %s: the call before the write failed", self.worker, exc_info=True)

    def _time_out(self, task: str, limit: float) -> None:
        """Fail the overdue task through ``on_overdue`` (it checks the task is still the one in hand)."""
        if self.on_overdue is None:
            return
        try:
            self.on_overdue(task, limit)
        except Exception:  # noqa: BLE001 - the beat must go on; STATUS still sees task-timeout
            logger.warning("could not fail overdue task %s", task, exc_info=True)
