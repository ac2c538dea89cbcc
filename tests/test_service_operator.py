"""The operator summary of a service, from a real queue on disk (no Dask), its export, and the Service tab."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.cli import main
from agi_jupyter.core import files
from agi_jupyter.core.service.health import snapshot, worker_row, write_snapshot
from agi_jupyter.core.service.heartbeat import heartbeat_path, write_heartbeat
from agi_jupyter.core.service.lifecycle import queue_dir
from agi_jupyter.core.service.operator import (
    OPERATOR_SCHEMA,
    OperatorSnapshot,
    operator_summary,
    summarize,
    write_operator_snapshot,
)
from agi_jupyter.core.service.queue import TaskQueue, write_json
from agi_jupyter.core.service.records import HealthSnapshot, HeartbeatRecord, TaskOutcome, TaskRecord, read_record
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.service_tab import ServiceTab

APPS = Path(__file__).parent / "apps"
FRESH, LATE, MISSING, GONE = (f"tcp://127.0.0.1:400{n}" for n in range(1, 5))
RESTARTED = "tcp://127.0.0.1:4009"


@pytest.fixture
def env(tmp_path: Path) -> AgiEnv:
    shutil.copytree(APPS, tmp_path / "apps")
    return AgiEnv("probe", apps_path=tmp_path / "apps")


def beat(folder: Path, worker: str, state: str, age: float, incarnation: str) -> None:
    """A heartbeat as a loop leaves it, ``age`` seconds old."""
    write_heartbeat(folder, worker, state, incarnation, 0, timeout=10.0)
    path = heartbeat_path(folder, worker, incarnation)
    old = read_record(HeartbeatRecord, path)
    write_json(path, old.model_copy(update={"timestamp": time.time() - age}))


def publish(queue: TaskQueue, finished: float | None, failed: bool = False) -> Path:
    queue.submit(["item"])
    task = queue.claim("loop~one")
    assert task is not None
    landed = queue.publish(task, TaskOutcome(worker=FRESH, finished=finished), failed=failed)
    assert landed is not None
    return landed


@pytest.fixture
def service(env: AgiEnv) -> dict[str, Any]:
    """A degraded service as its files show it: three loops (fresh, late, silent), results of the
    last half hour, two pending tasks (one waiting five minutes), one loop restarted."""
    now = time.time()
    queue = TaskQueue(queue_dir(env))
    beats = queue.folder("heartbeats")
    beat(beats, FRESH, "running", 1.0, "aaa")
    beat(beats, LATE, "processing", 60.0, "bbb")
    beat(beats, GONE, "running", 90.0, "ccc")  # a loop restarted elsewhere: not one the snapshot lists
    publish(queue, now - 30)
    publish(queue, now - 120)
    publish(queue, now - 20 * 60)  # outside a 10 min window
    untimed = publish(queue, None)  # no finished time: its file's time counts
    old = publish(queue, None)
    os.utime(old, (now - 3600, now - 3600))
    publish(queue, now - 60, failed=True)
    waiting = queue.submit(["later"])
    path = queue.folder("pending") / f"{waiting}.json"
    write_json(path, read_record(TaskRecord, path).model_copy(update={"submitted": now - 300}))
    queue.submit(["latest"])
    rows = [
        worker_row(FRESH, True, "", "running", None, now),
        worker_row(LATE, True, "", "running", None, now),
        worker_row(MISSING, True, "", "running", None, now),
    ]
    saved = snapshot(
        app=env.app,
        target=env.target,
        rows=rows,
        queue=queue.counts(),
        started=True,
        restarted={RESTARTED: "loop-error"},
        timeout=10.0,
        queue_dir=queue.root,
        cleanup={},
        client_status="running",
        pending=[],
    )
    write_snapshot(saved, env.service_dir / "health.json")
    return {"waiting": waiting, "untimed": untimed}


def test_the_summary_names_late_and_missing_heartbeats_the_oldest_task_the_rate_and_the_restarts(
    env: AgiEnv, service: dict[str, Any]
) -> None:
    summary = operator_summary(env)  # the recorded snapshot, re-judged by the heartbeats
    assert summary.status == "degraded" and summary.heartbeat_timeout_sec == 10.0
    assert summary.late_heartbeat_count == 1 and [late.worker for late in summary.late_heartbeats] == [LATE]
    assert summary.late_heartbeats[0].state == "processing" and 59 <= summary.late_heartbeats[0].age_sec <= 70
    assert summary.missing_heartbeat_count == 1 and summary.missing_heartbeats == [MISSING]
    assert summary.pending == 2 and summary.oldest_pending_task == service["waiting"]
    assert summary.oldest_pending_age_sec is not None and 299 <= summary.oldest_pending_age_sec <= 310
    assert summary.window_minutes == 10 and summary.done_in_window == 3 and summary.failed_in_window == 1
    assert summary.tasks_per_minute == pytest.approx(0.3)
    assert summary.restart_count == 1 and summary.restart_reasons == {RESTARTED: "loop-error"}
    lines = summary.lines()
    assert lines[0].startswith(f"late heartbeats: 1 ({LATE} (6") and lines[1] == f"missing heartbeats: 1 ({MISSING})"
    assert lines[2] == f"pending tasks: 2; oldest: {service['waiting']} waiting 5 min"
    assert lines[3] == "tasks per minute: 0.30 (3 done, 1 failed in the last 10 min)"
    assert lines[4] == f"restarts: 1 ({RESTARTED} (loop-error))"
    wider = operator_summary(env, window_minutes=30)
    assert wider.done_in_window == 4 and wider.tasks_per_minute == pytest.approx(4 / 30)


def test_without_loops_in_the_snapshot_every_silent_beat_on_disk_is_late(env: AgiEnv, service: dict[str, Any]) -> None:
    queue = TaskQueue(queue_dir(env))
    beat(queue.folder("heartbeats"), "tcp://127.0.0.1:4005", "stopped", 500.0, "ddd")  # said goodbye: not late
    idle = HealthSnapshot.model_validate_json((env.service_dir / "health.json").read_bytes()).model_copy(
        update={"worker_health": [], "status": "idle", "restart_reasons": {}, "workers_restarted_count": 0}
    )
    summary = summarize(queue.root, idle)
    assert [late.worker for late in summary.late_heartbeats] == [LATE, GONE]
    assert summary.missing_heartbeats == [] and summary.restart_count == 0
    empty = summarize(env.service_dir / "elsewhere", idle)
    assert empty.pending == 0 and empty.oldest_pending_task is None and empty.tasks_per_minute == 0
    with pytest.raises(ValueError, match="window_minutes"):
        summarize(queue.root, idle, window_minutes=0)


def test_the_export_writes_the_summary_and_the_snapshot_beside_health_json_atomically(
    env: AgiEnv, service: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    record = write_operator_snapshot(env)
    path = env.service_dir / "operator.json"
    assert record.path == str(path) and path.is_file()
    data = json.loads(path.read_text())
    assert data["schema"] == OPERATOR_SCHEMA == "agi.service.operator.v1"
    assert data["health"]["schema"] == "agi.service.health.v1" and data["health"]["status"] == "degraded"
    assert data["summary"]["late_heartbeats"][0]["worker"] == LATE
    assert data["summary"]["missing_heartbeats"] == [MISSING]
    assert OperatorSnapshot.model_validate_json(path.read_bytes()) == record
    assert sorted(name for name in os.listdir(env.service_dir) if name.startswith(".operator")) == []
    saved = path.read_bytes()

    def broken_replace(source: Any, target: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write_operator_snapshot(env)
    assert path.read_bytes() == saved  # the one written before is whole
    assert [name for name in os.listdir(env.service_dir) if ".tmp" in name] == []


def test_health_operator_prints_the_summary_and_adds_it_to_the_json(
    env: AgiEnv, service: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["health", env.app_path.name, "--apps-path", str(env.apps_path), "--operator", "--allow-idle"])
    captured = capsys.readouterr()
    assert code == 2  # two unhealthy loops > max_unhealthy 0
    payload = json.loads(captured.out)
    assert payload["operator"]["missing_heartbeats"] == [MISSING] and payload["operator"]["pending"] == 2
    assert f"operator: missing heartbeats: 1 ({MISSING})" in captured.err


# ----- the Service tab ------------------------------------------------------------------------------
def wait(tab: ServiceTab) -> None:
    tab.context.actions.wait(60)


def test_submit_is_off_with_the_reason_until_a_service_runs(env: AgiEnv) -> None:
    tab = ServiceTab(Context(env, cell_id=None))
    assert tab.context.state.service_status == ""
    assert tab.submit.disabled and "START it first" in tab.submit_note.text and "START" in tab.submit.tooltip
    assert tab.run("submit") is False and tab.started == []  # a click that reaches it anyway is refused
    assert tab.message.kind == "error" and "SUBMIT not started" in tab.message.text
    assert not list(queue_dir(env).glob("pending/*.json"))
    tab.context.state.service_status = "running"
    assert not tab.submit.disabled and tab.submit_note.text == ""
    assert tab.submit.tooltip == "queue one task per plan chunk for the running loops"
    tab.context.state.service_status = "error"  # loops down: tasks may wait for the restart
    assert not tab.submit.disabled and "no loop is healthy" in tab.submit_note.text
    tab.context.state.service_status = "stopped"
    assert tab.submit.disabled and "stopped" in tab.submit_note.text
    for control in (tab.export, *tab.buttons.values()):
        assert control.tooltip, control.description


def test_the_tab_shows_the_operator_summary_and_exports_it(env: AgiEnv, service: dict[str, Any]) -> None:
    tab = ServiceTab(Context(env, cell_id=None))  # the recorded snapshot: a degraded service runs
    assert tab.context.state.service_status == "degraded" and not tab.submit.disabled
    assert tab.operator is not None and tab.operator.missing_heartbeats == [MISSING]
    assert "late heartbeats: 1" in tab.operator_view.value and LATE in tab.operator_view.value
    assert "tasks per minute: 0.30" in tab.operator_view.value and "loop-error" in tab.operator_view.value
    assert tab.export_message.value == ""
    tab.export.click()
    wait(tab)
    path = env.service_dir / "operator.json"
    assert tab.export_message.kind == "ok" and str(path) in tab.export_message.text
    assert tab.exported is not None and json.loads(path.read_text())["schema"] == OPERATOR_SCHEMA
