"""The service queue, pruning and the health gate, without Dask."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from agi_jupyter.core.service.health import gate, snapshot, worker_row
from agi_jupyter.core.service.queue import TaskQueue
from agi_jupyter.core.service.records import HealthSnapshot, HeartbeatRecord, TaskOutcome
from agi_jupyter.core.settings import ServiceHealthSettings


def test_concurrent_claims_take_every_task_exactly_once(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path)
    ids = {queue.submit([n]) for n in range(300)}
    taken: list[str] = []
    lock = threading.Lock()

    def consume(name: str) -> None:
        while (task := queue.claim(name)) is not None:
            with lock:
                taken.append(task.id)
            queue.publish(task, TaskOutcome(worker=name))

    threads = [threading.Thread(target=consume, args=(f"loop{n}~inc{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(ids)
    assert queue.counts() == {"pending": 0, "running": 0, "done": 300, "failed": 0}


def test_claims_are_taken_oldest_first_and_held_in_running(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path)
    first, second = queue.submit(["a"]), queue.submit(["b"])
    task = queue.claim("w~1")
    assert task is not None and task.id == first and (tmp_path / "running" / f"{first}@w~1.json").is_file()
    assert queue.counts()["pending"] == 1
    again = queue.claim("w~1")
    assert again is not None and again.id == second


def test_a_dead_claimers_task_goes_back_to_pending_then_to_failed(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path)
    task_id = queue.submit(["x"])
    for attempt in (1, 2):
        queue.claim(f"w~dead{attempt}")
        assert queue.recover(lambda claimer: claimer.endswith("alive"), max_attempts=3) == [task_id]
        assert json.loads((tmp_path / "pending" / f"{task_id}.json").read_text())["attempts"] == attempt
    queue.claim("w~dead3")
    queue.recover(lambda claimer: False, max_attempts=3)
    failed = json.loads((tmp_path / "failed" / f"{task_id}.json").read_text())
    assert "gave up after 3 attempts" in failed["error"] and queue.counts()["running"] == 0


def test_a_live_claimers_task_is_left_alone(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path)
    queue.submit(["x"])
    queue.claim("w~alive")
    assert queue.recover(lambda claimer: claimer == "w~alive") == []
    assert queue.counts()["running"] == 1


def test_tasks_must_be_json(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path)
    with pytest.raises(TypeError):
        queue.submit([object()])
    assert queue.counts()["pending"] == 0


def forge(folder: Path, count: int, hours_old: float, now: float) -> list[Path]:
    paths = []
    for number in range(count):
        path = folder / f"{hours_old}-{number}.json"
        path.write_text("{}")
        stamp = now - hours_old * 3600 - number  # the higher the number, the older
        os.utime(path, (stamp, stamp))
        paths.append(path)
    return paths


def test_prune_by_age_and_count_never_touches_pending_or_running(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path)
    now = time.time()
    old_done = forge(queue.folder("done"), 3, 200, now)  # older than 168 h
    new_done = forge(queue.folder("done"), 5, 1, now)
    forge(queue.folder("failed"), 2, 300, now)  # younger than 336 h
    forge(queue.folder("heartbeats"), 4, 30, now)  # older than 24 h
    old_pending = forge(queue.folder("pending"), 2, 1000, now)
    old_running = forge(queue.folder("running"), 1, 1000, now)
    removed = queue.prune(
        {"done": 168, "failed": 336, "heartbeats": 24}, {"done": 4, "failed": 2000, "heartbeats": 1000}, now=now
    )
    assert removed == {"done": 3 + 1, "failed": 0, "heartbeats": 4}
    assert not any(path.exists() for path in old_done)
    assert [path.exists() for path in new_done] == [True, True, True, True, False]  # the oldest goes
    assert all(path.exists() for path in old_pending + old_running)


def payload(
    status_rows: list[tuple[bool, str]],
    *,
    queue: dict | None = None,
    restarted: dict | None = None,
    started: bool = True,
) -> HealthSnapshot:
    now = time.time()
    rows = [
        worker_row(
            f"tcp://127.0.0.1:{9000 + n}",
            healthy,
            "" if healthy else "stale-heartbeat(12.0s)",
            state,
            HeartbeatRecord(worker="w", state="running", pid=1, incarnation="i", slot=n, timestamp=now),
            now,
        )
        for n, (healthy, state) in enumerate(status_rows)
    ]
    return snapshot(
        app="a_project",
        target="a",
        rows=rows,
        queue=queue or {},
        started=started,
        restarted=restarted or {},
        timeout=10.0,
        queue_dir=Path("/q"),
        cleanup={},
        client_status="running",
        pending=[],
    )


@pytest.mark.parametrize(
    "snap, limits, code, words",
    [
        (payload([(True, "running")] * 2, queue={"pending": 1}), {}, 0, "running"),
        (payload([(True, "running")] * 2), {}, 0, "running"),  # a healthy service with an empty queue is running
        (payload([], started=False), {}, 4, "idle"),
        (payload([], started=False), {"allow_idle": True}, 0, "idle"),
        (payload([], started=False).model_copy(update={"status": "stopped"}), {}, 4, "stopped"),
        (
            payload([], started=False, restarted={"w": "loop-error"}).model_copy(update={"status": "stopped"}),
            {},
            4,
            "stopped",
        ),
        (payload([(True, "running"), (False, "running")]), {}, 2, "1 unhealthy"),
        (payload([(True, "running"), (False, "running")]), {"max_unhealthy": 1}, 3, "degraded"),
        (payload([(False, "running")] * 2), {"max_unhealthy": 2}, 3, "error"),
        (
            payload([(True, "running")] * 2, queue={"running": 1}, restarted={"w": "loop-error"}),
            {},
            5,
            "restart rate 0.50",
        ),
        (
            payload([(True, "running")] * 2, queue={"running": 1}, restarted={"w": "loop-error"}),
            {"max_restart_rate": 0.5},
            0,
            "running",
        ),
        (payload([(True, "running")]).model_copy(update={"status": "weird"}), {}, 3, "unknown status"),
    ],
)
def test_gate(snap: HealthSnapshot, limits: dict, code: int, words: str) -> None:
    verdict = gate(snap, ServiceHealthSettings(**limits))
    assert verdict.code == code and words in verdict.reason and verdict.passed == (code == 0)
    assert gate(snap.wire(), ServiceHealthSettings(**limits)) == verdict  # the JSON form serve() answers
