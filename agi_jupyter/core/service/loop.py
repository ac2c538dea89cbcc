"""The long-lived service loop: one Dask task per worker slot, taking tasks from the queue.

It sets the app's worker up once (start, work_init, pool_init), then repeatedly claims a task,
runs its items through ``process_chunk`` and publishes the result. Between tasks it waits on its
own Dask event, which ``submit`` sets, so a new task starts at once; the wait times out every
heartbeat interval as the polling fallback. It stops when its incarnation's Dask event is set,
after the task in hand (STOP never abandons a task half done).

Two rules keep results apart and honest:

- a task's outputs are labelled ``<label>-<task id>``, so two tasks of the same chunk with
  different params never write the same file;
- a task has a time limit (its own ``time_limit`` or the service's ``task_timeout``). When it
  runs past it, the heartbeat thread fails the task with a timeout reason and marks the loop
  ``task-timeout``; the next STATUS restarts the loop (and its Dask worker, which ends the hung
  code). Should the hung code finish after all, its publish finds the claim gone and is recorded
  as a duplicate instead of replacing the timeout verdict.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path
from typing import Any

from ..jobs import WorkerSpec
from ..runner import make_worker
from .heartbeat import Heartbeat, claimer_name, incarnation_of
from .queue import TaskQueue
from .records import ClaimedTask, LoopConfig, LoopSummary, TaskOutcome

logger = logging.getLogger(__name__)

__all__ = ["claimer_name", "incarnation_of", "service_loop"]


def service_loop(spec: WorkerSpec, slot: int, slot_count: int, config: LoopConfig) -> LoopSummary:
    """Serve tasks until told to stop; returns how many it did (the future's result)."""
    from distributed import Event, get_worker

    address = get_worker().address
    queue = TaskQueue(Path(config.queue_dir))
    incarnation = config.incarnation
    claimer = claimer_name(address, incarnation)
    stop = Event(config.stop_event)
    wake = Event(config.wake_event)
    timeout = config.heartbeat_timeout
    in_hand: dict[str, ClaimedTask] = {}
    workers: dict[str, Any] = {}  # the app's workers, by their params
    done = failed = 0

    def time_out(task_id: str, limit: float) -> None:
        task = in_hand.get("task")
        if task is not None and task.id == task_id:
            queue.publish(
                task,
                TaskOutcome(
                    worker=address,
                    claimer=claimer,
                    finished=time.time(),
                    error=f"task-timeout: ran longer than its limit of {limit:g} s",
                ),
                failed=True,
            )

    with Heartbeat(queue.folder("heartbeats"), address, incarnation, slot, timeout, on_overdue=time_out) as beat:
        workers[""] = _ready_worker(spec, slot, slot_count, {})
        try:
            while not stop.is_set():
                task = queue.claim(claimer)
                if task is None:
                    _idle(workers[""], wake, timeout / 3)
                    continue
                in_hand["task"] = task
                beat.working(task.id, task.time_limit or config.task_timeout)
                ok = _serve_one(queue, task, spec, slot, slot_count, workers, address, claimer)
                in_hand.clear()
                done, failed = done + ok, failed + (not ok)
                beat.idle()
        finally:
            for worker in workers.values():
                worker.stop()
    return LoopSummary(worker=address, incarnation=incarnation, done=done, failed=failed)


def _ready_worker(spec: WorkerSpec, slot: int, slot_count: int, params: dict[str, Any]) -> Any:
    worker = make_worker(spec.with_args(params), slot, slot_count)
    worker.start()
    worker.work_init()
    worker.pool_init(worker.pool_vars())
    return worker


def _idle(worker: Any, wake: Any, interval: float) -> None:
    """Wait for a submit's signal (or the polling interval); clear it before the next scan.

    Clearing before scanning loses nothing: a task submitted after the clear sets the event
    again, and one submitted before it is found by the scan.
    """
    if callable(getattr(worker, "loop", None)):
        worker.loop()  # the app's optional periodic hook
    try:
        if wake.wait(timeout=interval):
            wake.clear()
    except Exception:  # noqa: BLE001 - a scheduler hiccup: poll the folder again
        logger.debug("wake event unavailable; polling the queue", exc_info=True)


def _serve_one(
    queue: TaskQueue,
    task: ClaimedTask,
    spec: WorkerSpec,
    slot: int,
    slot_count: int,
    workers: dict[str, Any],
    address: str,
    claimer: str,
) -> bool:
    """Run one task and publish its result; any error (bad params included) fails only this task."""
    started = time.time()
    try:
        params = task.params
        key = repr(sorted(params.items()))
        worker = workers.get(key) if params else workers[""]
        if worker is None:
            worker = workers[key] = _ready_worker(spec, slot, slot_count, params)
        worker.outputs = []
        frame = worker.process_chunk(task.items, f"{task.label or 'task'}-{task.id}")
        landed = queue.publish(
            task,
            TaskOutcome(
                worker=address,
                claimer=claimer,
                started=started,
                finished=time.time(),
                seconds=round(time.time() - started, 6),
                outputs=[str(path) for path in worker.outputs],
                rows=0 if frame is None else len(frame),
            ),
        )
        return landed is not None  # None: the claim was taken meanwhile (timed out); recorded as a duplicate
    except Exception as error:  # noqa: BLE001 - the task failed, the loop goes on
        queue.publish(
            task,
            TaskOutcome(
                worker=address,
                claimer=claimer,
                started=started,
                finished=time.time(),
                error=repr(error),
                traceback=traceback.format_exc(),
            ),
            failed=True,
        )
        return False
