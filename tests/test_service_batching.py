"""The service's batches: claims from one listing, results published with one folder sync, bursts
submitted with one folder sync, and heartbeats written when a state lasts. None of them may hand a
task to two loops or lose one, whatever process dies when."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from agi_jupyter.core import files
from agi_jupyter.core.service.heartbeat import Heartbeat
from agi_jupyter.core.service.queue import TaskQueue
from agi_jupyter.core.service.records import HeartbeatRecord, TaskOutcome

ALL_DEAD = lambda claimer: False  # noqa: E731 - a predicate, named for reading


def _serve_as_a_loop(root: str, claimer: str, ran: str, start: float) -> None:
    """What a loop does with the batching calls: claim until empty, hold results, flush by 32."""
    queue = TaskQueue(Path(root))
    while time.time() < start:  # both processes begin together
        time.sleep(0.001)
    with open(ran, "a", encoding="utf-8") as log:
        while (task := queue.claim(claimer)) is not None:
            log.write(f"{task.id}\n")
            log.flush()
            if queue.publish_later(task, TaskOutcome(claimer=claimer)) >= 32:
                queue.flush()
        queue.flush()


def _results(queue: TaskQueue, folder: str) -> set[str]:
    return {path.stem for path in queue.folder(folder).glob("*.json")}


def test_two_processes_claiming_one_queue_of_2000_run_each_task_once(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q")
    ids = queue.submit_many([{"items": [number]} for number in range(2000)])
    context = multiprocessing.get_context("spawn")
    start = time.time() + 1.5
    logs = [tmp_path / f"ran-{name}.txt" for name in ("a", "b")]
    processes = [
        context.Process(target=_serve_as_a_loop, args=(str(queue.root), f"w{name}~loop", str(log), start))
        for name, log in zip(("a", "b"), logs, strict=True)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    runs = [log.read_text().split() for log in logs]
    assert all(runs), "both processes must have claimed tasks for the race to mean anything"
    everything = runs[0] + runs[1]
    assert sorted(everything) == sorted(ids), "a task ran twice or not at all"
    assert _results(queue, "done") == set(ids)
    assert queue.counts() == {"pending": 0, "running": 0, "done": 2000, "failed": 0}
    assert not list(queue.folder("duplicates").iterdir())


def _list_claim_hold_and_wait(root: str, ready: str) -> None:
    """A loop that listed the whole queue, claimed and ran 5 tasks, holds their results, and is killed."""
    queue = TaskQueue(Path(root))
    for _ in range(5):
        task = queue.claim("wa~doomed")
        assert task is not None
        queue.publish_later(task, TaskOutcome(claimer="wa~doomed"))
    Path(ready).write_text("listed")
    time.sleep(60)


def test_a_loop_killed_mid_batch_loses_no_task(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q")
    ids = queue.submit_many([{"items": [number]} for number in range(200)])
    ready = tmp_path / "ready"
    process = multiprocessing.get_context("spawn").Process(
        target=_list_claim_hold_and_wait, args=(str(queue.root), str(ready))
    )
    process.start()
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert time.monotonic() < deadline and process.is_alive()
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    # Its listed-but-unclaimed names are still pending; its 5 claims are in running/, unpublished.
    assert queue.counts() == {"pending": 195, "running": 5, "done": 0, "failed": 0}
    other = TaskQueue(queue.root)
    served = []
    while (task := other.claim("wb~alive")) is not None:
        other.publish_later(task, TaskOutcome(claimer="wb~alive"))
        served.append(task.id)
    other.flush()
    assert len(served) == 195 and queue.counts()["running"] == 5
    recovered = other.recover(lambda claimer: claimer != "wa~doomed")
    assert len(recovered) == 5
    while (task := other.claim("wb~alive")) is not None:
        other.publish(task, TaskOutcome(claimer="wb~alive"))
    assert _results(queue, "done") == set(ids)
    assert queue.counts() == {"pending": 0, "running": 0, "done": 200, "failed": 0}


def test_held_results_keep_their_claims_until_the_flush_syncs_done_once(monkeypatch, tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q")
    ids = queue.submit_many([{"items": [number]} for number in range(3)])
    held = [queue.claim("w~1") for _ in ids]
    for task in held:
        queue.publish_later(task, TaskOutcome(rows=1))
    assert queue.counts() == {"pending": 0, "running": 3, "done": 0, "failed": 0}
    synced: list[str] = []
    real_sync = files.sync_folder
    monkeypatch.setattr(files, "sync_folder", lambda folder: (synced.append(Path(folder).name), real_sync(folder)))
    assert queue.flush() == [(task_id, True) for task_id in ids]
    assert synced == ["done"]
    assert queue.counts() == {"pending": 0, "running": 0, "done": 3, "failed": 0}
    assert json.loads((queue.folder("done") / f"{ids[0]}.json").read_text())["rows"] == 1
    assert queue.flush() == []


def test_a_held_result_whose_claim_was_recovered_goes_to_duplicates(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q")
    first, second = queue.submit_many([{"items": ["a"]}, {"items": ["b"]}])
    stale = queue.claim("w~stalled")
    queue.publish_later(stale, TaskOutcome(rows=1))
    queue.recover(ALL_DEAD)  # the loop looked dead: its claim went back to pending/
    rerun = TaskQueue(queue.root)
    served = {task.id for task in iter(lambda: rerun.claim("w~other"), None)}
    assert served == {first, second}
    # the stalled loop comes back and flushes: its result must not be published
    assert queue.flush() == [(first, False)]
    assert [path.name.split("@")[0] for path in queue.folder("duplicates").iterdir()] == [first]
    assert not (queue.folder("done") / f"{first}.json").exists()


def test_a_failing_flush_gives_the_claims_back_and_keeps_the_results(monkeypatch, tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q")
    ids = queue.submit_many([{"items": ["a"]}, {"items": ["b"]}])
    for _ in ids:
        queue.publish_later(queue.claim("w~1"), TaskOutcome(rows=1))
    real_link = os.link
    armed = [True]

    def failing(source, target, *rest, **kwargs):
        if armed[0]:
            armed[0] = False
            raise OSError(28, "No space left on device (injected)")
        return real_link(source, target, *rest, **kwargs)

    monkeypatch.setattr(os, "link", failing)
    with pytest.raises(OSError):
        queue.flush()
    monkeypatch.undo()
    assert sorted(path.name for path in queue.folder("running").iterdir()) == sorted(f"{i}@w~1.json" for i in ids[:1])
    assert queue.flush() == [(ids[0], True)]
    assert queue.counts() == {"pending": 0, "running": 0, "done": 2, "failed": 0}


def test_a_burst_is_checked_whole_before_anything_is_written_and_synced_once(monkeypatch, tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q")
    with pytest.raises(ValueError):
        queue.submit_many([{"items": ["fine"]}, {"items": ["bad"], "time_limit": 0}])
    assert queue.counts()["pending"] == 0 and not list(queue.folder("pending").iterdir())
    synced: list[str] = []
    real_sync = files.sync_folder
    monkeypatch.setattr(files, "sync_folder", lambda folder: (synced.append(Path(folder).name), real_sync(folder)))
    ids = queue.submit_many([{"items": [number], "label": f"n{number}"} for number in range(50)])
    assert synced == ["pending"] and ids == sorted(ids) and len(set(ids)) == 50
    task = queue.claim("w~1")
    assert task.id == ids[0] and task.label == "n0" and task.items == [0]


def _beat(folder: Path) -> HeartbeatRecord:
    [path] = folder.glob("*.json")
    return HeartbeatRecord.model_validate_json(path.read_bytes())


def test_a_heartbeat_writes_a_state_that_lasts_not_each_tiny_task(monkeypatch, tmp_path: Path) -> None:
    from agi_jupyter.core.service import heartbeat as module

    writes: list[str] = []
    real_write = module.write_heartbeat
    monkeypatch.setattr(
        module, "write_heartbeat", lambda *args, **kw: (writes.append(args[2]), real_write(*args, **kw))
    )
    calls: list[int] = []
    with Heartbeat(tmp_path, "tcp://127.0.0.1:1", "inc", 0, 30.0, settle=0.2, before_write=lambda: calls.append(1)):
        pass
    assert writes == ["running", "stopped"]
    writes.clear()
    with Heartbeat(
        tmp_path, "tcp://127.0.0.1:1", "inc", 0, 30.0, settle=0.2, before_write=lambda: calls.append(1)
    ) as beat:
        for number in range(200):  # a burst of tiny tasks
            beat.working(f"t{number}", None)
            beat.idle()
        assert writes == ["running"]
        beat.working("long", 5.0)
        deadline = time.monotonic() + 10
        while _beat(tmp_path).task != "long":
            assert time.monotonic() < deadline, "a task that lasts was never written"
            time.sleep(0.01)
        assert _beat(tmp_path).state == "processing" and calls, "the held results are published before the write"
