"""The service queue under hostile entries, failing writes, crashes and racing publishers.

Each test builds the fault with real files (and real processes where a crash or a race is the
point); a failing write is injected by making one call raise once.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agi_jupyter.core.service import queue as queue_module
from agi_jupyter.core.service.queue import TASK_SCHEMA, TaskQueue, new_task_id
from agi_jupyter.core.service.records import ClaimedTask, TaskOutcome

ALL_DEAD: Callable[[str], bool] = lambda claimer: False  # noqa: E731 - a predicate, named for reading


# ----- helpers ---------------------------------------------------------------------------------
def task_record(task_id: str, **fields: Any) -> dict[str, Any]:
    """A task file's content as submit() writes it, with ``fields`` overriding."""
    return {
        "schema": TASK_SCHEMA,
        "id": task_id,
        "label": "forged",
        "items": ["a"],
        "params": {},
        "attempts": 0,
        "submitted": 1.0,
        **fields,
    }


def place(path: Path, content: Any) -> Path:
    """Write a queue file the way a foreign process or a careless human might (bytes, text or JSON)."""
    if not isinstance(content, (bytes, str)):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def outside_files(base: Path, queue_root: Path) -> dict[Path, bytes]:
    """Every file under ``base`` that is not inside the queue, with its bytes."""
    return {
        path: path.read_bytes() for path in base.rglob("*") if path.is_file() and not path.is_relative_to(queue_root)
    }


def serve_everything(queue: TaskQueue, claimer: str = "w~loop") -> list[str]:
    """What a loop does: claim until empty, publishing each task; the ids it served."""
    served = []
    while (task := queue.claim(claimer)) is not None:
        queue.publish(task, TaskOutcome(rows=1))
        served.append(task.id)
    return served


def failed_reasons(queue: TaskQueue) -> dict[str, str]:
    """failed/ record name -> its error text."""
    return {path.name: json.loads(path.read_text()).get("error", "") for path in queue.folder("failed").glob("*.json")}


def raise_once(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, when: Callable[..., bool] = lambda *args, **kwargs: True
) -> None:
    """Make ``owner.name`` raise OSError the first time ``when(*args)`` holds, then behave."""
    original = getattr(owner, name)
    armed = [True]

    def failing(*args: Any, **kwargs: Any) -> Any:
        if armed[0] and when(*args, **kwargs):
            armed[0] = False
            raise OSError(28, "No space left on device (injected)")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[TaskQueue, Path]:
    """A queue in ``tmp_path/q`` and a victim file beside it that must never change."""
    victim = tmp_path / "victim" / "config.json"
    victim.parent.mkdir()
    victim.write_text('{"precious": true}')
    return TaskQueue(tmp_path / "q"), victim


TRAVERSAL_ID = "../../victim/config"  # from q/<folder>/ up to tmp_path, then into victim/


# ----- item 1: identity is the file name ---------------------------------------------------------
def test_a_traversal_id_in_pending_touches_nothing_outside_the_queue(tmp_path: Path, layout) -> None:
    queue, _victim = layout
    name = new_task_id()
    place(queue.folder("pending") / f"{name}.json", task_record(TRAVERSAL_ID))
    before = outside_files(tmp_path, queue.root)
    serve_everything(queue)
    assert outside_files(tmp_path, queue.root) == before
    reasons = failed_reasons(queue)
    assert "id" in reasons[f"{name}.json"] and f"{name}.json" in reasons[f"{name}.json"]


@pytest.mark.parametrize("attempts", [0, 2], ids=["requeued", "given-up"])
def test_a_traversal_id_in_a_dead_claim_touches_nothing_outside_the_queue(
    tmp_path: Path, layout, attempts: int
) -> None:
    queue, _victim = layout
    name = new_task_id()
    place(queue.folder("running") / f"{name}@w~dead.json", task_record(TRAVERSAL_ID, attempts=attempts))
    before = outside_files(tmp_path, queue.root)
    queue.recover(ALL_DEAD, max_attempts=3)
    serve_everything(queue)
    assert outside_files(tmp_path, queue.root) == before
    assert queue.counts()["running"] == 0 and "id" in failed_reasons(queue)[f"{name}.json"]


def test_publish_refuses_a_claim_or_id_that_leaves_the_queue(tmp_path: Path, layout) -> None:
    queue, victim = layout
    before = outside_files(tmp_path, queue.root)
    with pytest.raises(ValueError):
        queue.publish(
            ClaimedTask(id=TRAVERSAL_ID, label="x", items=[], params={}, claim="../../victim/config.json"),
            TaskOutcome(rows=1),
        )
    assert outside_files(tmp_path, queue.root) == before and victim.exists()


