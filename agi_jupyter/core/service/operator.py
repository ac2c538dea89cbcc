"""The operator's view of a service: what needs a look, computed from the files the service keeps.

The health snapshot says whether each loop is healthy; an operator also asks which loops went
quiet (late heartbeats) or never spoke (missing ones), how long the oldest task has waited, how
many tasks the loops finish per minute and what was restarted, and why. :func:`operator_summary`
answers from the snapshot and the queue folders alone, so a monitor without Dask (the command
line, another kernel) gets the same figures as the Service tab. :func:`write_operator_snapshot`
keeps the summary and the snapshot together as ``operator.json`` beside ``health.json``
(schema ``agi.service.operator.v1``), written atomically.

Every file is read through its typed record (:mod:`.records`); a file that is being replaced or
is malformed is skipped, as the health checks skip it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, StrictStr

from ..env import AgiEnv
from ..records import FileRecord, write_record
from .heartbeat import read_heartbeats
from .queue import TASK_ID, TaskQueue
from .records import HealthSnapshot, HeartbeatRecord, ResultRecord, TaskRecord, read_record

__all__ = [
    "OPERATOR_SCHEMA",
    "LateHeartbeat",
    "OperatorSnapshot",
    "OperatorSummary",
    "operator_path",
    "operator_summary",
    "summarize",
    "write_operator_snapshot",
]

logger = logging.getLogger(__name__)

OPERATOR_SCHEMA = "agi.service.operator.v1"
WINDOW_MINUTES = 10.0
"""Tasks per minute are counted over this many minutes (the results finished in that window)."""
DEFAULT_TIMEOUT = 10.0  # a snapshot that names no heartbeat timeout: the service's own default


class LateHeartbeat(BaseModel):
    """A loop whose last heartbeat is older than its timeout, and not a ``stopped`` one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    worker: StrictStr
    age_sec: NonNegativeFloat
    state: StrictStr


class OperatorSummary(BaseModel):
    """What an operator looks at first, for one app's service at one moment.

    Parameters
    ----------
    late_heartbeats
        Loops whose latest heartbeat is older than the heartbeat timeout (the longer of the
        service's and the one the beat carries) without saying ``stopped``: hung, or killed
        without a goodbye.
    missing_heartbeats
        Loops the health snapshot lists that have no heartbeat file at all.
    oldest_pending_task, oldest_pending_age_sec
        The task waiting longest in ``pending/`` and for how long (since it was submitted).
    done_in_window, failed_in_window, tasks_per_minute
        Results finished in the last ``window_minutes`` (by the result's ``finished`` time, else
        its file's modification time), and the done ones per minute.
    restart_count, restart_reasons
        The loops the last service action restarted, with the reason of each.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    app: StrictStr
    target: StrictStr
    timestamp: float
    status: StrictStr
    heartbeat_timeout_sec: float
    late_heartbeat_count: NonNegativeInt
    late_heartbeats: list[LateHeartbeat]
    missing_heartbeat_count: NonNegativeInt
    missing_heartbeats: list[StrictStr]
    pending: NonNegativeInt
    running: NonNegativeInt
    oldest_pending_task: StrictStr | None = None
    oldest_pending_age_sec: NonNegativeFloat | None = None
    window_minutes: float
    done_in_window: NonNegativeInt
    failed_in_window: NonNegativeInt
    tasks_per_minute: NonNegativeFloat
    restart_count: NonNegativeInt
    restart_reasons: dict[StrictStr, StrictStr] = Field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary as short sentences (the Service tab and the command line print these)."""
        late = ", ".join(f"{beat.worker} ({beat.age_sec:.0f} s, {beat.state})" for beat in self.late_heartbeats)
        oldest = (
            f"{self.oldest_pending_task} waiting {_duration(self.oldest_pending_age_sec)}"
            if self.oldest_pending_task is not None and self.oldest_pending_age_sec is not None
            else "none"
        )
        restarts = ", ".join(f"{worker} ({reason})" for worker, reason in self.restart_reasons.items())
        return [
            f"late heartbeats: {self.late_heartbeat_count}" + (f" ({late})" if late else ""),
            f"missing heartbeats: {self.missing_heartbeat_count}"
            + (f" ({', '.join(self.missing_heartbeats)})" if self.missing_heartbeats else ""),
            f"pending tasks: {self.pending}; oldest: {oldest}",
            f"tasks per minute: {self.tasks_per_minute:.2f} ({self.done_in_window} done, "
            f"{self.failed_in_window} failed in the last {self.window_minutes:g} min)",
            f"restarts: {self.restart_count}" + (f" ({restarts})" if restarts else ""),
        ]


