"""What runs inside a worker process: one worker slot's chunks, through the app's hooks.

The same :func:`run_slot` serves every mode. Locally it runs in a subprocess of the worker
environment (``python -m agi_jupyter.core.runner``, a JSON job on stdin, JSON events on
stdout); on Dask it runs as one task per worker slot and reports through Dask worker events.
With the pool bit, work items go to a process (or thread) pool whose members each build their
own worker and call ``pool_init`` once.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from importlib.machinery import EXTENSION_SUFFIXES
from types import SimpleNamespace
from typing import Any

EVENT_PREFIX = "\x1eagi-event "
Report = Callable[[dict[str, Any]], None]


class WorkItemError(RuntimeError):
    """A work item raised: says which slot and item, and carries the worker's traceback."""


class Cancelled(RuntimeError):
    """The run was cancelled between two work items."""


def load_worker_class(spec: dict[str, Any]) -> type:
    """Import the worker class; in cython modes insist that it comes from the compiled extension."""
    for path in reversed(spec["paths"]):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name = spec["worker_module"]
    if spec["cython"]:
        module_name = f"{spec['worker_package']}_cython.{spec['worker_package']}"
    module = importlib.import_module(module_name)
    origin = getattr(module, "__file__", "") or ""
    if spec["cython"] and not origin.endswith(tuple(EXTENSION_SUFFIXES)):
        raise RuntimeError(f"cython mode loaded {origin}, not the compiled extension: run INSTALL with cython")
    return getattr(module, spec["worker_class"])


def load_args(spec: dict[str, Any]) -> Any:
    """The app's validated args model, or a namespace of the values if the model cannot load."""
    try:
        model = getattr(importlib.import_module(spec["args_module"]), spec["args_class"])
        return model.model_validate(spec["args"])
    except ImportError:
        return SimpleNamespace(**spec["args"])


def make_worker(spec: dict[str, Any], slot: int, slot_count: int) -> Any:
    worker_class = load_worker_class(spec)
    return worker_class(load_args(spec), worker_id=slot, worker_count=slot_count,
                        share_dir=spec["share_dir"], verbose=spec["verbose"])


# ----- pool members ---------------------------------------------------------------------------
_pool_worker: Any = None


def _pool_start(spec: dict[str, Any], slot: int, slot_count: int, variables: dict[str, Any]) -> None:
    global _pool_worker
    _pool_worker = make_worker(spec, slot, slot_count)
    _pool_worker.pool_init(variables)


def _pool_item(item: Any) -> Any:
    return _call_item(_pool_worker, item)


def _call_item(worker: Any, item: Any) -> Any:
    try:
        return worker.work_pool(item)
    except Exception as error:
        raise WorkItemError(f"slot {worker.worker_id}: work item {_short(item)} failed: {error!r}\n"
                            f"{traceback.format_exc()}") from None


def _short(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 200 else text[:197] + "..."


def _pool(spec: dict[str, Any], worker: Any, slot: int, slot_count: int) -> Executor | None:
    if not spec.get("pool"):
        return None
    width = spec.get("pool_width") or os.cpu_count() or 1
    initargs = (spec, slot, slot_count, worker.pool_vars())
    if spec["pool"] == "thread" or _is_daemon():
        return ThreadPoolExecutor(width, initializer=_thread_start, initargs=initargs)
    import multiprocessing

    return ProcessPoolExecutor(width, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_pool_start, initargs=initargs)


_thread_workers = threading.local()


def _thread_start(spec: dict[str, Any], slot: int, slot_count: int, variables: dict[str, Any]) -> None:
    _thread_workers.worker = make_worker(spec, slot, slot_count)
    _thread_workers.worker.pool_init(variables)


def _thread_item(item: Any) -> Any:
    return _call_item(_thread_workers.worker, item)


def _is_daemon() -> bool:
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


# ----- one slot ---------------------------------------------------------------------------------
def run_slot(spec: dict[str, Any], slot: int, slot_count: int, chunks: list[dict[str, Any]], report: Report,
             cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Run one slot's chunks: start, work_init, pool_init, work_pool per item, work_done per chunk, stop."""
    started = time.perf_counter()
    worker = make_worker(spec, slot, slot_count)
    worker.start()
    executor = None
    try:
        worker.work_init()
        executor = _pool(spec, worker, slot, slot_count)
        if executor is None:
            worker.pool_init(worker.pool_vars())
        item_call = _thread_item if isinstance(executor, ThreadPoolExecutor) else _pool_item
        for chunk in chunks:
            if cancelled():
                raise Cancelled(f"slot {slot}: cancelled before chunk {chunk['label']}")
            chunk_start = time.perf_counter()

            def map_items(items: list[Any]) -> list[Any]:
                if executor is None:
                    return [_call_item(worker, item) for item in items]
                return list(executor.map(item_call, items))

            worker.process_chunk(chunk["items"], chunk["label"], map_items=map_items)
            report({"event": "chunk", "slot": slot, "label": chunk["label"],
                    "seconds": round(time.perf_counter() - chunk_start, 6)})
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        worker.stop()
    return {"slot": slot, "seconds": time.perf_counter() - started, "outputs": [str(p) for p in worker.outputs],
            "chunks": [chunk["label"] for chunk in chunks], "pid": os.getpid()}


class _LineWriter(io.TextIOBase):
    """A stdout replacement that hands each complete line to ``report`` as a log event."""

    def __init__(self, report: Report, slot: int) -> None:
        self.report, self.slot, self.buffer = report, slot, ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.report({"event": "log", "slot": self.slot, "line": line})
        return len(text)


def run_slot_reporting(spec: dict[str, Any], slot: int, slot_count: int, chunks: list[dict[str, Any]],
                       report: Report, cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """:func:`run_slot` with the worker's prints turned into log events."""
    writer = _LineWriter(report, slot)
    with contextlib.redirect_stdout(writer):
        return run_slot(spec, slot, slot_count, chunks, report, cancelled)


# ----- Dask task ----------------------------------------------------------------------------------
def dask_slot(spec: dict[str, Any], slot: int, slot_count: int, chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """One Dask task per worker slot; events go to the topic ``spec['topic']``."""
    from distributed import Event, get_worker

    worker = get_worker()
    topic = spec["topic"]
    stop = Event(spec["cancel_event"])

    def report(event: dict[str, Any]) -> None:
        worker.log_event(topic, event)

    result = run_slot_reporting(spec, slot, slot_count, chunks, report, cancelled=stop.is_set)
    result["worker"] = worker.address
    return result


# ----- local subprocess ------------------------------------------------------------------------
def _emit(event: dict[str, Any]) -> None:
    sys.__stdout__.write(EVENT_PREFIX + json.dumps(event) + "\n")
    sys.__stdout__.flush()


def main() -> int:
    """``python -m agi_jupyter.core.runner``: run a JSON job from stdin, slot after slot."""
    job = json.loads(sys.stdin.read())
    spec, slot_count = job["spec"], job["slot_count"]
    try:
        for part in job["slots"]:
            result = run_slot_reporting(spec, part["slot"], slot_count, part["chunks"], _emit)
            _emit({"event": "slot", **result})
    except Exception as error:
        _emit({"event": "error", "message": str(error) if isinstance(error, WorkItemError) else
               f"{error!r}\n{traceback.format_exc()}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
