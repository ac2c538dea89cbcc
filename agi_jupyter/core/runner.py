"""What runs inside a worker process: one worker slot's chunks, through the app's hooks.

The same :func:`run_slot` serves every mode. Locally it runs in a subprocess of the worker
environment (``python -m agi_jupyter.core.runner --events-fd N``, one JSON job per stdin line);
on Dask it runs as one task per worker slot and reports through Dask worker events. With the
pool bit, work items go to a process (or thread) pool whose members each build their own worker
and call ``pool_init`` once; the pool stays warm for the slot's next run with the same install,
arguments and pool settings (:mod:`agi_jupyter.core.pools`).

The event channel. A local runner sends its events (chunk done, log line, slot result, error,
job done: the models of :mod:`agi_jupyter.core.events`) as one JSON object per line on their own
pipe, file descriptor ``N``, which only this module writes to; stdout and stderr carry nothing
but the app's own output, shown as log lines. So app output, with or without newlines, from the
worker, its pools or C code, can neither hide an event nor pass for one. Prints inside the
runner process become ``log`` events. Before the ``done`` event the runner writes the job's
``end_mark`` (a random string the engine chose) on stdout, so the engine knows the job's last
output line has arrived.

Item timeouts. With ``item_timeout`` in the spec, a work item that runs longer fails its chunk
with an :class:`ItemTimeout` naming the slot, chunk, item and limit, in every mode. In a process
pool the late item's pool is terminated (its members are killed). A thread cannot be killed: an
item running in a thread pool, or alone (without a pool the item runs in a helper thread so
that the slot can stop waiting for it), is abandoned and may go on until it ends; the engine
then kills the local worker process that holds it, while on Dask it stays in the Dask worker.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from importlib.machinery import EXTENSION_SUFFIXES
from types import SimpleNamespace
from typing import Any

from . import pools
from .errors import RunError
from .events import ChunkEvent, DoneEvent, ErrorEvent, Event, LogEvent, SlotEvent, SlotResult
from .jobs import (
    ChunkPart,
    DaskSlotSpec,
    LocalJob,
    SlotPart,
    WorkerSource,
    WorkerSpec,
    chunks_of,
    dask_spec_of,
    job_of,
    source_of,
    spec_of,
)

logger = logging.getLogger(__name__)

Report = Callable[[Event], None]


class WorkItemError(RuntimeError):
    """A work item raised: says which slot and item, and carries the worker's traceback."""


class Cancelled(RuntimeError):
    """The run was cancelled between two work items."""


TIMED_OUT = "ran over item_timeout"
"""In the message of every :class:`ItemTimeout`: the engine retires a local process that says it."""


class ItemTimeout(RunError):
    """A work item ran over ``item_timeout``: says which slot, chunk, item and limit, and what became of it."""

    @classmethod
    def of(cls, slot: int, label: str, item: Any, limit: float, fate: str) -> ItemTimeout:
        return cls(f"slot {slot}: chunk {label}: work item {_short(item)} {TIMED_OUT} = {limit:g} s; {fate}")


