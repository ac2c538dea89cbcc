"""Two processes pruning the same queue at once: neither fails, every file is counted once."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

from agi_jupyter.core.service.queue import TaskQueue

EXPIRED = 20_000
TTL = {"done": 1.0, "failed": 1.0, "heartbeats": 1.0}
MAX_FILES = {"done": 100_000, "failed": 100_000, "heartbeats": 100_000}


def _prune_in_process(root: str, now: float, barrier: Any, answers: Any) -> None:
    """Prune once, right after the other pruner is ready too; report the counts or the error."""
    queue = TaskQueue(Path(root))
    barrier.wait()
    try:
        answers.put(("ok", queue.prune(TTL, MAX_FILES, now=now)))
    except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
        answers.put(("error", repr(error)))


def test_two_processes_pruning_20000_expired_files_both_finish_and_count_each_file_once(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "q")
    now = time.time()
    stamp = now - 2 * 3600
    for number in range(EXPIRED):
        path = queue.folder("done") / f"{number:020d}-0000abcd.json"
        path.write_text("{}")
        os.utime(path, (stamp, stamp))
    keeper = queue.folder("done") / "fresh.json"
    keeper.write_text("{}")
    context = multiprocessing.get_context("spawn")
    barrier, answers = context.Barrier(2), context.Queue()
    pruners = [
        context.Process(target=_prune_in_process, args=(str(queue.root), now, barrier, answers)) for _ in range(2)
    ]
    for pruner in pruners:
        pruner.start()
    outcomes = [answers.get(timeout=300) for _ in pruners]
    for pruner in pruners:
        pruner.join()
    assert [status for status, _ in outcomes] == ["ok", "ok"], outcomes
    assert sum(counts["done"] for _, counts in outcomes) == EXPIRED
    assert [path.name for path in queue.folder("done").iterdir()] == ["fresh.json"]
