"""The Service tab outside a kernel, on a real local Dask cluster (worker processes, loopback)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.core import cluster
from agi_jupyter.core.requests import ServeRequest, resolve
from agi_jupyter.core.settings import AppSettings, save_settings
from agi_jupyter.core.snippets import make_snippet
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.service_tab import ServiceTab

APPS = Path(__file__).parent / "apps"


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module():
    yield
    cluster.close_local_cluster()


@pytest.fixture
def tab(tmp_path: Path) -> ServiceTab:
    """The probe app installed for Dask, and its Service tab; the service is stopped afterwards."""
    shutil.copytree(APPS, tmp_path / "apps")
    env = AgiEnv("probe", apps_path=tmp_path / "apps")
    save_settings(env.settings_path, {"cluster.scheduler": ""})  # our loopback cluster, never a stranger's :8786
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
    view = ServiceTab(Context(env, cell_id=None))
    yield view
    view.context.actions.wait(60)
    asyncio.run(AGI.serve(env, "stop"))


def click(tab: ServiceTab, button: Any) -> dict[str, Any] | None:
    button.click()
    tab.context.actions.wait(120)
    assert tab.message.kind != "error", tab.message.text
    return tab.payload


def poll_status(tab: ServiceTab, condition: Callable[[dict[str, Any]], bool], limit: float = 60.0) -> dict[str, Any]:
    """Click STATUS until the snapshot satisfies ``condition``."""
    deadline = time.monotonic() + limit
    while True:
        payload = click(tab, tab.status)
        if condition(payload):
            return payload
        assert time.monotonic() < deadline, f"gave up waiting; last snapshot: {payload}"
        time.sleep(0.2)


def all_loops_ready(payload: dict[str, Any]) -> bool:
    rows = payload["worker_health"]
    return (
        len(rows) == 2
        and all(row["healthy"] and row["heartbeat_state"] == "running" for row in rows)
        and payload["status"] == "running"
    )


def test_start_shows_the_health_of_two_workers_and_runs_the_request_its_snippet_shows(tab: ServiceTab) -> None:
    env = tab.context.env
    tab.fields["heartbeat_timeout"].value = 5.0
    tab.fields["done_max_files"].value = 50
    tab.start.click()
    tab.start.click()  # a double click while START runs is refused
    assert tab.started == ["start"] and "not started" in tab.message.text
    tab.context.actions.wait(120)
    assert tab.message.kind == "ok", tab.message.text
    assert tab.last_request == resolve(env, ServeRequest(action="start", heartbeat_timeout=5.0, done_max_files=50))
    assert tab.last_request.workers == {"127.0.0.1": 2}  # written out in the snippet, not left to the settings
    assert tab.snippet.snippet.code == make_snippet(env, "serve", tab.last_request).code
    assert "heartbeat_timeout=5.0" in tab.snippet.code.value
    payload = poll_status(tab, all_loops_ready)
    assert tab.started.count("start") == 1 and tab.last_request.action == "status"
    assert tab.snippet.snippet.code == make_snippet(env, "serve", tab.last_request).code
    assert payload["heartbeat_timeout_sec"] == 5.0
    assert tab.table.value.count("<tr>") == 1 + 2 and "agi-unhealthy" not in tab.table.value
    for column in ("worker", "healthy", "reason", "future_state", "heartbeat_state", "heartbeat_age_sec"):
        assert f"<th>{column}</th>" in tab.table.value
    assert all(row["worker"] in tab.table.value for row in payload["worker_health"])
    assert str(env.service_dir / "health.json") in tab.summary.value and "status <b>running</b>" in tab.summary.value
    again = ServiceTab(Context(env, cell_id=None))  # re-running the cell shows the last snapshot
    assert again.payload is None and again.table.value.count("<tr>") == 3
    stopped = click(tab, tab.stop)
    assert stopped["status"] == "stopped" and len(stopped["stopped"]) == 2
    assert "status <b>stopped</b>" in tab.summary.value and tab.table.value == "<i>no worker loops</i>"


def test_submit_queues_one_task_per_chunk_and_the_loops_do_them(tab: ServiceTab) -> None:
    click(tab, tab.start)
    poll_status(tab, all_loops_ready)
    click(tab, tab.submit)
    assert len(tab.task_ids) == 4 and tab.message.text.startswith("queued 4 task(s)")
    assert "task_ids = await AGI.submit(env, request)" in tab.snippet.snippet.code
    done = poll_status(tab, lambda p: p["queue"]["done"] + p["queue"]["failed"] >= 4)
    assert done["queue"] == {"pending": 0, "running": 0, "done": 4, "failed": 0}
    assert "done 4" in tab.summary.value
    executions = tab.context.env.share_dir / "probe" / "executions"
    assert len(list(executions.iterdir())) == 4


def test_health_gate_fails_an_idle_service_until_allow_idle_is_saved(tab: ServiceTab) -> None:
    env = tab.context.env
    click(tab, tab.start)
    poll_status(tab, all_loops_ready)
    assert tab.allow_idle.value is False
    click(tab, tab.health)
    assert tab.verdict.passed and tab.verdict_view.text == "PASS: service is running"  # an empty queue is fine
    click(tab, tab.stop)
    assert tab.payload["status"] == "stopped"
    click(tab, tab.health)
    assert tab.payload["status"] == "idle" and tab.last_request.action == "health"
    assert tab.verdict.code == 4 and not tab.verdict.passed
    assert tab.verdict_view.kind == "error" and tab.verdict_view.text.startswith("FAIL code 4: service is idle")
    tab.allow_idle.value = True
    assert tab.settings_message.kind == "ok"
    assert AppSettings.load(env.settings_path).cluster.service_health.allow_idle is True
    assert "allow_idle = true" in env.settings_path.read_text()
    click(tab, tab.health)
    assert tab.verdict.passed and tab.verdict.code == 0
    assert tab.verdict_view.kind == "ok" and tab.verdict_view.text == "PASS: service is idle"


def test_invalid_settings_and_fields_are_refused_inline(tmp_path: Path) -> None:
    shutil.copytree(APPS, tmp_path / "apps")
    env = AgiEnv("probe", apps_path=tmp_path / "apps")
    view = ServiceTab(Context(env, cell_id=None))
    before = env.settings_path.read_bytes()
    view.max_restart_rate.value = 1.5
    assert view.settings_message.kind == "error" and "max_restart_rate" in view.settings_message.text
    assert view.max_restart_rate.value == 0.25 and env.settings_path.read_bytes() == before
    view.max_unhealthy.value = -1
    assert view.settings_message.kind == "error" and view.max_unhealthy.value == 0
    assert env.settings_path.read_bytes() == before
    view.max_unhealthy.value = 1  # a valid change saves that one key, comments kept
    text = env.settings_path.read_text()
    assert "max_unhealthy = 1" in text and text.startswith("# The probe test app")
    assert ServiceTab(Context(env, cell_id=None)).max_unhealthy.value == 1
    view.fields["heartbeat_timeout"].value = 0.0
    assert view.run("start") is False and view.started == [] and view.last_request is None
    assert view.message.kind == "error" and "heartbeat timeout (s)" in view.message.text