def load_worker_class(source: WorkerSource | WorkerSpec | Mapping[str, Any]) -> type:
    """Import the worker class; in cython modes insist that it comes from the compiled extension.

    ``source`` is a worker spec, or just the class location (a mapping is validated first).
    """
    source = source_of(source)
    for path in reversed(source.paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name = source.worker_module
    if source.cython:
        module_name = f"{source.worker_package}_cython.{source.worker_package}"
    module = importlib.import_module(module_name)
    origin = getattr(module, "__file__", "") or ""
    if source.cython and not origin.endswith(tuple(EXTENSION_SUFFIXES)):
        raise RuntimeError(f"cython mode loaded {origin}, not the compiled extension: run INSTALL with cython")
    worker_class: type = getattr(module, source.worker_class)
    return worker_class


def load_args(spec: WorkerSpec) -> Any:
    """The app's validated args model, or a namespace of the values if the model cannot load."""
    try:
        model = getattr(importlib.import_module(spec.args_module), spec.args_class)
        return model.model_validate(spec.args)
    except ImportError:
        logger.debug(
            "args model %s.%s does not import; using the plain values", spec.args_module, spec.args_class, exc_info=True
        )
        return SimpleNamespace(**spec.args)


def make_worker(spec: WorkerSpec | Mapping[str, Any], slot: int, slot_count: int) -> Any:
    """The app's worker for ``slot``; a spec mapping (the service's wire form) is validated first."""
    spec = spec_of(spec)
    worker_class = load_worker_class(spec)
    return worker_class(
        load_args(spec), worker_id=slot, worker_count=slot_count, share_dir=spec.share_dir, verbose=spec.verbose
    )


# ----- pool members ---------------------------------------------------------------------------
_pool_worker: Any = None


def _pool_start(spec: WorkerSpec, slot: int, slot_count: int, variables: dict[str, Any]) -> None:
    global _pool_worker
    pools.watch_parent()  # a warm pool outlives runs: it must not outlive its process
    _pool_worker = make_worker(spec, slot, slot_count)
    _pool_worker.pool_init(variables)


def _pool_item(item: Any) -> Any:
    return _call_item(_pool_worker, item)


def _call_item(worker: Any, item: Any) -> Any:
    try:
        return worker.work_pool(item)
    except Exception as error:  # noqa: BLE001 - any failure of the app's item: named with its traceback
        raise WorkItemError(
            f"slot {worker.worker_id}: work item {_short(item)} failed: {error!r}\n{traceback.format_exc()}"
        ) from None


def _short(item: Any) -> str:
    text = repr(item)
    return text if len(text) <= 200 else text[:197] + "..."


def _pool(
    spec: WorkerSpec, worker: Any, slot: int, slot_count: int, owner: str
) -> tuple[Executor, pools.PoolKey] | None:
    """The slot's pool: the warm one kept from an earlier run when its key matches, else a new one."""
    if not spec.pool:
        return None
    width = spec.pool_width or os.cpu_count() or 1
    variables = worker.pool_vars()
    initargs = (spec, slot, slot_count, variables)
    executor = "thread" if spec.pool == "thread" or _is_daemon() else "process"
    key = pools.key_of(owner, spec, type(worker), slot, slot_count, executor, width, variables)

    def start() -> Executor:
        if executor == "thread":
            return ThreadPoolExecutor(width, initializer=_thread_start, initargs=initargs)
        import multiprocessing

        return ProcessPoolExecutor(
            width, mp_context=multiprocessing.get_context("spawn"), initializer=_pool_start, initargs=initargs
        )

    pool, warm = pools.lease(key, start)
    logger.debug("slot %s: %s %s pool of %s", slot, "warm" if warm else "new", executor, width)
    return pool, key


_thread_workers = threading.local()


def _thread_start(spec: WorkerSpec, slot: int, slot_count: int, variables: dict[str, Any]) -> None:
    _thread_workers.worker = make_worker(spec, slot, slot_count)
    _thread_workers.worker.pool_init(variables)


def _thread_item(item: Any) -> Any:
    return _call_item(_thread_workers.worker, item)


def _item_in_thread(worker: Any, item: Any, label: str, limit: float) -> Any:
    """One item without a pool, in a helper thread the slot waits for at most ``limit`` seconds."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = _call_item(worker, item)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting slot
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"agi-item-{label}", daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        fate = "the thread running it is abandoned (a thread cannot be killed) and may go on until the item ends"
        raise ItemTimeout.of(worker.worker_id, label, item, limit, fate)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _timed_map(
    executor: Executor, call: Callable[[Any], Any], items: list[Any], width: int, limit: float, where: tuple[int, str]
) -> list[Any]:
    """``executor.map(call, items)`` where an item running over ``limit`` seconds raises ItemTimeout.

    An item's time counts from when it is seen running among the first ``width`` unfinished
    items (the pool takes items in order; a process pool marks one more as running while it
    waits in the queue). The first failure raises, as ``map`` would.
    """
    futures: list[Future[Any]] = [executor.submit(call, item) for item in items]
    started: dict[int, float] = {}
    tick = min(0.1, limit / 10)
    while True:
        now = time.monotonic()
        unfinished = [index for index, future in enumerate(futures) if not future.done()]
        for index in unfinished[:width]:
            if index not in started and futures[index].running():
                started[index] = now
        failed = next((future for future in futures if future.done() and future.exception()), None)
        if failed is not None:
            return [failed.result()]  # raises the item's error
        late = [index for index in unfinished if index in started and now - started[index] > limit]
        if late:
            raise ItemTimeout.of(where[0], where[1], items[late[0]], limit, _abandon(executor))
        if not unfinished:
            return [future.result() for future in futures]
        wait([futures[index] for index in unfinished], timeout=tick, return_when=FIRST_COMPLETED)


def _abandon(executor: Executor) -> str:
    """Stop waiting for ``executor``: kill a process pool's members; say what became of the item."""
    if isinstance(executor, ProcessPoolExecutor):
        members = dict(getattr(executor, "_processes", None) or {})  # no public way to kill them before 3.14
        for process in members.values():
            process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)
        return f"its process pool was terminated ({len(members)} member process(es) killed)"
    executor.shutdown(wait=False, cancel_futures=True)
    return "the pool thread running it is abandoned (a thread cannot be killed) and may go on until the item ends"


