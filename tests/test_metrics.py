"""The service health gauges come from prometheus_client, and only when asked for.

The collector is fed a snapshot and a verdict directly (no files, no Dask), so every sample it
exposes can be compared with the full list a monitor relies on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from agi_jupyter.core.service import GateResult, ServiceHealthCollector
from agi_jupyter.core.service.metrics import exposition, write_textfile

APP = "flight_project"


def payload(**fields: Any) -> dict[str, Any]:
    """A snapshot of a service whose one loop stopped beating; fields override."""
    return {
        "status": "degraded",
        "queue": {"pending": 3, "running": 1, "done": 7, "failed": 0},
        "workers_healthy_count": 1,
        "workers_unhealthy_count": 1,
        "workers_running_count": 2,
        "workers_pending_count": 0,
        "workers_restarted_count": 1,
        "worker_health": [
            {"worker": "tcp://a:1", "healthy": True, "heartbeat_age_sec": 0.5},
            {"worker": "tcp://b:2", "healthy": False, "heartbeat_age_sec": None},
        ],
        **fields,
    }


def verdict(code: int = 2) -> GateResult:
    return GateResult(code, "why", {"restart_rate": 0.5})


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample, read by prometheus_client's own parser (the format's reference reader)."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def test_every_gauge_name_label_and_value() -> None:
    collector = ServiceHealthCollector(APP, payload(), verdict(), 1_700_000_000.25)
    app = {"app": APP}
    expected = [("agi_service_up", app, 0.0)]
    expected += [
        ("agi_service_status", {**app, "status": name}, float(name == "degraded"))
        for name in ("running", "idle", "degraded", "error", "stopped")
    ]
    expected += [
        ("agi_service_workers", {**app, "state": name}, count)
        for name, count in (("healthy", 1), ("unhealthy", 1), ("running", 2), ("pending", 0), ("restarted", 1))
    ]
    expected += [
        ("agi_service_queue_tasks", {**app, "queue": name}, count)
        for name, count in (("pending", 3), ("running", 1), ("done", 7), ("failed", 0))
    ]
    expected += [
        ("agi_service_worker_healthy", {**app, "worker": "tcp://a:1"}, 1.0),
        ("agi_service_worker_healthy", {**app, "worker": "tcp://b:2"}, 0.0),
        ("agi_service_worker_heartbeat_age_seconds", {**app, "worker": "tcp://a:1"}, 0.5),  # b has none
        ("agi_service_restart_rate", app, 0.5),
        ("agi_service_gate_code", app, 2.0),
        ("agi_service_gate_passed", app, 0.0),
        ("agi_service_snapshot_timestamp_seconds", app, 1_700_000_000.25),
    ]
    assert samples(exposition(collector)) == expected


def test_an_unknown_status_is_shown_as_its_own_label_and_empty_families_are_left_out() -> None:
    collector = ServiceHealthCollector(APP, payload(status="rebalancing", worker_health=[]), verdict(3), None)
    text = exposition(collector)
    found = samples(text)
    assert ("agi_service_status", {"app": APP, "status": "rebalancing"}, 1.0) in found
    assert sum(value for name, _, value in found if name == "agi_service_status") == 1
    for absent in (
        "agi_service_worker_healthy",
        "agi_service_worker_heartbeat_age_seconds",
        "agi_service_snapshot_timestamp_seconds",
    ):
        assert absent not in text  # neither a sample nor a lone # HELP/# TYPE


def test_the_collector_registers_like_any_other() -> None:
    """Names are checked on an ordinary registry; that is why each check gets a fresh one."""
    registry = CollectorRegistry(auto_describe=True)  # as the global registry of a long-lived exporter
    registry.register(ServiceHealthCollector(APP, payload(), verdict(), None))
    assert registry.get_sample_value("agi_service_gate_code", {"app": APP}) == 2.0
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        registry.register(ServiceHealthCollector(APP, payload(), verdict(0), None))


def test_the_textfile_holds_the_exposition_and_no_temporary_is_left(tmp_path: Path) -> None:
    path = tmp_path / "agi.prom"
    path.write_text("old\n")
    collector = ServiceHealthCollector(APP, payload(), verdict(), None)
    write_textfile(path, collector)
    assert path.read_text() == exposition(collector)
    assert [entry.name for entry in tmp_path.iterdir()] == ["agi.prom"]


def test_prometheus_client_is_loaded_only_to_make_metrics() -> None:
    code = (
        "import sys, agi_jupyter, agi_jupyter.core.service, agi_jupyter.cli\n"
        "agi_jupyter.cli.build_parser()\n"
        "print('prometheus_client' in sys.modules)\n"
        "from agi_jupyter.core.service import metrics\n"
        "metrics.exposition(metrics.ServiceHealthCollector('a', {}, metrics.GateResult(0, '', {})))\n"
        "print('prometheus_client' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]
