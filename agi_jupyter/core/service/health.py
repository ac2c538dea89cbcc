"""The service health snapshot (``agi.service.health.v1``) and the HEALTH gate.

Every serve action writes the snapshot atomically; the gate evaluates one against the app's
``[cluster.service_health]`` thresholds. The command line maps the gate to exit codes so an
external monitor can act on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import ServiceHealthSettings
from .queue import write_json
from .records import HEALTH_SCHEMA, HealthSnapshot, HeartbeatRecord, QueueCounts, WorkerHealth

logger = logging.getLogger(__name__)

STATUSES = ("running", "idle", "degraded", "error", "stopped")
"""What monitors read: ``running`` a service is started and all its loops are alive (with or
without work); ``degraded`` some loops unhealthy; ``error`` none healthy or the client gone;
``idle`` no service is started; ``stopped`` the answer to STOP. A process that cannot see the
service says ``unknown`` (not a status of the snapshot: it writes none)."""

PASS, OTHER, UNHEALTHY, DEGRADED, IDLE, RESTARTS = 0, 1, 2, 3, 4, 5
"""Gate exit codes: pass; any other failure; unhealthy workers over the limit; error, degraded or
unknown status; idle (or stopped) while idle is not allowed; restart rate over the limit."""


FUTURE_REASONS = {
    "finished": "loop-finished",
    "error": "loop-error",
    "lost": "loop-error",
    "cancelled": "loop-cancelled",
}
"""A loop future in one of these states runs no loop any more; the restart reason it gives."""


@dataclass(frozen=True)
class LoopHealth:
    """One loop's verdict: healthy, or the reason it is not (the reason its restart reports)."""

    healthy: bool
    reason: str = ""


def judge_loop(
    beat: HeartbeatRecord | None,
    now: float,
    timeout: float,
    *,
    future_state: str | None = None,
    started: float | None = None,
) -> LoopHealth:
    """The one place a loop is judged, by its Dask future (when this process can see it) and its
    own heartbeat. A loop ``started`` less than ``timeout`` ago may not have beaten yet."""
    if future_state in FUTURE_REASONS:
        return LoopHealth(False, FUTURE_REASONS[future_state])
    if beat is None:
        young = started is not None and now - started < timeout
        return LoopHealth(True) if young else LoopHealth(False, "missing-heartbeat")
    if beat.state == "stopped" and future_state is None:  # with a future, its end says why (error?)
        return LoopHealth(False, "loop-finished")
    if beat.state == "task-timeout":
        return LoopHealth(False, f"task-timeout({float(beat.time_limit or 0):g}s)")
    age = now - beat.timestamp
    if age > timeout:
        return LoopHealth(False, f"stale-heartbeat({age:.1f}s)")
    return LoopHealth(True)


def worker_row(
    worker: str, healthy: bool, reason: str, future_state: str | None, heartbeat: HeartbeatRecord | None, now: float
) -> WorkerHealth:
    """One row of the health table; ``task``/``task_seconds`` say what the loop works on, and for how long."""
    age = None if heartbeat is None else round(max(0.0, now - heartbeat.timestamp), 1)
    task = None if heartbeat is None else heartbeat.task
    started = None if heartbeat is None else heartbeat.task_started
    return WorkerHealth(
        worker=worker,
        healthy=healthy,
        reason=reason,
        future_state=future_state,
        heartbeat_state=None if heartbeat is None else heartbeat.state,
        heartbeat_age_sec=age,
        task=task,
        task_seconds=None if not task or started is None else round(now - started, 1),
    )


def overall_status(rows: list[WorkerHealth], started: bool) -> str:
    """running / idle / degraded / error from the worker rows (``stopped`` is set by STOP itself)."""
    if not started or not rows:
        return "idle"
    healthy = sum(row.healthy for row in rows)
    if healthy == 0:
        return "error"
    return "degraded" if healthy < len(rows) else "running"


def snapshot(
    *,
    app: str,
    target: str,
    rows: list[WorkerHealth],
    queue: Mapping[str, int],
    started: bool,
    restarted: Mapping[str, str],
    timeout: float,
    queue_dir: Path,
    cleanup: Mapping[str, int],
    client_status: str | None,
    pending: list[str],
) -> HealthSnapshot:
    """The health snapshot, every field of the schema filled."""
    healthy = [row.worker for row in rows if row.healthy]
    unhealthy = [row.worker for row in rows if not row.healthy]
    running = [row.worker for row in rows if row.future_state == "running"]
    return HealthSnapshot(
        schema_name=HEALTH_SCHEMA,
        timestamp=time.time(),
        app=app,
        target=target,
        status=overall_status(rows, started),
        workers_running=running,
        workers_pending=list(pending),
        workers_restarted=sorted(restarted),
        workers_healthy=healthy,
        workers_unhealthy=unhealthy,
        workers_running_count=len(running),
        workers_pending_count=len(pending),
        workers_restarted_count=len(restarted),
        workers_healthy_count=len(healthy),
        workers_unhealthy_count=len(unhealthy),
        queue=QueueCounts(**{name: queue.get(name, 0) for name in ("pending", "running", "done", "failed")}),
        client_status=client_status,
        heartbeat_timeout_sec=timeout,
        queue_dir=str(queue_dir),
        cleanup=dict(cleanup),
        restart_reasons=dict(restarted),
        worker_health=list(rows),
    )


