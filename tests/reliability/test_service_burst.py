"""The fault suite: a 500-task burst while loops are killed (SIGKILL) and frozen (SIGSTOP).

Every execution of an item leaves a marker in a side folder (the probe worker writes it as the
item's last act), so the count of markers is the count of executions. Faults land while the
victim is inside an item (its heartbeat names the task and when it started), which is where a
kill or a freeze can lose or double work; the engine must lose nothing and run nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from probe_helpers import copy_probe, executions

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.core import cluster
from agi_jupyter.core.service.heartbeat import read_beats
from agi_jupyter.core.service.records import HeartbeatRecord

TIMEOUT = 2.0
TASKS = 500
DELAY = 0.15  # seconds per item: long enough to be caught inside it, and the burst outlasts the faults
FAULTS = ("SIGKILL", "SIGSTOP", "SIGKILL", "SIGSTOP")


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[AgiEnv]:
    env = copy_probe(tmp_path)
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
    yield env
    asyncio.run(AGI.serve(env, "stop"))
    cluster.close_local_cluster()


def serve(env: AgiEnv, action: str, **fields: Any) -> dict[str, Any]:
    return asyncio.run(AGI.serve(env, action=action, heartbeat_timeout=TIMEOUT, max_attempts=20, **fields))


def caught_inside_an_item(env: AgiEnv, loops: set[str]) -> HeartbeatRecord | None:
    """The heartbeat of a current loop that started its item less than half an item ago."""
    now = time.time()
    for beat in read_beats(env.service_dir / "queue" / "heartbeats").values():
        started = beat.task_started
        if beat.incarnation in loops and beat.state == "processing" and started and now - started < DELAY / 2:
            return beat
    return None


def strike(env: AgiEnv, fault: str, loops: set[str], limit: float = 30.0) -> HeartbeatRecord:
    """Send ``fault`` to a loop's process while it is inside an item."""
    deadline = time.monotonic() + limit
    while (beat := caught_inside_an_item(env, loops)) is None:
        beats = read_beats(env.service_dir / "queue" / "heartbeats")
        assert time.monotonic() < deadline, f"no loop was caught inside an item: {loops} {beats}"
        time.sleep(0.002)
    os.kill(beat.pid, getattr(signal, fault))
    return beat


def current_loops(payload: dict[str, Any], env: AgiEnv, frozen: list[int]) -> set[str]:
    """The incarnations of the loops that beat now (fresh heartbeat, not a process we froze)."""
    beats, now = read_beats(env.service_dir / "queue" / "heartbeats").values(), time.time()
    healthy = set(payload["workers_healthy"])
    return {
        beat.incarnation
        for beat in beats
        if beat.worker in healthy
        and beat.state != "stopped"
        and now - beat.timestamp < TIMEOUT / 2
        and beat.pid not in frozen
    }


@pytest.mark.slow
def test_a_burst_under_kills_and_freezes_loses_nothing_and_runs_nothing_twice(probe: AgiEnv) -> None:
    serve(probe, "start")
    ids = asyncio.run(AGI.submit(probe, items=None, params={"items": TASKS, "delay": DELAY}))
    assert len(ids) == TASKS
    frozen: list[int] = []
    reasons: list[str] = []
    rng = random.Random(9)

    def status() -> dict[str, Any]:
        payload = serve(probe, "status")
        reasons.extend(payload["restart_reasons"].values())
        return payload

    try:
        for fault in FAULTS:
            payload = status()
            while payload["workers_healthy_count"] < 2 or len(current_loops(payload, probe, frozen)) < 2:
                time.sleep(0.2)
                payload = status()
            time.sleep(rng.uniform(0.0, 0.5))
            beat = strike(probe, fault, current_loops(payload, probe, frozen))
            print(f"{time.time():.2f} {fault} pid {beat.pid} in {beat.task}; queue {payload['queue']}")
            if fault == "SIGSTOP":
                frozen.append(beat.pid)
        deadline = time.monotonic() + 240
        while True:
            queue = status()["queue"]
            if queue["done"] + queue["failed"] >= TASKS and queue["pending"] + queue["running"] == 0:
                break
            assert time.monotonic() < deadline, f"the burst did not finish: {queue}"
            time.sleep(0.3)
    finally:
        for pid in frozen:  # a frozen process the engine failed to end must not outlive the test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    done = {path.stem for path in (probe.service_dir / "queue" / "done").glob("*.json")}
    assert queue == {"pending": 0, "running": 0, "done": TASKS, "failed": 0}, queue
    assert done == set(ids), "a task was lost"
    counts = executions(probe)
    assert len(counts) == TASKS and max(counts.values()) == 1, (
        f"run twice: {[item for item, count in counts.items() if count > 1]}"
    )
    assert len(reasons) >= len(FAULTS), f"a struck loop was not restarted: {reasons}"
    assert all(
        re.fullmatch(r"loop-error|loop-cancelled|missing-heartbeat|stale-heartbeat\(\d+\.\ds\)", reason)
        for reason in reasons
    ), reasons
    duplicates = list((probe.service_dir / "queue" / "duplicates").glob("*.json"))
    assert duplicates == [], "a frozen loop came back and finished a task a second time"
