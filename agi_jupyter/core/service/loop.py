"""The long-lived service loop: one Dask task per worker slot, taking tasks from the queue.

It sets the app's worker up once (start, work_init, pool_init), then repeatedly claims a task,
runs its items through ``process_chunk`` and publishes the result: tiny tasks in a burst have
their results published in batches that share one folder sync (see :meth:`.queue.TaskQueue.flush`;
a task is done only once its result and its directory entry are durable, and it keeps its claim
until then). Between tasks it waits on its
own Dask event, which ``submit`` sets, so a new task starts at once; the wait times out every
heartbeat interval as the polling fallback. It stops when its incarnation's Dask event is set,
after the task in hand (STOP never abandons a task half done); a busy loop asks about that
event every ``STOP_LOOK_SECONDS``, not before every task, and its heartbeat is written when its
state has lasted a little (see :class:`.heartbeat.Heartbeat`), not twice per task.

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

PUBLISH_BATCH = 32
"""A busy loop publishes its results in batches of at most this many (one folder sync for all);
it also publishes what it holds before it waits for work, when it stops, and before each
heartbeat write (so at most ``SETTLE_SECONDS`` into a longer next task)."""

STOP_LOOK_SECONDS = 0.05
"""How often a busy loop asks the scheduler whether it must stop (a round trip: not once per task).
An idle loop looks after every wait, so STOP (which also wakes the loops) is seen at once."""

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
    tally = {"done": 0, "failed": 0}

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

    def publish_held() -> None:
        for _task_id, landed in queue.flush():
            tally["done" if landed else "failed"] += 1

    with Heartbeat(
        queue.folder("heartbeats"),
        address,
        incarnation,
        slot,
        timeout,
        on_overdue=time_out,
        before_write=publish_held,
    ) as beat:
        workers[""] = _ready_worker(spec, slot, slot_count, {})
        try:
            next_look = 0.0  # when to ask the scheduler about the stop event next (monotonic)
            woken = False  # the wake event was seen set and is not cleared yet
            while True:
                if time.monotonic() >= next_look:
                    if stop.is_set():
                        break
                    next_look = time.monotonic() + STOP_LOOK_SECONDS
                task = queue.claim(claimer)
                if task is None:
                    publish_held()
                    if stop.is_set():  # nothing in hand: look now (STOP sets it, then wakes the loops)
                        break
                    next_look = time.monotonic() + STOP_LOOK_SECONDS
                    if woken:  # clear, then scan again before waiting: a submit after the clear sets it again
                        _clear(wake)
                        woken = False
                        continue
                    woken = _idle(workers[""], wake, timeout / 3)
                    continue
                in_hand["task"] = task
                beat.working(task.id, task.time_limit or config.task_timeout)
                held = _serve_one(queue, task, spec, slot, slot_count, workers, address, claimer)
                in_hand.clear()
                if held >= PUBLISH_BATCH:
                    publish_held()
                beat.idle()
        finally:
            try:
                publish_held()
            finally:
                for worker in workers.values():
                    worker.stop()
    return LoopSummary(worker=address, incarnation=incarnation, done=tally["done"], failed=tally["failed"])


def _ready_worker(spec: WorkerSpec, slot: int, slot_count: int, params: dict[str, Any]) -> Any:
    worker = make_worker(spec.with_args(params), slot, slot_count)
    worker.start()
    worker.work_init()
    worker.pool_init(worker.pool_vars())
    return worker


def _idle(worker: Any, wake: Any, interval: float) -> bool:
    """Wait for a submit's signal (or the polling interval); whether the signal came.

    The signal is cleared later, once the tasks it announced are served and just before the
    last scan of pending/ (see :func:`_clear`), so a woken loop claims at once, without first
    paying a round trip to the scheduler.
    """
    if callable(getattr(worker, "loop", None)):
        worker.loop()  # the app's optional periodic hook
    try:
        return bool(wake.wait(timeout=interval))
    except Exception:  # noqa: BLE001 - a scheduler hiccup: poll the folder again
        logger.debug("wake event unavailable; polling the queue", exc_info=True)
        return False


def _clear(wake: Any) -> None:
    """Clear the wake signal before the scan that precedes a wait.

    Clearing before that scan loses nothing: a task submitted after the clear sets the signal
    again, and one submitted before it is found by the scan.
    """
    try:
        wake.clear()
    except Exception:  # noqa: BLE001 - a scheduler hiccup: the next wait returns at once or polls
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
) -> int:
    """Run one task and hold its result for publication; any error (bad params included) fails only
    this task. Returns how many results the queue holds now."""
    started = time.time()
    try:
        params = task.params
        key = repr(sorted(params.items()))
        worker = workers.get(key) if params else workers[""]
        if worker is None:
            worker = workers[key] = _ready_worker(spec, slot, slot_count, params)
        worker.outputs = []
        frame = worker.process_chunk(task.items, f"{task.label or 'task'}-{task.id}")
        outcome = TaskOutcome(
            worker=address,
            claimer=claimer,
            started=started,
            finished=time.time(),
            seconds=round(time.time() - started, 6),
            outputs=[str(path) for path in worker.outputs],
            rows=0 if frame is None else len(frame),
        )
        return queue.publish_later(task, outcome)
    except Exception as error:  # noqa: BLE001 - the task failed, the loop goes on
        outcome = TaskOutcome(
            worker=address,
            claimer=claimer,
            started=started,
            finished=time.time(),
            error=repr(error),
            traceback=traceback.format_exc(),
        )
        return queue.publish_later(task, outcome, failed=True)