def _is_daemon() -> bool:
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


# ----- one slot ---------------------------------------------------------------------------------
class SlotRun:
    """One worker slot's life: open (start, work_init, pool), chunks, close (pool back, stop).

    The pool is leased from :mod:`agi_jupyter.core.pools` and given back warm at close, unless
    a timed-out item abandoned it or a failed chunk may have left items queued in it: those
    pools are shut down. ``owner`` says whose pools these are (the Dask worker's address).
    """

    def __init__(
        self, spec: WorkerSpec | Mapping[str, Any], slot: int, slot_count: int, owner: str = pools.LOCAL
    ) -> None:
        self.spec, self.slot, self.slot_count, self.owner = spec_of(spec), slot, slot_count, owner
        self.worker = make_worker(self.spec, slot, slot_count)
        self.executor: Executor | None = None
        self.pool_key: pools.PoolKey | None = None
        self.abandoned = False  # a timed-out item left the pool to itself: close must not wait for it
        self.unfinished = False  # a chunk failed while its items were in the pool: some may still be queued
        self.seconds = 0.0
        self.labels: list[str] = []

    def open(self) -> None:
        started = time.perf_counter()
        self.worker.start()
        self.worker.work_init()
        leased = _pool(self.spec, self.worker, self.slot, self.slot_count, self.owner)
        if leased is None:
            self.worker.pool_init(self.worker.pool_vars())
        else:
            self.executor, self.pool_key = leased
        self.seconds += time.perf_counter() - started

    def chunk(self, chunk: ChunkPart, report: Report) -> None:
        started = time.perf_counter()
        executor = self.executor
        call = _thread_item if isinstance(executor, ThreadPoolExecutor) else _pool_item

        limit = self.spec.item_timeout

        def map_items(items: list[Any]) -> list[Any]:
            if executor is None:
                if limit is None:
                    return [_call_item(self.worker, item) for item in items]
                return [_item_in_thread(self.worker, item, chunk.label, limit) for item in items]
            try:
                if limit is None:
                    return list(executor.map(call, items))
                width = self.spec.pool_width or os.cpu_count() or 1
                return _timed_map(executor, call, items, width, limit, (self.slot, chunk.label))
            except ItemTimeout:
                self.abandoned = True
                raise
            except BaseException:
                self.unfinished = True
                raise

        self.worker.process_chunk(chunk.items, chunk.label, map_items=map_items)
        elapsed = time.perf_counter() - started
        self.seconds += elapsed
        self.labels.append(chunk.label)
        report(ChunkEvent(slot=self.slot, label=chunk.label, seconds=round(elapsed, 6)))

    def close(self) -> None:
        started = time.perf_counter()
        try:
            if self.executor is not None and self.pool_key is not None:
                if self.abandoned or self.unfinished:
                    pools.discard(self.executor, wait=not self.abandoned)
                else:
                    pools.give_back(self.pool_key, self.executor)
        finally:
            self.worker.stop()
            self.seconds += time.perf_counter() - started

    def result(self) -> SlotResult:
        return SlotResult(
            slot=self.slot,
            seconds=self.seconds,
            outputs=[str(p) for p in self.worker.outputs],
            chunks=self.labels,
            pid=os.getpid(),
        )


