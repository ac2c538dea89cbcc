"""The long-lived service loop: one Dask task per worker slot, taking tasks from the queue.

It sets the app's worker up once (start, work_init, pool_init), then repeatedly claims a task,
runs its items through ``process_chunk`` and publishes the result. Between tasks it waits on its
own Dask event, which ``submit`` sets, so a new task starts at once; the wait times out every
heartbeat interval as the polling fallback. It stops when its incarnation's Dask event is set.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from ..runner import make_worker
from .heartbeat import Heartbeat
from .queue import TaskQueue


def claimer_name(worker: str, incarnation: str) -> str:
    """Who holds a claim: the loop's worker and incarnation (the part after ``~``)."""
    from .heartbeat import heartbeat_name

    return f"{heartbeat_name(worker)}~{incarnation}"


def incarnation_of(claimer: str) -> str:
    return claimer.rsplit("~", 1)[-1]


def service_loop(spec: dict[str, Any], slot: int, slot_count: int, service: dict[str, Any]) -> dict[str, Any]:
    """Serve tasks until told to stop; returns how many it did (the future's result)."""
    from distributed import Event, get_worker

    address = get_worker().address
    queue = TaskQueue(Path(service["queue_dir"]))
    incarnation = service["incarnation"]
    claimer = claimer_name(address, incarnation)
    stop = Event(service["stop_event"])
    wake = Event(service["wake_event"])
    interval = service["heartbeat_timeout"] / 3
    workers: dict[str, Any] = {}
    done = failed = 0
    with Heartbeat(queue.folder("heartbeats"), address, incarnation, slot, interval) as beat:
        workers[""] = _ready_worker(spec, slot, slot_count, {})
        try:
            while not stop.is_set():
                task = queue.claim(claimer)
                if task is None:
                    _idle(workers[""], wake, interval)
                    continue
                beat.set("processing")
                ok = _serve_one(queue, task, spec, slot, slot_count, workers, address, claimer)
                done, failed = done + ok, failed + (not ok)
                beat.set("running")
        finally:
            for worker in workers.values():
                worker.stop()
    return {"worker": address, "incarnation": incarnation, "done": done, "failed": failed}


def _ready_worker(spec: dict[str, Any], slot: int, slot_count: int, params: dict[str, Any]) -> Any:
    worker_spec = {**spec, "args": {**spec["args"], **params}} if params else spec
    worker = make_worker(worker_spec, slot, slot_count)
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
    except Exception:  # a scheduler hiccup: poll the folder again
        pass


def _serve_one(queue: TaskQueue, task: dict[str, Any], spec: dict[str, Any], slot: int, slot_count: int,
               workers: dict[str, Any], address: str, claimer: str) -> bool:
    started = time.time()
    key = repr(sorted(task.get("params", {}).items()))
    try:
        worker = workers.get(key) if task.get("params") else workers[""]
        if worker is None:
            worker = workers[key] = _ready_worker(spec, slot, slot_count, task["params"])
        worker.outputs = []
        frame = worker.process_chunk(task.get("items", []), task.get("label", task["id"]))
        queue.publish(task, {"worker": address, "claimer": claimer, "started": started, "finished": time.time(),
                             "seconds": round(time.time() - started, 6), "outputs": [str(p) for p in worker.outputs],
                             "rows": 0 if frame is None else int(len(frame))})
        return True
    except Exception as error:
        queue.publish(task, {"worker": address, "claimer": claimer, "started": started, "finished": time.time(),
                             "error": repr(error), "traceback": traceback.format_exc()}, failed=True)
        return False