class OperatorSnapshot(FileRecord):
    """``service/<target>/operator.json``: the operator summary and the health snapshot it was made from."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_name: StrictStr = Field(OPERATOR_SCHEMA, alias="schema")
    summary: OperatorSummary
    health: HealthSnapshot
    path: StrictStr | None = None


# ----- computing the summary ---------------------------------------------------------------------
def operator_summary(
    env: AgiEnv,
    health: HealthSnapshot | Mapping[str, Any] | None = None,
    *,
    window_minutes: float = WINDOW_MINUTES,
    now: float | None = None,
) -> OperatorSummary:
    """The operator summary of ``env``'s service, from its queue folders and a health snapshot.

    ``health`` is the snapshot a service action returned (record or JSON form); ``None`` reads the
    recorded one, re-judged by the heartbeats (what ``read_health`` answers). Needs no Dask.
    """
    snapshot = _snapshot_of(env, health)
    return summarize(_queue_root(env, snapshot), snapshot, window_minutes=window_minutes, now=now)


def summarize(
    queue_root: Path, health: HealthSnapshot, *, window_minutes: float = WINDOW_MINUTES, now: float | None = None
) -> OperatorSummary:
    """The summary of the queue under ``queue_root`` (``pending/``, ``done/``, ``heartbeats/``...)."""
    if window_minutes <= 0:
        raise ValueError(f"window_minutes must be positive, not {window_minutes!r}")
    now = time.time() if now is None else now
    queue = TaskQueue(queue_root)
    timeout = float(health.heartbeat_timeout_sec or DEFAULT_TIMEOUT)
    late, missing = _heartbeats(read_heartbeats(queue.folder("heartbeats")), health, timeout, now)
    oldest = _oldest_pending(queue.folder("pending"), now)
    cutoff = now - window_minutes * 60
    done = _finished_since(queue.folder("done"), cutoff)
    failed = _finished_since(queue.folder("failed"), cutoff)
    counts = queue.counts()
    return OperatorSummary(
        app=health.app,
        target=health.target,
        timestamp=now,
        status=health.status,
        heartbeat_timeout_sec=timeout,
        late_heartbeat_count=len(late),
        late_heartbeats=late,
        missing_heartbeat_count=len(missing),
        missing_heartbeats=missing,
        pending=counts["pending"],
        running=counts["running"],
        oldest_pending_task=oldest[0] if oldest else None,
        oldest_pending_age_sec=round(oldest[1], 1) if oldest else None,
        window_minutes=window_minutes,
        done_in_window=done,
        failed_in_window=failed,
        tasks_per_minute=done / window_minutes,
        restart_count=health.workers_restarted_count,
        restart_reasons=dict(health.restart_reasons),
    )


def _snapshot_of(env: AgiEnv, health: HealthSnapshot | Mapping[str, Any] | None) -> HealthSnapshot:
    if isinstance(health, HealthSnapshot):
        return health
    if health is None:
        from .serve import recorded_health

        return recorded_health(env)
    return HealthSnapshot.model_validate(dict(health), strict=False)


def _heartbeats(
    beats: Mapping[str, HeartbeatRecord], health: HealthSnapshot, timeout: float, now: float
) -> tuple[list[LateHeartbeat], list[str]]:
    """Late and missing heartbeats of the snapshot's loops; without loops, of every beat on disk.

    A snapshot that lists loops is the truth about which loops should beat: a heartbeat left by a
    loop restarted elsewhere is history, not a late loop. A snapshot without loops (idle, stopped,
    or taken by a process that sees no service) leaves the beats on disk as the only witnesses.
    """
    expected = [row.worker for row in health.worker_health]
    workers = expected or sorted(beats)
    late: list[LateHeartbeat] = []
    missing: list[str] = []
    for worker in workers:
        beat = beats.get(worker)
        if beat is None:
            missing.append(worker)
            continue
        age = max(0.0, now - beat.timestamp)
        if beat.state != "stopped" and age > max(timeout, beat.timeout or 0.0):
            late.append(LateHeartbeat(worker=worker, age_sec=round(age, 1), state=beat.state))
    return late, missing


def _oldest_pending(folder: Path, now: float) -> tuple[str, float] | None:
    """The pending task waiting longest, and for how many seconds.

    Task ids sort by submission time (:func:`~.queue.new_task_id`) and a recovered task keeps its
    id, so the first readable task in name order is the oldest; its ``submitted`` time says since
    when (the time in its id when the record has none).
    """
    try:
        names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
    except FileNotFoundError:
        return None
    for name in names:
        if not name.endswith(".json") or not TASK_ID.fullmatch(name.removesuffix(".json")):
            continue  # not a task: the next claim moves it to failed/
        try:
            task = read_record(TaskRecord, folder / name)
        except (OSError, ValueError):
            logger.debug("skipping pending/%s: claimed meanwhile, or not a task", name, exc_info=True)
            continue
        submitted = task.submitted if task.submitted is not None else int(task.id[:20]) / 1e9
        return task.id, max(0.0, now - submitted)
    return None


def _finished_since(folder: Path, cutoff: float) -> int:
    """Results in ``folder`` finished at or after ``cutoff``.

    A result is written after its task finished, so a file last modified before the cutoff is not
    read at all; the others are read for their ``finished`` time (a record without one counts by
    its file's time).
    """
    count = 0
    try:
        entries = [entry for entry in os.scandir(folder) if entry.name.endswith(".json") and entry.name[:1] != "."]
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            modified = entry.stat(follow_symlinks=False).st_mtime
            if modified < cutoff:
                continue
            result = read_record(ResultRecord, Path(entry.path))
        except (OSError, ValueError):
            logger.debug("skipping unreadable result %s", entry.path, exc_info=True)
            continue
        finished = (result.model_extra or {}).get("finished")
        when = float(finished) if isinstance(finished, (int, float)) else modified
        count += when >= cutoff
    return count


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ----- the snapshot file -----------------------------------------------------------------------------
def operator_path(health_path: Path | str) -> Path:
    """Where the operator snapshot goes: ``operator.json`` in the folder of ``health.json``."""
    return Path(health_path).with_name("operator.json")


def write_operator_snapshot(
    env: AgiEnv,
    health: HealthSnapshot | Mapping[str, Any] | None = None,
    summary: OperatorSummary | None = None,
    *,
    window_minutes: float = WINDOW_MINUTES,
) -> OperatorSnapshot:
    """Write the operator snapshot (summary + health snapshot) beside ``health.json``, atomically.

    ``health`` as for :func:`operator_summary`; ``summary`` one already computed from it (else it
    is computed now). Returns the record written, with its ``path``.
    """
    snapshot = _snapshot_of(env, health)
    summary = summary or summarize(_queue_root(env, snapshot), snapshot, window_minutes=window_minutes)
    path = operator_path(snapshot.path or env.service_dir / "health.json")
    record = OperatorSnapshot(summary=summary, health=snapshot, path=str(path))
    write_record(path, record, indent=2)
    return record


def _queue_root(env: AgiEnv, snapshot: HealthSnapshot) -> Path:
    from .lifecycle import queue_dir

    return Path(snapshot.queue_dir) if snapshot.queue_dir else queue_dir(env)