def test_a_file_with_a_foreign_name_goes_to_failed_under_a_safe_name(layout) -> None:
    queue, _ = layout
    place(queue.folder("pending") / "notes about..json", task_record(new_task_id()))
    good = queue.submit(["fine"])
    assert serve_everything(queue) == [good]
    reason = next(text for name, text in failed_reasons(queue).items() if name.startswith("notes"))
    assert "notes about..json" in reason and "name" in reason
    assert all(not path.name.startswith(".") for path in queue.folder("failed").iterdir())


# ----- item 2: a resumed loop never overwrites the result -----------------------------------------
def test_a_loop_that_resumes_after_its_claim_was_recovered_records_a_duplicate(layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    stalled = queue.claim("w~stalled")
    assert queue.recover(lambda claimer: claimer != "w~stalled") == [task_id]
    fresh = queue.claim("w~fresh")
    assert queue.publish(fresh, TaskOutcome(rows=2, by="fresh")) == queue.folder("done") / f"{task_id}.json"
    assert queue.publish(stalled, TaskOutcome(rows=1, by="stalled")) is None
    assert json.loads((queue.folder("done") / f"{task_id}.json").read_text())["by"] == "fresh"
    [duplicate] = queue.folder("duplicates").glob(f"{task_id}*.json")
    record = json.loads(duplicate.read_text())
    assert record["by"] == "stalled" and "claim" in record["duplicate"]
    assert queue.counts() == {"pending": 0, "running": 0, "done": 1, "failed": 0}


def test_a_stalled_loop_whose_task_was_requeued_does_not_publish_it(layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    stalled = queue.claim("w~stalled")
    queue.recover(ALL_DEAD)
    assert queue.publish(stalled, TaskOutcome(rows=1), failed=True) is None
    assert not (queue.folder("failed") / f"{task_id}.json").exists()
    assert queue.claim("w~fresh").attempts == 1  # still there to be done properly


def _publish_in_process(root: str, task: ClaimedTask, number: int, barrier: Any, answers: Any) -> None:
    barrier.wait()
    answers.put((number, str(TaskQueue(Path(root)).publish(task, TaskOutcome(publisher=number)))))


def test_of_two_publishers_of_one_claim_only_one_result_lands(layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    task = queue.claim("w~twice")
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_publish_in_process, args=(str(queue.root), task, n, barrier, answers)) for n in range(4)
    ]
    for process in processes:
        process.start()
    results = dict(answers.get(timeout=120) for _ in processes)
    for process in processes:
        process.join()
    landed = [number for number, path in results.items() if path != "None"]
    assert len(landed) == 1
    done = json.loads((queue.folder("done") / f"{task_id}.json").read_text())
    assert done["publisher"] == landed[0]
    assert len(list(queue.folder("duplicates").glob("*.json"))) == 3


def test_a_result_already_in_done_is_never_overwritten(layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    task = queue.claim("w~1")
    (queue.folder("done") / f"{task_id}.json").write_text('{"first": true}')
    assert queue.publish(task, TaskOutcome(second=True)) is None
    assert json.loads((queue.folder("done") / f"{task_id}.json").read_text()) == {"first": True}
    assert queue.counts()["running"] == 0 and list(queue.folder("duplicates").glob(f"{task_id}*"))


# ----- item 4: recovery never strands a task -------------------------------------------------------
def test_a_failing_requeue_write_leaves_the_task_for_the_next_recovery(monkeypatch, layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    queue.claim("w~dead")
    raise_once(monkeypatch, os, "replace", lambda source, target, *rest: Path(target).parent.name == "pending")
    raise_once(monkeypatch, os, "link", lambda source, target, *rest: Path(target).parent.name == "pending")
    with contextlib.suppress(OSError):  # the old code let it escape; what matters is what the next recovery finds
        queue.recover(ALL_DEAD)
    monkeypatch.undo()
    queue.recover(ALL_DEAD)
    pending = json.loads((queue.folder("pending") / f"{task_id}.json").read_text())
    assert pending["attempts"] == 1 and queue.counts()["running"] == 0


def test_a_failing_result_write_keeps_the_claim(monkeypatch, layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    task = queue.claim("w~1")
    raise_once(monkeypatch, queue_module, "write_json")
    raise_once(monkeypatch, os, "link")
    with pytest.raises(OSError):
        queue.publish(task, TaskOutcome(rows=1))
    monkeypatch.undo()
    assert (queue.folder("running") / task.claim).exists()
    assert queue.publish(task, TaskOutcome(rows=1)) == queue.folder("done") / f"{task_id}.json"


def _recover_and_die(root: str, crash_at: str) -> None:
    """A recoverer killed at one step: os._exit, so no cleanup of any kind runs."""
    import pathlib

    from agi_jupyter.core.service import queue as module

    def die(*args: Any, **kwargs: Any) -> None:
        os._exit(17)

    if crash_at == "before-requeue":
        module.write_json = die
        os.replace = die
        os.link = die
    else:  # the task is back in pending/, the recoverer's own holding not yet removed
        pathlib.Path.unlink = die
        os.unlink = die
        os.remove = die
    TaskQueue(pathlib.Path(root)).recover(lambda claimer: False)


@pytest.mark.parametrize("crash_at", ["before-requeue", "after-requeue"])
def test_a_recoverer_killed_midway_leaves_a_state_the_next_recovery_finishes(layout, crash_at: str) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    queue.claim("w~dead")
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_recover_and_die, args=(str(queue.root), crash_at))
    process.start()
    process.join()
    assert process.exitcode == 17
    visible = [
        path.name
        for folder in ("pending", "running")
        for path in queue.folder(folder).iterdir()
        if not path.name.startswith(".")
    ]
    assert visible, "the task vanished from every visible folder"
    later = queue_module.RECOVERY_GRACE_SECONDS + 1 + time.time()
    queue.recover(ALL_DEAD, now=later)
    assert queue.counts() == {"pending": 1, "running": 0, "done": 0, "failed": 0}
    task = queue.claim("w~next")
    assert task.id == task_id and task.attempts == 1


def test_a_recovery_in_progress_is_not_taken_by_another_recoverer(layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    queue.claim("w~dead")
    [(claim, _claimer)] = queue.claims()
    holding = claim.with_name(f"{task_id}@recovering~{time.time_ns()}-abcdef.json")
    os.rename(claim, holding)  # another recoverer has just taken it
    assert queue.recover(ALL_DEAD) == [] and holding.exists()


def test_a_claim_hidden_by_the_previous_recovery_code_is_recovered(layout) -> None:
    queue, _ = layout
    task_id = queue.submit(["x"])
    queue.claim("w~dead")
    [(claim, _claimer)] = queue.claims()
    os.rename(claim, queue.root / f".recovering-{claim.name}")  # where the old recover() stranded it
    assert queue.recover(ALL_DEAD) == [task_id] and queue.claim("w~next").attempts == 1


# ----- item 5: a bad entry never kills a loop ------------------------------------------------------
BAD_RECORDS: dict[str, tuple[Callable[[str], Any], str]] = {
    "params-list": (lambda i: task_record(i, params=["x"]), "params"),
    "items-dict": (lambda i: task_record(i, items={"a": 1}), "items"),
    "label-number": (lambda i: task_record(i, label=7), "label"),
    "attempts-text": (lambda i: task_record(i, attempts="1"), "attempts"),
    "attempts-bool": (lambda i: task_record(i, attempts=True), "attempts"),
    "time-limit-negative": (lambda i: task_record(i, time_limit=-1), "time_limit"),
    "time-limit-text": (lambda i: task_record(i, time_limit="5"), "time_limit"),
    "id-missing": (lambda i: {k: v for k, v in task_record(i).items() if k != "id"}, "id"),
    "id-other": (lambda i: task_record(new_task_id()), "id"),
    "schema-other": (lambda i: task_record(i, schema="agi.service.task.v0"), "schema"),
    "not-an-object": (lambda i: ["a", "list"], "object"),
    "not-json": (lambda i: "{not json", "JSON"),
}


@pytest.mark.parametrize("kind", BAD_RECORDS)
def test_a_task_record_of_the_wrong_shape_goes_to_failed_and_the_loop_goes_on(layout, kind: str) -> None:
    queue, _ = layout
    make, word = BAD_RECORDS[kind]
    name = "00000000000000000001-0badf00d"
    place(queue.folder("pending") / f"{name}.json", make(name))
    good = queue.submit(["fine"])
    assert serve_everything(queue) == [good]
    reason = failed_reasons(queue)[f"{name}.json"]
    assert "corrupt task file" in reason and f"{name}.json" in reason and word in reason


def test_a_directory_in_pending_goes_to_failed(layout) -> None:
    queue, _ = layout
    (queue.folder("pending") / "00000000000000000001-0badf00d.json").mkdir()
    (queue.folder("pending") / "x.json").mkdir()
    good = queue.submit(["fine"])
    assert serve_everything(queue) == [good]
    reasons = " ".join(failed_reasons(queue).values())
    assert "x.json" in reasons and "00000000000000000001-0badf00d.json" in reasons and "directory" in reasons
    assert not any(queue.folder("pending").iterdir())


def test_a_directory_in_running_does_not_break_recovery(layout) -> None:
    queue, _ = layout
    (queue.folder("running") / "00000000000000000001-0badf00d@w~dead.json").mkdir()
    task_id = queue.submit(["x"])
    queue.claim("w~dead")
    assert queue.recover(ALL_DEAD) == [task_id]
    assert "directory" in " ".join(failed_reasons(queue).values())
    assert queue.counts()["running"] == 0


def test_a_symbolic_link_in_pending_is_not_followed(tmp_path: Path, layout) -> None:
    queue, _ = layout
    name = new_task_id()
    elsewhere = place(tmp_path / "elsewhere.json", task_record(name))
    (queue.folder("pending") / f"{name}.json").symlink_to(elsewhere)
    assert serve_everything(queue) == []
    assert "regular file" in failed_reasons(queue)[f"{name}.json"] and elsewhere.exists()


def test_an_unreadable_task_file_goes_to_failed(monkeypatch, layout) -> None:
    queue, _ = layout
    name = new_task_id()
    path = place(queue.folder("pending") / f"{name}.json", task_record(name))
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: inject the refusal the kernel would give
        raise_once(monkeypatch, os, "open", lambda file, *rest, **kw: str(file).endswith(f"{name}@w~loop.json"))
    good = queue.submit(["fine"])
    assert serve_everything(queue) == [good]
    assert "unreadable" in failed_reasons(queue)[f"{name}.json"]


def test_a_task_file_that_is_not_utf8_goes_to_failed(layout) -> None:
    queue, _ = layout
    name = new_task_id()
    place(queue.folder("pending") / f"{name}.json", b'{"schema": "\xff\xfe"}')
    good = queue.submit(["fine"])
    assert serve_everything(queue) == [good]
    assert "UTF-8" in failed_reasons(queue)[f"{name}.json"]


def test_an_oversized_task_file_goes_to_failed(monkeypatch, layout) -> None:
    queue, _ = layout
    monkeypatch.setattr(queue_module, "MAX_TASK_BYTES", 4096, raising=False)
    name = new_task_id()
    place(queue.folder("pending") / f"{name}.json", task_record(name, items=["x" * 100] * 100))
    good = queue.submit(["fine"])
    assert serve_everything(queue) == [good]
    assert "too large" in failed_reasons(queue)[f"{name}.json"]


def test_a_dead_claim_of_the_wrong_shape_goes_to_failed(layout) -> None:
    queue, _ = layout
    name = new_task_id()
    place(queue.folder("running") / f"{name}@w~dead.json", task_record(name, params=["x"]))
    assert queue.recover(ALL_DEAD) == []
    assert "params" in failed_reasons(queue)[f"{name}.json"] and queue.counts()["running"] == 0


# ----- the time limit is carried, and write_json is durable ----------------------------------------
def test_submit_carries_the_time_limit_to_the_claimed_task(layout) -> None:
    queue, _ = layout
    queue.submit(["a"], {"n": 1}, "with", time_limit=2.5)
    queue.submit(["b"], label="without")
    first, second = queue.claim("w~1"), queue.claim("w~1")
    assert first.time_limit == 2.5 and second.time_limit is None
    assert {"schema", "id", "label", "items", "params", "attempts", "submitted"} <= set(first.wire())
    assert first.claim == f"{first.id}@w~1.json" and "claim" not in first.wire()  # held, never written
    with pytest.raises(ValueError):
        queue.submit(["c"], time_limit=0)


def test_submit_refuses_a_task_too_large_for_a_loop_to_read(monkeypatch, layout) -> None:
    queue, _ = layout
    monkeypatch.setattr(queue_module, "MAX_TASK_BYTES", 4096)
    with pytest.raises(ValueError, match="too large"):
        queue.submit(["x" * 100] * 100)
    assert queue.counts()["pending"] == 0


def test_prune_removes_temporary_files_a_crashed_writer_left_and_only_stale_ones(layout) -> None:
    queue, _ = layout
    now = time.time()
    stale = place(queue.folder("pending") / ".a.json.1.deadbeef.tmp", "{")
    os.utime(stale, (now - 2 * queue_module.STALE_TEMPORARY_SECONDS,) * 2)
    fresh = place(queue.folder("running") / ".b.json.1.deadbeef.tmp", "{")
    queue.prune({"done": 1, "failed": 1, "heartbeats": 1}, {"done": 9, "failed": 9, "heartbeats": 9}, now=now)
    assert not stale.exists() and fresh.exists()


def test_write_json_syncs_the_file_before_renaming_it(monkeypatch, tmp_path: Path) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda *args: (events.append("replace"), real_replace(*args))[1])
    queue_module.write_json(tmp_path / "a.json", {"a": 1})
    assert events[:2] == ["fsync", "replace"] and json.loads((tmp_path / "a.json").read_text()) == {"a": 1}
    assert [path.name for path in tmp_path.iterdir()] == ["a.json"]
