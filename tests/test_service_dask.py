"""Service mode on a real local Dask cluster (worker processes): the acceptance scenarios."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from probe_helpers import copy_probe, executions
from probe_helpers import wait_for as wait_until

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.core import cluster
from agi_jupyter.core.service.queue import TaskQueue

TIMEOUT = 2.0


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module():
    yield
    cluster.close_local_cluster()


@pytest.fixture
def probe(tmp_path: Path) -> AgiEnv:
    env = copy_probe(tmp_path)
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
    yield env
    asyncio.run(AGI.serve(env, "stop"))


def serve(env: AgiEnv, action: str, **fields: Any) -> dict[str, Any]:
    return asyncio.run(AGI.serve(env, action=action, heartbeat_timeout=TIMEOUT, **fields))


def wait_for(
    env: AgiEnv,
    condition: Callable[[dict[str, Any]], bool],
    limit: float = 60.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Call STATUS until ``condition(snapshot)``; every snapshot goes to ``seen``."""
    return wait_until(lambda: serve(env, "status"), condition, limit, seen)


def process_exists(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def restart_reasons(seen: list[dict[str, Any]]) -> list[str]:
    return [reason for payload in seen for reason in payload["restart_reasons"].values()]


def heartbeat_pid(env: AgiEnv, worker: str) -> int:
    from agi_jupyter.core.service.heartbeat import read_heartbeats

    return read_heartbeats(env.service_dir / "queue" / "heartbeats")[worker].pid


def test_start_is_idempotent_and_writes_a_complete_snapshot(probe: AgiEnv) -> None:
    first = serve(probe, "start")
    again = serve(probe, "start")
    assert first["workers_running"] == again["workers_running"] or again["workers_running_count"] == 2
    health = wait_for(
        probe,
        lambda p: (
            p["workers_running_count"] == 2 and all(row["heartbeat_state"] == "running" for row in p["worker_health"])
        ),
    )
    saved = json.loads((probe.service_dir / "health.json").read_text())
    expected = {
        "schema",
        "timestamp",
        "app",
        "target",
        "status",
        "queue",
        "client_status",
        "heartbeat_timeout_sec",
        "queue_dir",
        "cleanup",
        "restart_reasons",
        "worker_health",
        "path",
    }
    for name in ("running", "pending", "restarted", "healthy", "unhealthy"):
        expected |= {f"workers_{name}", f"workers_{name}_count"}
    assert set(saved) == expected and saved["schema"] == "agi.service.health.v1"
    assert saved["status"] == health["status"] == "running" and saved["queue"] == {
        "pending": 0,
        "running": 0,
        "done": 0,
        "failed": 0,
    }
    row = saved["worker_health"][0]
    assert set(row) == {
        "worker",
        "healthy",
        "reason",
        "future_state",
        "heartbeat_state",
        "heartbeat_age_sec",
        "task",
        "task_seconds",
    }
    assert row["future_state"] == "running" and row["heartbeat_state"] == "running"
    custom = serve(probe, "health", health_output_path="service/custom_health.json")
    assert custom["path"] == str(probe.share_dir / "service" / "custom_health.json")
    stopped = serve(probe, "stop")
    assert stopped["status"] == "stopped" and sorted(stopped["stopped"]) == sorted(saved["workers_healthy"])
    beats = list((probe.service_dir / "queue" / "heartbeats").glob("*.json"))
    assert beats and all(json.loads(p.read_text())["state"] == "stopped" for p in beats)


def test_a_burst_of_500_tasks_is_done_exactly_once(probe: AgiEnv) -> None:
    serve(probe, "start")
    ids = [asyncio.run(AGI.submit(probe, items=[f"task{n}"]))[0] for n in range(500)]
    final = wait_for(probe, lambda p: p["queue"]["done"] + p["queue"]["failed"] >= 500)
    assert final["queue"] == {"pending": 0, "running": 0, "done": 500, "failed": 0}
    counts = executions(probe)
    assert len(counts) == 500 and set(counts.values()) == {1}
    done = {path.stem for path in (probe.service_dir / "queue" / "done").glob("*.json")}
    assert done == set(ids)
    workers = {json.loads(p.read_text())["worker"] for p in (probe.service_dir / "queue" / "done").glob("*.json")}
    assert len(workers) == 2  # both loops took part


def test_killed_worker_is_replaced_and_its_task_recovered(probe: AgiEnv) -> None:
    serve(probe, "start")
    ids = asyncio.run(AGI.submit(probe, params={"items": 16, "delay": 0.4}))
    busy = wait_for(probe, lambda p: p["queue"]["running"] >= 2)
    victim = busy["worker_health"][0]["worker"]
    os.kill(heartbeat_pid(probe, victim), signal.SIGKILL)
    seen: list[dict[str, Any]] = []
    final = wait_for(
        probe,
        lambda p: p["queue"]["done"] + p["queue"]["failed"] >= len(ids) and p["workers_healthy_count"] == 2,
        limit=90,
        seen=seen,
    )
    reasons = restart_reasons(seen)
    assert reasons, "no restart was reported"
    assert all(
        re.fullmatch(r"loop-error|loop-cancelled|missing-heartbeat|stale-heartbeat\(\d+\.\ds\)", r) for r in reasons
    )
    assert final["queue"] == {"pending": 0, "running": 0, "done": len(ids), "failed": 0}
    counts = executions(probe)
    assert len(counts) == len(ids) and set(counts.values()) == {1}
    recovered = [json.loads(p.read_text()) for p in (probe.service_dir / "queue" / "done").glob("*.json")]
    assert any(result["task"]["attempts"] == 1 for result in recovered)  # the victim's claim came back


def test_loop_that_raises_is_restarted_with_loop_error(probe: AgiEnv) -> None:
    serve(probe, "start")
    wait_for(probe, lambda p: p["workers_healthy_count"] == 2)
    (probe.share_dir / "probe" / "crash-loop").write_text("")
    asyncio.run(AGI.submit(probe, items=["wake"]))
    seen: list[dict[str, Any]] = []
    wait_for(probe, lambda p: "loop-error" in p["restart_reasons"].values(), seen=seen)
    healthy = wait_for(probe, lambda p: p["workers_healthy_count"] == 2 and p["workers_running_count"] == 2)
    assert healthy["workers_unhealthy_count"] == 0
    asyncio.run(AGI.submit(probe, items=["after"]))
    wait_for(probe, lambda p: executions(probe)["after"] == 1)


def test_loop_without_heartbeats_is_stale_then_restarted(probe: AgiEnv) -> None:
    serve(probe, "start")
    ready = wait_for(probe, lambda p: p["workers_healthy_count"] == 2 and p["workers_running_count"] == 2)
    frozen = ready["worker_health"][0]["worker"]
    pid = heartbeat_pid(probe, frozen)
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(TIMEOUT + 1.0)
        seen: list[dict[str, Any]] = []
        wait_for(probe, lambda p: bool(p["restart_reasons"]), seen=seen)
        [reason] = restart_reasons(seen)
        assert re.fullmatch(r"stale-heartbeat\(\d+\.\ds\)", reason) and float(reason[16:-2]) > TIMEOUT
        assert not process_exists(pid), "the stuck loop's worker process was not ended: it could resume its task"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    wait_for(probe, lambda p: p["workers_healthy_count"] == 2 and not p["restart_reasons"])
    asyncio.run(AGI.submit(probe, items=["thawed"]))
    wait_for(probe, lambda p: p["queue"]["done"] >= 1)
    assert executions(probe)["thawed"] == 1


def test_corrupt_and_pickled_task_files_go_to_failed_and_the_loop_goes_on(probe: AgiEnv) -> None:
    queue = TaskQueue(probe.service_dir / "queue")
    (queue.folder("pending") / "00000000000000000001-broken.json").write_text("{not json")
    (queue.folder("pending") / "00000000000000000002-evil.pkl").write_bytes(b"\x80\x04\x95 not read")
    serve(probe, "start")
    asyncio.run(AGI.submit(probe, items=["fine"]))
    final = wait_for(probe, lambda p: p["queue"]["done"] == 1 and p["queue"]["failed"] >= 2)
    assert final["workers_healthy_count"] == 2
    reasons = {
        path.name: json.loads(path.read_text()).get("error", "") for path in queue.folder("failed").glob("*.json")
    }
    assert any("corrupt task file" in text for text in reasons.values())
    assert any("pickle files are not accepted" in text for text in reasons.values())
    assert (queue.folder("failed") / "00000000000000000002-evil.pkl").read_bytes().startswith(b"\x80")


def test_failing_task_lands_in_failed_with_its_traceback(probe: AgiEnv) -> None:
    serve(probe, "start")
    [task] = asyncio.run(AGI.submit(probe, items=["raise"]))
    wait_for(probe, lambda p: p["queue"]["failed"] == 1)
    result = json.loads((probe.service_dir / "queue" / "failed" / f"{task}.json").read_text())
    assert "probe item asked to raise" in result["error"] and "Traceback" in result["traceback"]
    assert result["worker"].startswith("tcp://127.0.0.1:")


def test_stop_closes_only_a_cluster_the_engine_started(probe: AgiEnv) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1") as theirs,
        Client(theirs) as client,
    ):  # the kernel's own client: the service must use it and never close it
        serve(probe, "start")
        wait_for(probe, lambda p: p["workers_healthy_count"] == 2)
        stopped = serve(probe, "stop", close_cluster=True)
        assert stopped["status"] == "stopped" and client.status == "running"
        assert all(worker in client.scheduler_info()["workers"] for worker in stopped["stopped"])
    serve(probe, "start")  # no kernel client now: the engine's own local cluster
    assert cluster.running_local() is not None
    serve(probe, "stop", close_cluster=True)
    assert cluster.running_local() is None


def test_slots_sharing_a_dask_worker_get_one_steady_loop(probe: AgiEnv) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=":0", host="127.0.0.1") as theirs,
        Client(theirs),
    ):
        lines: list[str] = []
        started = asyncio.run(AGI.serve(probe, action="start", heartbeat_timeout=TIMEOUT, on_line=lines.append))
        assert any("one loop per Dask worker (1 loops)" in line for line in lines)
        time.sleep(TIMEOUT + 0.5)
        for _ in range(3):
            status = serve(probe, "status")
            assert status["workers_restarted_count"] == 0 and status["workers_healthy_count"] == 1
        assert started["workers_pending_count"] + started["workers_running_count"] <= 1
        serve(probe, "stop")
