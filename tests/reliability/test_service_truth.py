"""Service mode under faults, on real Dask clusters: exactly once while a claimer lives, a STOP
that tells the truth, hung tasks that show and end, answers from processes that cannot see the
service, and a RUN that refuses to wait behind service loops forever."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from probe_helpers import copy_probe, executions
from probe_helpers import wait_for as wait_until

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core import cluster
from agi_jupyter.core.errors import ServiceError

TIMEOUT = 2.0


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module() -> Iterator[None]:
    yield
    cluster.close_local_cluster()
    cluster.close_clients()


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[AgiEnv]:
    env = copy_probe(tmp_path)
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
    yield env
    asyncio.run(AGI.serve(env, "stop"))


@pytest.fixture
def two_clusters() -> Iterator[list[str]]:
    """Two one-worker clusters: the schedulers of two services (two kernels) on one app."""
    from distributed import LocalCluster

    started = [
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0", host="127.0.0.1") for _ in range(2)
    ]
    try:
        yield [item.scheduler_address for item in started]
    finally:
        cluster.close_clients()
        for item in started:
            item.close()


def serve(env: AgiEnv, action: str, **fields: Any) -> dict[str, Any]:
    return asyncio.run(AGI.serve(env, action=action, heartbeat_timeout=TIMEOUT, **fields))


def submit(env: AgiEnv, **fields: Any) -> list[str]:
    return asyncio.run(AGI.submit(env, **fields))


def wait_for(
    env: AgiEnv,
    condition: Callable[[dict[str, Any]], bool],
    limit: float = 90.0,
    seen: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    return wait_until(lambda: serve(env, "status", **fields), condition, limit, seen)


def results(env: AgiEnv, folder: str) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in (env.service_dir / "queue" / folder).glob("*.json")}


def test_a_second_service_never_reruns_a_task_the_first_one_still_runs(probe: AgiEnv, two_clusters: list[str]) -> None:
    first, second = ({"scheduler": address, "workers": {"127.0.0.1": 1}} for address in two_clusters)
    serve(probe, "start", **first)
    [task] = submit(probe, items=["slow"], params={"delay": 4.0})
    wait_for(probe, lambda p: p["queue"]["running"] == 1, **first)
    serve(probe, "start", **second)  # another kernel starts its own service on the same app
    for _ in range(5):
        serve(probe, "status", **second)
        time.sleep(0.3)
    wait_for(probe, lambda p: p["queue"]["done"] == 1 and p["queue"]["running"] + p["queue"]["pending"] == 0, **first)
    assert executions(probe)["slow"] == 1, "a task still executing was taken from its live claimer"
    assert list(results(probe, "done")) == [task]
    serve(probe, "stop", **second)
    serve(probe, "stop", **first)


def test_stop_names_the_tasks_still_running_and_the_next_start_does_not_run_them_again(probe: AgiEnv) -> None:
    serve(probe, "start")
    [task] = submit(probe, items=["long"], params={"delay": 4.0})
    wait_for(probe, lambda p: p["queue"]["running"] == 1)
    lines: list[str] = []
    stopped = asyncio.run(
        AGI.serve(probe, action="stop", heartbeat_timeout=TIMEOUT, stop_timeout=0.5, on_line=lines.append)
    )
    assert stopped["status"] == "stopped" and stopped["still_running"] == [task]
    assert any(task in line and "still executing" in line for line in lines)
    assert [path.name.split("@")[0] for path in (probe.service_dir / "queue" / "running").iterdir()] == [task]
    serve(probe, "start")
    wait_for(probe, lambda p: p["queue"]["done"] == 1 and p["queue"]["running"] == 0)
    time.sleep(1.0)  # a re-run, had one started, would have finished by now
    assert executions(probe)["long"] == 1
    assert list(results(probe, "done")) == [task] and results(probe, "done")[task]["task"]["attempts"] == 0


def test_a_task_past_its_time_limit_fails_with_task_timeout_and_its_loop_restarts(probe: AgiEnv) -> None:
    serve(probe, "start")
    [task] = submit(probe, items=["hang"], params={"delay": 60.0}, time_limit=1.0)
    working = wait_for(probe, lambda p: any(row["task"] == task for row in p["worker_health"]))
    row = next(row for row in working["worker_health"] if row["task"] == task)
    assert row["task_seconds"] is not None and row["task_seconds"] >= 0
    pid = _pid_of(probe, row["worker"])
    seen: list[dict[str, Any]] = []
    wait_for(probe, lambda p: "task-timeout(1s)" in p["restart_reasons"].values(), seen=seen)
    failed = results(probe, "failed")
    assert list(failed) == [task] and "task-timeout" in failed[task]["error"]
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z", (
        "the hung task's worker process still runs"
    )
    wait_for(probe, lambda p: p["workers_healthy_count"] == 2)
    submit(probe, items=["after"])
    wait_for(probe, lambda p: p["queue"]["done"] == 1)
    assert executions(probe) == collections.Counter({"after": 1})


def _pid_of(env: AgiEnv, worker: str) -> int:
    from agi_jupyter.core.service.heartbeat import read_heartbeats

    return read_heartbeats(env.service_dir / "queue" / "heartbeats")[worker].pid


def test_status_from_a_process_that_cannot_see_the_service_is_unknown_and_writes_nothing(probe: AgiEnv) -> None:
    started = serve(probe, "start")
    wait_for(probe, lambda p: p["workers_healthy_count"] == 2)
    snapshot = probe.service_dir / "health.json"
    before = snapshot.read_bytes()
    where = ["--apps-path", str(probe.apps_path)]
    command = [sys.executable, "-m", "agi_jupyter.cli", "serve", "probe", "status", *where, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "unknown" and answer["recorded_status"] == "running", answer
    assert sorted(answer["workers_healthy"]) == sorted(started["workers_healthy"])
    assert snapshot.read_bytes() == before, "a process that cannot see the service rewrote its snapshot"
    stop = subprocess.run(
        [*command[:5], "stop", *where], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert stop.returncode == 1 and "cannot reach" in stop.stderr
    assert wait_for(probe, lambda p: p["workers_healthy_count"] == 2)["status"] == "running"
    gate = subprocess.run(
        [sys.executable, "-m", "agi_jupyter.cli", "health", "probe", *where],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert gate.returncode == 0, gate.stderr  # a healthy service with an empty queue passes the default gate


def test_run_refuses_workers_whose_threads_all_hold_service_loops(probe: AgiEnv) -> None:
    serve(probe, "start")
    wait_for(probe, lambda p: p["workers_healthy_count"] == 2)

    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = asyncio.run(AGI.run(probe, RunRequest(mode=Mode.DASK)))
        except Exception as error:  # noqa: BLE001 - the test reads it below
            outcome["error"] = error

    runner = threading.Thread(target=run, daemon=True)  # a RUN that waits forever must not hang the test
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "RUN waits behind the service loops without a word"
    refused = outcome.get("error")
    assert isinstance(refused, ServiceError), outcome
    assert "probe" in str(refused) and "stop" in str(refused).lower()
    assert executions(probe) == collections.Counter()  # nothing was submitted
    serve(probe, "stop")
    result = asyncio.run(AGI.run(probe, RunRequest(mode=Mode.DASK)))
    assert executions(probe) == collections.Counter({f"item{n}": 1 for n in range(4)}) and result.seconds >= 0


def test_pruning_never_removes_the_heartbeat_of_a_live_loop(probe: AgiEnv) -> None:
    serve(probe, "start")
    wait_for(probe, lambda p: p["workers_healthy_count"] == 2)
    [task] = submit(probe, items=["leased"], params={"delay": 3.0})
    wait_for(probe, lambda p: p["queue"]["running"] == 1)
    seen: list[dict[str, Any]] = []
    for _ in range(6):  # heartbeats older than 0 h and more than 0 files: every one is "expired"
        seen.append(serve(probe, "status", heartbeat_ttl_hours=0.0, heartbeat_max_files=0))
        time.sleep(0.4)
    wait_for(probe, lambda p: p["queue"]["done"] == 1 and p["queue"]["running"] == 0)
    assert all(not payload["restart_reasons"] for payload in seen), [p["restart_reasons"] for p in seen]
    assert executions(probe)["leased"] == 1 and list(results(probe, "done")) == [task]


def test_a_stuck_loop_on_a_worker_without_a_nanny_is_not_removed_from_the_cluster(probe: AgiEnv) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=":0",
            protocol="tcp://",
            host="127.0.0.1",
        ) as theirs,
        Client(theirs) as client,
    ):
        lines: list[str] = []
        asyncio.run(AGI.serve(probe, action="start", heartbeat_timeout=TIMEOUT, on_line=lines.append))
        worker = next(iter(client.nthreads()))
        [task] = submit(probe, items=["stuck"], params={"delay": 6.0}, time_limit=1.0)
        wait_for(probe, lambda p: "task-timeout(1s)" in p["restart_reasons"].values())
        assert list(results(probe, "failed")) == [task]
        assert list(client.nthreads()) == [worker], "the only worker was removed"
        serve(probe, "stop", stop_timeout=10.0)