def run_slot(
    spec: WorkerSpec | Mapping[str, Any],
    slot: int,
    slot_count: int,
    chunks: Sequence[ChunkPart | Mapping[str, Any]],
    report: Report,
    cancelled: Callable[[], bool] = lambda: False,
    before: Callable[[ChunkPart], None] | None = None,
    after: Callable[[ChunkPart], None] | None = None,
    owner: str = pools.LOCAL,
) -> SlotResult:
    """Run one slot's chunks in order; ``before``/``after`` let DAG steps wait for other slots.

    ``owner`` names whose warm pools the slot uses (see :mod:`agi_jupyter.core.pools`).
    """
    chunks = chunks_of(chunks)
    run = SlotRun(spec, slot, slot_count, owner)
    try:
        run.open()
        for chunk in chunks:
            if cancelled():
                raise Cancelled(f"slot {slot}: cancelled before chunk {chunk.label}")
            if before:
                before(chunk)
            run.chunk(chunk, report)
            if after:
                after(chunk)
    finally:
        run.close()
    return run.result()


def run_slots(
    spec: WorkerSpec, slot_count: int, parts: Sequence[SlotPart], order: Sequence[tuple[int, int]], report: Report
) -> list[SlotResult]:
    """Several slots in one process, chunks interleaved in ``order`` ([slot, index] pairs).

    Local runs use this so that a DAG step always runs after the steps it needs, whichever
    slot they were planned on.
    """
    runs = {part.slot: SlotRun(spec, part.slot, slot_count) for part in parts}
    chunks = {part.slot: part.chunks for part in parts}
    opened: list[SlotRun] = []
    try:
        for run in runs.values():
            opened.append(run)  # stop() runs even when start() or work_init() fails
            run.open()
        for slot, index in order:
            runs[slot].chunk(chunks[slot][index], report)
    finally:
        for run in opened:
            run.close()
    return [run.result() for run in runs.values()]


class _LineWriter(io.TextIOBase):
    """A stdout replacement that hands each complete line to ``report`` as a log event."""

    def __init__(self, report: Report, slot: int) -> None:
        self.report, self.slot, self.buffer = report, slot, ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.report(LogEvent(slot=self.slot, line=line))
        return len(text)


@contextlib.contextmanager
def prints_as_events(report: Report, slot: int) -> Any:
    """Turn the worker's prints into log events while the block runs."""
    with contextlib.redirect_stdout(_LineWriter(report, slot)):
        yield


# ----- Dask task ----------------------------------------------------------------------------------
def dask_slot(
    spec: DaskSlotSpec | Mapping[str, Any], slot: int, slot_count: int, chunks: Sequence[ChunkPart | Mapping[str, Any]]
) -> SlotResult:
    """One Dask task per worker slot; events go to the topic ``spec.topic`` (as their wire objects).

    The task's result is the slot's :class:`SlotResult` with the Dask worker's address.

    For DAG plans each step first waits for the Dask events of the steps it depends on (they may
    run on other slots) and sets its own when done.
    """
    from distributed import Event as DaskEvent
    from distributed import get_worker

    slot_spec = dask_spec_of(spec)
    worker = get_worker()
    stop = DaskEvent(slot_spec.cancel_event)

    def report(event: Event) -> None:
        worker.log_event(slot_spec.topic, event.wire())

    def step_event(step: str) -> Any:
        return DaskEvent(f"{slot_spec.cancel_event}-step-{step}")

    def before(chunk: ChunkPart) -> None:
        for item in chunk.items:
            for dep in item.get("deps", []) if isinstance(item, dict) else []:
                while not step_event(dep).wait(timeout=0.5):
                    if stop.is_set():
                        raise Cancelled(f"slot {slot}: cancelled while waiting for step {dep!r}")

    def after(chunk: ChunkPart) -> None:
        for item in chunk.items:
            if isinstance(item, dict) and "step" in item:
                step_event(item["step"]).set()

    dag = slot_spec.dag
    if slot_spec.pool:
        pools.close_with_dask_worker(worker)
    with prints_as_events(report, slot):
        result = run_slot(
            slot_spec,
            slot,
            slot_count,
            chunks,
            report,
            cancelled=stop.is_set,
            before=before if dag else None,
            after=after if dag else None,
            owner=worker.address,
        )
    return result.model_copy(update={"worker": worker.address})


