"""The service health snapshot (``agi.service.health.v1``) and the HEALTH gate.

Every serve action writes the snapshot atomically; the gate evaluates one against the app's
``[cluster.service_health]`` thresholds. The command line maps the gate to exit codes so an
external monitor can act on it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import ServiceHealthSettings
from .queue import write_json
from .records import HEALTH_SCHEMA, HealthSnapshot

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
    beat: dict[str, Any] | None,
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
    if beat.get("state") == "stopped" and future_state is None:  # with a future, its end says why (error?)
        return LoopHealth(False, "loop-finished")
    if beat.get("state") == "task-timeout":
        return LoopHealth(False, f"task-timeout({float(beat.get('time_limit') or 0):g}s)")
    age = now - float(beat["timestamp"])
    if age > timeout:
        return LoopHealth(False, f"stale-heartbeat({age:.1f}s)")
    return LoopHealth(True)


def worker_row(
    worker: str, healthy: bool, reason: str, future_state: str, heartbeat: dict[str, Any] | None, now: float
) -> dict[str, Any]:
    """One row of the health table; ``task``/``task_seconds`` say what the loop works on, and for how long."""
    age = None if heartbeat is None else round(max(0.0, now - float(heartbeat["timestamp"])), 1)
    task = None if heartbeat is None else heartbeat.get("task")
    started = None if heartbeat is None else heartbeat.get("task_started")
    return {
        "worker": worker,
        "healthy": healthy,
        "reason": reason,
        "future_state": future_state,
        "heartbeat_state": None if heartbeat is None else heartbeat.get("state"),
        "heartbeat_age_sec": age,
        "task": task,
        "task_seconds": None if not task or started is None else round(now - float(started), 1),
    }


def overall_status(rows: list[dict[str, Any]], started: bool) -> str:
    """running / idle / degraded / error from the worker rows (``stopped`` is set by STOP itself)."""
    if not started or not rows:
        return "idle"
    healthy = sum(row["healthy"] for row in rows)
    if healthy == 0:
        return "error"
    return "degraded" if healthy < len(rows) else "running"


def snapshot(
    *,
    app: str,
    target: str,
    rows: list[dict[str, Any]],
    queue: dict[str, int],
    started: bool,
    restarted: dict[str, str],
    timeout: float,
    queue_dir: Path,
    cleanup: dict[str, int],
    client_status: str | None,
    pending: list[str],
) -> dict[str, Any]:
    """The health payload with every field of the schema."""
    healthy = [row["worker"] for row in rows if row["healthy"]]
    unhealthy = [row["worker"] for row in rows if not row["healthy"]]
    running = [row["worker"] for row in rows if row["future_state"] == "running"]
    payload: dict[str, Any] = {
        "schema": HEALTH_SCHEMA,
        "timestamp": time.time(),
        "app": app,
        "target": target,
        "status": overall_status(rows, started),
        "workers_running": running,
        "workers_pending": pending,
        "workers_restarted": sorted(restarted),
        "workers_healthy": healthy,
        "workers_unhealthy": unhealthy,
        "queue": {name: queue.get(name, 0) for name in ("pending", "running", "done", "failed")},
        "client_status": client_status,
        "heartbeat_timeout_sec": timeout,
        "queue_dir": str(queue_dir),
        "cleanup": cleanup,
        "restart_reasons": dict(restarted),
        "worker_health": rows,
    }
    for name in ("running", "pending", "restarted", "healthy", "unhealthy"):
        payload[f"workers_{name}_count"] = len(payload[f"workers_{name}"])
    return HealthSnapshot.model_validate(payload).wire()  # every field of the schema, of its type


def refresh(
    payload: dict[str, Any], beats: dict[str, dict[str, Any]], queue: dict[str, int], now: float | None = None
) -> dict[str, Any]:
    """Re-judge a saved snapshot by the heartbeats as they are now (for monitors without Dask).

    A loop whose heartbeat went stale, disappeared or says ``stopped`` since the snapshot was
    taken is unhealthy now; counts and status follow.
    """
    now = time.time() if now is None else now
    timeout = float(payload.get("heartbeat_timeout_sec") or 10.0)
    rows = []
    for row in payload.get("worker_health", []):
        beat = beats.get(row["worker"])
        verdict = judge_loop(beat, now, timeout)  # the future's state is the snapshot's: this process sees no Dask
        healthy, reason = (row["healthy"], row["reason"]) if verdict.healthy else (False, verdict.reason)
        rows.append(worker_row(row["worker"], healthy, reason, row["future_state"], beat, now))
    restarted = payload.get("restart_reasons", {})
    recorded = payload.get("status")
    fresh = snapshot(
        app=payload.get("app", ""),
        target=payload.get("target", ""),
        rows=rows,
        queue=queue,
        started=recorded not in ("idle", "stopped"),
        restarted=restarted,
        timeout=timeout,
        queue_dir=Path(payload.get("queue_dir", "")),
        cleanup=payload.get("cleanup", {}),
        client_status=payload.get("client_status"),
        pending=payload.get("workers_pending", []),
    )
    fresh["workers_running"] = [
        row["worker"] for row in rows if row["healthy"] and row["worker"] in payload.get("workers_running", [])
    ]
    fresh["workers_running_count"] = len(fresh["workers_running"])
    if recorded == "stopped":
        fresh["status"] = "stopped"
    return fresh


def write_snapshot(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """Write atomically and return the payload with its ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "path": str(path)}
    write_json(path, HealthSnapshot.model_validate(payload).wire())
    return payload


@dataclass(frozen=True)
class GateResult:
    """The HEALTH gate's verdict: ``code`` 0 passes; ``reason`` says why not, with the figures."""

    code: int
    reason: str
    figures: dict[str, Any]

    @property
    def passed(self) -> bool:
        return self.code == PASS


def gate(payload: dict[str, Any], thresholds: ServiceHealthSettings) -> GateResult:
    """Evaluate a snapshot against ``[cluster.service_health]``."""
    status = payload.get("status")
    unhealthy = int(payload.get("workers_unhealthy_count", 0))
    running = int(payload.get("workers_running_count", 0))
    restarted = int(payload.get("workers_restarted_count", 0))
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
