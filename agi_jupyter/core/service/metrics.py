"""Prometheus gauges of a service health snapshot and its HEALTH gate verdict.

A monitor reads the service through these gauges: on stdout (``agi-jupyter health --format
prometheus``) or from a file node_exporter's textfile collector picks up (``--textfile``). They are
built with prometheus_client, a collector yielding metric families that ``generate_latest`` renders
and ``write_to_textfile`` writes atomically, so the exposition format and its escaping are the
library's and not ours to keep right. prometheus_client is imported only when metrics are made:
``import agi_jupyter`` and every other command never load it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

from .health import STATUSES, GateResult

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

QUEUES = ("pending", "running", "done", "failed")
"""The queue folders a snapshot counts tasks in (``duplicates`` and ``heartbeats`` hold no tasks)."""
WORKER_STATES = ("healthy", "unhealthy", "running", "pending", "restarted")
"""The ``workers_<state>_count`` figures of a snapshot."""


@dataclass(frozen=True)
class Gauge:
    """One metric family before prometheus_client sees it: plain data, easy to read and test."""

    name: str
    documentation: str
    labels: tuple[str, ...]
    samples: Sequence[tuple[tuple[str, ...], Any]]


@dataclass(frozen=True, eq=False)  # eq=False keeps identity hashing: a registry keys its collectors by them
class ServiceHealthCollector:
    """A prometheus_client collector of one snapshot and the verdict the gate gave it.

    It is made per check and registered on a fresh registry, never on the global one: a
    command line has one snapshot to report, and a notebook calling it twice must not collide.
    """

    app: str
    payload: dict[str, Any]
    verdict: GateResult
    snapshot_time: float | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges as metric families; a family without samples is left out, as before."""
        from prometheus_client.core import GaugeMetricFamily

        for gauge in self.gauges():
            if not gauge.samples:
                continue
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=list(gauge.labels))
            for values, value in gauge.samples:
                family.add_metric(list(values), float(value))
            yield family

    def gauges(self) -> list[Gauge]:
        """Every gauge of the snapshot, in the order they are exposed."""
        return self._service_gauges() + self._worker_gauges() + self._gate_gauges()

    def _service_gauges(self) -> list[Gauge]:
        status = self.payload.get("status")
        queue = self.payload.get("queue", {})
        unknown: list[tuple[tuple[str, ...], Any]] = [] if status in STATUSES else [((self.app, str(status)), 1)]
        return [
            Gauge(
                "agi_service_up",
                "1 when the service is running or idle, else 0.",
                ("app",),
                [((self.app,), status == "running")],
            ),
            Gauge(
                "agi_service_status",
                "1 for the service's current status.",
                ("app", "status"),
                [*(((self.app, name), name == status) for name in STATUSES), *unknown],
            ),  # unknown: still 1
            Gauge(
                "agi_service_workers",
                "Service loops by state.",
                ("app", "state"),
                [((self.app, name), self.payload.get(f"workers_{name}_count", 0)) for name in WORKER_STATES],
            ),
            Gauge(
                "agi_service_queue_tasks",
                "Task files in each queue folder.",
                ("app", "queue"),
                [((self.app, name), queue.get(name, 0)) for name in QUEUES],
            ),
        ]

    def _worker_gauges(self) -> list[Gauge]:
        rows = self.payload.get("worker_health", [])
        return [
            Gauge(
                "agi_service_worker_healthy",
                "1 when the worker's loop is healthy.",
                ("app", "worker"),
                [((self.app, str(row.get("worker"))), bool(row.get("healthy"))) for row in rows],
            ),
            Gauge(
                "agi_service_worker_heartbeat_age_seconds",
                "Age of the worker loop's last heartbeat.",
                ("app", "worker"),
                [
                    ((self.app, str(row.get("worker"))), row["heartbeat_age_sec"])
                    for row in rows
                    if row.get("heartbeat_age_sec") is not None
                ],
            ),
        ]

    def _gate_gauges(self) -> list[Gauge]:
        timestamp = self.snapshot_time
        return [
            Gauge(
                "agi_service_restart_rate",
                "Restarted loops per running loop.",
                ("app",),
                [((self.app,), self.verdict.figures.get("restart_rate", 0.0))],
            ),
            Gauge(
                "agi_service_gate_code",
                "HEALTH gate exit code: 0 pass, 2 unhealthy, 3 degraded/error/unknown, "
                "4 idle not allowed, 5 restart rate.",
                ("app",),
                [((self.app,), self.verdict.code)],
            ),
            Gauge(
                "agi_service_gate_passed",
                "1 when the HEALTH gate passes.",
                ("app",),
                [((self.app,), self.verdict.passed)],
            ),
            Gauge(
                "agi_service_snapshot_timestamp_seconds",
                "Unix time the health snapshot was written.",
                ("app",),
                [((self.app,), timestamp)] if isinstance(timestamp, (int, float)) else [],
            ),
        ]


def registry_of(collector: ServiceHealthCollector) -> CollectorRegistry:
    """A registry of this collector alone (no process or platform metrics a monitor did not ask for)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)  # no describe(): names are not checked twice
    registry.register(collector)
    return registry


def exposition(collector: ServiceHealthCollector) -> str:
    """The collector's gauges in the Prometheus text exposition format."""
    from prometheus_client import generate_latest

    return generate_latest(registry_of(collector)).decode("utf-8")


def write_textfile(path: str | PathLike[str], collector: ServiceHealthCollector) -> None:
    """Write the exposition to ``path`` atomically (a temporary file beside it, then a rename).

    node_exporter's textfile collector reads ``*.prom`` files at any moment; it must never read
    half a file, and the temporary name does not end in ``.prom``, so it is never read at all.
    """
    from prometheus_client import write_to_textfile

    write_to_textfile(str(path), registry_of(collector))
    logger.debug("wrote %s gauges to %s", collector.app, path)