# ----- local subprocess ------------------------------------------------------------------------
class EventChannel:
    """The runner's side of the event pipe: one JSON line per event (its wire object), whole lines only.

    Several threads may report at once (thread pools print), hence the lock.
    """

    def __init__(self, stream: io.TextIOBase) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = event.pipe_line() + "\n"
        with self.lock:
            self.stream.write(line)
            self.stream.flush()


def open_channel(descriptor: int | None) -> EventChannel:
    """The event channel on ``descriptor`` (kept from the app's child processes), or on stdout.

    Stdout is only for running a job by hand; the engine always passes a descriptor.
    """
    if descriptor is None:
        if sys.__stdout__ is None:
            raise RuntimeError("no event descriptor and no stdout to report on")
        return EventChannel(sys.__stdout__)
    os.set_inheritable(descriptor, False)
    return EventChannel(os.fdopen(descriptor, "w", encoding="utf-8", buffering=1))


def run_job(job: LocalJob | Mapping[str, Any] | str, emit: Report) -> int:
    """Run one job (all its slots), reporting through ``emit``; 0 on success.

    A job that does not fit :class:`LocalJob` is reported as an error naming the field.
    """
    try:
        job = job_of(job)
        with prints_as_events(emit, -1):
            results = run_slots(job.spec, job.slot_count, job.slots, job.order, emit)
        for result in results:
            emit(SlotEvent.of(result))
    except Exception as error:  # noqa: BLE001 - reported to the engine as an error event, the process goes on
        emit(
            ErrorEvent(
                message=str(error)
                if isinstance(error, (WorkItemError, RunError))
                else f"{error!r}\n{traceback.format_exc()}"
            )
        )
        return 1
    return 0


def mark_end_of_output(mark: str) -> None:
    """Write ``mark`` after everything the job wrote on stdout and stderr (see the module docstring)."""
    for stream in (sys.__stderr__, sys.__stdout__):
        if stream is not None:
            stream.flush()
    if sys.__stdout__ is not None:
        sys.__stdout__.write(mark + "\n")
        sys.__stdout__.flush()


def main(argv: list[str] | None = None) -> int:
    """``python -m agi_jupyter.core.runner [--serve] [--events-fd N]``: one JSON job per stdin line.

    Every job ends with a ``done`` event carrying its status; the process then waits for the
    next line (a warm worker) and exits with the last status when stdin closes.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m agi_jupyter.core.runner")
    parser.add_argument("--serve", action="store_true", help="kept for compatibility: always serves")
    parser.add_argument("--events-fd", type=int, default=None, help="file descriptor of the event pipe")
    options = parser.parse_args(argv)
    emit = open_channel(options.events_fd)
    status = 0
    for line in sys.stdin:
        if line.strip():
            status = run_job(line, emit)
            mark = _end_mark(line)
            if mark:
                mark_end_of_output(mark)
            emit(DoneEvent(status=status))
    pools.close_pools()  # the end of input is this process's end: its warm pools go with it
    return status


def _end_mark(line: str) -> str:
    """The job's end mark, read leniently: even a job too malformed to run must end its output."""
    try:
        job = json.loads(line)
    except ValueError:
        return ""
    mark = job.get("end_mark") if isinstance(job, dict) else None
    return mark if isinstance(mark, str) else ""


if __name__ == "__main__":
    sys.exit(main())