def refresh(
    saved: HealthSnapshot, beats: Mapping[str, HeartbeatRecord], queue: Mapping[str, int], now: float | None = None
) -> HealthSnapshot:
    """Re-judge a saved snapshot by the heartbeats as they are now (for monitors without Dask).

    A loop whose heartbeat went stale, disappeared or says ``stopped`` since the snapshot was
    taken is unhealthy now; counts and status follow.
    """
    now = time.time() if now is None else now
    timeout = float(saved.heartbeat_timeout_sec or 10.0)
    rows = []
    for row in saved.worker_health:
        beat = beats.get(row.worker)
        verdict = judge_loop(beat, now, timeout)  # the future's state is the snapshot's: this process sees no Dask
        healthy, reason = (row.healthy, row.reason) if verdict.healthy else (False, verdict.reason)
        rows.append(worker_row(row.worker, healthy, reason, row.future_state, beat, now))
    recorded = saved.status
    fresh = snapshot(
        app=saved.app,
        target=saved.target,
        rows=rows,
        queue=queue,
        started=recorded not in ("idle", "stopped"),
        restarted=saved.restart_reasons,
        timeout=timeout,
        queue_dir=Path(saved.queue_dir or ""),
        cleanup=saved.cleanup,
        client_status=saved.client_status,
        pending=saved.workers_pending,
    )
    running = [row.worker for row in rows if row.healthy and row.worker in saved.workers_running]
    update: dict[str, object] = {"workers_running": running, "workers_running_count": len(running)}
    if recorded == "stopped":
        update["status"] = "stopped"
    return fresh.model_copy(update=update)


def write_snapshot(written: HealthSnapshot, path: Path) -> dict[str, Any]:
    """Write atomically; returns the snapshot with its ``path`` in its JSON form (what ``serve`` answers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = written.model_copy(update={"path": str(path)})
    write_json(path, written)
    return written.wire()


@dataclass(frozen=True)
class GateResult:
    """The HEALTH gate's verdict: ``code`` 0 passes; ``reason`` says why not, with the figures."""

    code: int
    reason: str
    figures: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.code == PASS


def gate(snapshot: HealthSnapshot | Mapping[str, Any], thresholds: ServiceHealthSettings) -> GateResult:
    """Evaluate a snapshot against ``[cluster.service_health]``.

    The snapshot is the record, or its JSON form as ``serve`` and ``read_health`` return it to a
    notebook or the command line (which may have replaced its status by one it does not know).
    """
    if isinstance(snapshot, HealthSnapshot):
        status: Any = snapshot.status
        unhealthy = snapshot.workers_unhealthy_count
        running = snapshot.workers_running_count
        restarted = snapshot.workers_restarted_count
    else:
        status = snapshot.get("status")
        unhealthy = int(snapshot.get("workers_unhealthy_count", 0))
        running = int(snapshot.get("workers_running_count", 0))
        restarted = int(snapshot.get("workers_restarted_count", 0))
    rate = restarted / running if running else (1.0 if restarted else 0.0)
    figures = {
        "status": status,
        "workers_unhealthy": unhealthy,
        "max_unhealthy": thresholds.max_unhealthy,
        "restart_rate": round(rate, 3),
        "max_restart_rate": thresholds.max_restart_rate,
        "allow_idle": thresholds.allow_idle,
    }
    if status not in STATUSES:
        return GateResult(DEGRADED, f"unknown status {status!r}", figures)
    if unhealthy > thresholds.max_unhealthy:
        return GateResult(
            UNHEALTHY, f"{unhealthy} unhealthy worker(s) > max_unhealthy {thresholds.max_unhealthy}", figures
        )
    if status in ("error", "degraded"):
        return GateResult(DEGRADED, f"service status is {status}", figures)
    if status in ("idle", "stopped") and not thresholds.allow_idle:
        return GateResult(IDLE, f"service is {status} and allow_idle is false", figures)
    if rate > thresholds.max_restart_rate:
        return GateResult(
            RESTARTS,
            f"restart rate {rate:.2f} ({restarted}/{running}) > max_restart_rate {thresholds.max_restart_rate}",
            figures,
        )
    return GateResult(PASS, f"service is {status}", figures)
