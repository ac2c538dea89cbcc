"""RUN: execute the saved (or a fresh) plan in one mode; progress, logs, cancel, result.

Local modes run every slot in one subprocess of the worker environment; Dask modes submit one
task per worker slot, pinned to the Dask worker that holds the slot. Both run the same
:func:`agi_jupyter.core.runner.run_slot`, so every mode executes the same hooks on the same
plan and writes the same outputs.

Dask progress. A slot task (:func:`dask_slot_batched`) still makes one chunk event per chunk
and one log event per printed line, but sends them in batches, in order: at most every
``EVENT_BATCH_SECONDS`` and once more when the slot ends (also when it fails), as one Dask
worker event carrying their wire objects under ``"batch"``; and it asks the scheduler whether
the run was cancelled at most every ``CANCEL_CHECK_SECONDS`` (and before its first chunk). Per
chunk, both were a message through the scheduler, which at 10,000 chunks cost more than the
chunks. The kernel counts a batch's chunks and calls the progress callback once per batch with
the new count; the last batch arrives before the slot's result, so the last call is the final
count. DAG plans keep :func:`agi_jupyter.core.runner.dask_slot` (a step waits on the events of
the steps it needs, one chunk at a time).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from .args import load_args
from .distrib import Distribution, empty_plan_warning, reuse_or_build
from .env import AgiEnv
from .errors import RunError
from .events import ChunkEvent, ErrorEvent, Event, LogEvent, SlotEvent, SlotResult, parse_event, slot_result_of
from .install import check_install
from .jobs import ChunkPart, DaskSlotSpec, LocalJob, SlotPart, WorkerSpec
from .logs import LineCallback, LogSink, timestamp
from .modes import Mode
from .plan import worker_slots
from .requests import RunRequest, effective_verbose
from .settings import AppSettings, ClusterSettings

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
RUN_SCHEMA = "agi.run.v1"
LOST_WORKER_CHECK = 1.0  # seconds between looks for a lost Dask worker while slots are pending
EVENT_BATCH_SECONDS = 0.1  # a Dask slot sends its events at most this often (and when it ends)
CANCEL_CHECK_SECONDS = 0.1  # a Dask slot asks the scheduler whether the run was cancelled at most this often
BATCH_KEY = "batch"  # a topic message holding several events' wire objects, in order
INLINE_PLAN_SIZE = 1_000  # a slot's chunks + items above this travel to its worker scattered, not in the task


@dataclass
class RunResult:
    """What a run did: its mode, how long it took overall and per worker slot, what it wrote."""

    app: str
    mode: int
    token: str
    label: str
    seconds: float
    worker_seconds: dict[str, float]
    outputs: list[str]
    chunks: int
    variant: str  # "local" or "cluster"
    nodes: int
    log: str
    plan: str  # why this plan was used
    dispatched: dict[str, list[str]] = field(default_factory=dict)  # slot -> chunk labels it ran
    schema: str = RUN_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunControl:
    """Handle to cancel a run from another thread; says whether the stop was confirmed."""

    def __init__(self) -> None:
        self.cancelled = False
        self.confirmed: bool | None = None
        self._stop: Callable[[], bool] | None = None
        self._lock = threading.Lock()

    def attach(self, stop: Callable[[], bool]) -> None:
        with self._lock:
            self._stop = stop
            if self.cancelled:
                self.confirmed = stop()

    def cancel(self) -> bool | None:
        """Stop the run; returns True when everything it started is confirmed stopped."""
        with self._lock:
            self.cancelled = True
            if self._stop is not None:
                self.confirmed = self._stop()
            return self.confirmed


@dataclass
class _Context:
    env: AgiEnv
    mode: Mode
    request: RunRequest
    distribution: Distribution
    workers: dict[str, int]
    sink: LineCallback
    progress: Progress
    control: RunControl
    install_key: str = ""
    done: int = 0


def run_mode(
    env: AgiEnv,
    mode: Mode,
    request: RunRequest,
    *,
    on_line: LineCallback | None = None,
    on_progress: Progress | None = None,
    control: RunControl | None = None,
    cluster: Callable[[], Any] | None = None,
) -> RunResult:
    """Run the plan once in ``mode``; raises RunError (remote traceback, item, worker) on failure.

    A failure or a cancel ends the log with ``RUN failed: <error>`` or ``RUN cancelled: <error>``:
    without it the log of a failed run stopped at its last progress line, with no error.
    """
    control = control or RunControl()
    log_path = _log_path(env)
    with LogSink(log_path, on_line) as sink:
        try:
            return _run_logged(env, mode, request, sink, log_path, on_progress, control, cluster)
        except Exception as error:
            sink(f"RUN {'cancelled' if control.cancelled else 'failed'}: {error}")
            raise


def _run_logged(
    env: AgiEnv,
    mode: Mode,
    request: RunRequest,
    sink: LineCallback,
    log_path: Path,
    on_progress: Progress | None,
    control: RunControl,
    cluster: Callable[[], Any] | None,
) -> RunResult:
    """The run itself, writing to ``sink``; :func:`run_mode` logs how it ended when it raises."""
    started = time.perf_counter()
    settings = AppSettings.load(env.settings_path)
    workers = request.workers or settings.cluster.workers
    request = with_pool_settings(request, settings.cluster)
    sink(f"RUN {env.app} in mode {mode.label} ({mode.token})")
    if mode & Mode.RAPIDS and not mode & Mode.DASK:
        _require_cudf_locally()
    record = check_install(env, mode)
    args = load_args(env, request.params)
    distribution = reuse_or_build(env, args, workers)
    distribution.plan.check_output_names()  # a plan saved before the rule existed may collide
    plan = distribution.plan
    sink(f"plan: {distribution.reason}; {plan.chunk_count} chunks on {len(plan.slots)} slots")
    warning = empty_plan_warning(env, args, plan.chunk_count)
    if warning:
        sink(warning)
    context = _Context(
        env,
        mode,
        request,
        distribution,
        workers,
        sink,
        on_progress or (lambda d, t: None),
        control,
        install_key=f"{record.fingerprint}|{record.when}",
    )
    context.progress(0, distribution.plan.chunk_count)
    if mode & Mode.DASK:
        if cluster is None:
            raise RunError("the dask bit needs a Dask client, and none was given")
        slot_results, nodes = _run_dask(context, cluster(), args.model_dump(mode="json"))
    else:
        slot_results, nodes = _run_local(context, args.model_dump(mode="json")), 1
    seconds = time.perf_counter() - started
    slots = worker_slots(workers)
    result = RunResult(
        app=env.app,
        mode=int(mode),
        token=mode.token,
        label=mode.label,
        seconds=round(seconds, 6),
        worker_seconds={slots[r.slot].name: round(r.seconds, 6) for r in slot_results},
        outputs=every_output(slot_results, slots),
        chunks=distribution.plan.chunk_count,
        variant="cluster" if mode & Mode.DASK else "local",
        nodes=nodes,
        log=str(log_path),
        plan=distribution.reason,
        dispatched={slots[r.slot].name: list(r.chunks) for r in slot_results},
    )
    sink(f"RUN done in {seconds:.3f} s: {len(result.outputs)} output file(s)")
    return result


def with_pool_settings(request: RunRequest, cluster: ClusterSettings) -> RunRequest:
    """``request`` with its pool executor, pool width and item timeout taken from ``[cluster]``
    where it leaves them out (``None``)."""
    return request.model_copy(
        update={
            "pool": request.pool or cluster.pool_executor,
            "pool_width": request.pool_width or cluster.pool_width,
            "item_timeout": request.item_timeout or cluster.item_timeout,
        }
    )


def every_output(slot_results: list[SlotResult], slots: list[Any]) -> list[str]:
    """Every file the slots wrote, sorted; a file two slots both wrote is a RunError naming them.

    The result used to de-duplicate paths, which hid one chunk overwriting another's output.
    """
    writers: dict[str, list[str]] = {}
    for result in slot_results:
        for path in result.outputs:
            writers.setdefault(path, []).append(slots[result.slot].name)
    shared = {path: names for path, names in writers.items() if len(names) > 1}
    if shared:
        path, names = next(iter(sorted(shared.items())))
        raise RunError(
            f"{path} was written by {' and '.join(names)}: one output overwrote another "
            f"({len(shared)} such file(s)); give each chunk its own output name"
        )
    return sorted(writers)


def _log_path(env: AgiEnv) -> Path:
    env.log_dir.mkdir(parents=True, exist_ok=True)
    path = env.log_dir / f"run_{timestamp()}.log"
    number = 1
    while path.exists():
        number += 1
        path = env.log_dir / f"run_{timestamp()}_{number}.log"
    return path


def _require_cudf_locally() -> None:
    if importlib.util.find_spec("cudf") is None:
        raise RunError(
            "the rapids bit needs the 'cudf' package (NVIDIA GPU) in the worker environment, "
            "and it is not installed: nothing was started"
        )


def build_worker_spec(
    env: AgiEnv,
    args: dict[str, Any],
    *,
    cython: bool = False,
    paths: list[str] | None = None,
    verbose: int | None = None,
    pool: Literal["process", "thread"] | None = None,
    pool_width: int | None = None,
    dag: bool = False,
    item_timeout: float | None = None,
) -> WorkerSpec:
    """What a worker process needs to build the app's worker (runs, service loops)."""
    return WorkerSpec(
        worker_module=f"{env.worker_module}.{env.worker_module}",
        worker_package=env.worker_module,
        worker_class=env.worker_class,
        args_module=f"{env.target}.app_args",
        args_class=env.args_class,
        args=args,
        share_dir=str(env.share_dir),
        verbose=effective_verbose(env, verbose),
        cython=cython,
        paths=list(paths or []),
        pool=pool,
        pool_width=pool_width,
        dag=dag,
        item_timeout=item_timeout,
    )


def slot_spec(context: _Context, args: dict[str, Any], paths: list[str]) -> WorkerSpec:
    """The worker spec of this run's mode."""
    return build_worker_spec(
        context.env,
        args,
        cython=bool(context.mode & Mode.CYTHON),
        paths=paths,
        verbose=context.request.verbose,
        pool=context.request.pool if context.mode & Mode.POOL else None,
        pool_width=context.request.pool_width,
        dag=context.distribution.plan.dag is not None,
        item_timeout=context.request.item_timeout,
    )


def _slot_parts(context: _Context) -> list[SlotPart]:
    """Per non-empty slot its chunks; DAG steps sorted by one global dependency order."""
    plan = context.distribution.plan
    rank = {step: index for index, step in enumerate(plan.step_order())} if plan.dag else {}
    parts = []
    for number, chunks in enumerate(plan.slots):
        ordered = sorted(chunks, key=lambda c: rank.get(c.label, 0)) if rank else chunks
        if ordered:
            parts.append(SlotPart(slot=number, chunks=[ChunkPart(label=c.label, items=list(c.items)) for c in ordered]))
    return parts


def _local_order(context: _Context, parts: list[SlotPart]) -> list[tuple[int, int]]:
    """(slot, index) pairs: slot after slot, or for DAG plans one global dependency order."""
    pairs = [(part.slot, index) for part in parts for index in range(len(part.chunks))]
    plan = context.distribution.plan
    if plan.dag:
        rank = {step: index for index, step in enumerate(plan.step_order())}
        label = {part.slot: [chunk.label for chunk in part.chunks] for part in parts}
        pairs.sort(key=lambda pair: rank[label[pair[0]][pair[1]]])
    return pairs


def _chunk_done(context: _Context, event: ChunkEvent) -> None:
    context.done += 1
    context.progress(context.done, context.distribution.plan.chunk_count)


# ----- local -----------------------------------------------------------------------------------
def _run_local(context: _Context, args: dict[str, Any]) -> list[SlotResult]:
    from . import local
    from .runner import TIMED_OUT

    env = context.env
    paths = ([str(env.cython_dir)] if context.mode & Mode.CYTHON else []) + [str(env.src_path)]
    parts = _slot_parts(context)
    job = LocalJob(
        spec=slot_spec(context, args, paths),
        slot_count=len(context.distribution.plan.slots),
        slots=parts,
        order=_local_order(context, parts),
    )
    worker, shared = local.acquire(env.worker_python, (str(env.worker_python), context.install_key))
    context.control.attach(worker.kill)
    results: list[SlotResult] = []
    errors: list[str] = []

    def on_event(event: Event) -> None:
        if isinstance(event, ChunkEvent):
            _chunk_done(context, event)
        elif isinstance(event, LogEvent):
            context.sink(event.line)
        elif isinstance(event, SlotEvent):
            results.append(event.result())
        elif isinstance(event, ErrorEvent):
            errors.append(event.message)

    finished = False
    try:
        status = worker.run(job, on_event, context.sink)
        finished = True
    finally:  # a job left mid-stream (an error here) leaves its events behind: never reuse that process
        timed_out = any(TIMED_OUT in message for message in errors)
        if (not finished or timed_out) and worker.alive:
            worker.kill()  # a timed-out item may still run in an abandoned thread: never reuse that process
        if context.control.cancelled or not worker.alive:
            local.discard(worker)
        local.release(worker, shared)
    if context.control.cancelled:
        raise RunError("run cancelled: the local worker process was stopped")
    if errors or status != 0:
        stopped = " (the local worker process was then stopped: nothing of it runs on)" if timed_out else ""
        raise RunError(
            f"local worker process failed (exit {status}): {errors[0] if errors else 'see the run log'}{stopped}"
        )
    return results


# ----- Dask -------------------------------------------------------------------------------------
def _run_dask(context: _Context, handle: Any, args: dict[str, Any]) -> tuple[list[SlotResult], int]:
    from distributed import Event

    from .cluster import slot_workers
    from .runner import dask_slot
    from .service.registry import check_run_capacity
    from .shipping import ship_app

    client = handle.client
    addresses = slot_workers(client, context.workers)
    check_run_capacity(client, addresses)  # service loops hold threads: refuse rather than wait forever
    if context.mode & Mode.RAPIDS:
        _require_cudf_on(client, sorted(set(addresses)))
    ship_app(client, context.env, context.sink)
    run_id = uuid.uuid4().hex[:10]
    spec = DaskSlotSpec(
        **slot_spec(context, args, []).model_dump(), topic=f"agi-run-{run_id}", cancel_event=f"agi-cancel-{run_id}"
    )
    stop_event = Event(spec.cancel_event, client=client)

    # Dask's unsubscribe_topic keeps the handler in the client for as long as the client lives:
    # it reaches the run (plan, futures, their tasks on the scheduler) only through this list,
    # emptied when the run ends, else every big run stayed in the kernel (about 20 MB per 10,000 chunks)
    receiving = [context]

    def on_event(received: Any) -> None:
        if not receiving:
            return
        context = receiving[0]
        chunks = 0
        for message in topic_messages(received):
            try:
                event = topic_event(message)
            except RunError as error:  # raised here it would reach only Dask's own log: say it in the run's log
                logger.warning("run %s: %s", run_id, error)
                context.sink(f"ignored an event from a Dask worker: {error}")
                continue
            if isinstance(event, ChunkEvent):
                chunks += 1
            elif isinstance(event, LogEvent):
                context.sink(event.line)
        if chunks:  # once per batch: a progress bar redrawn per chunk would cost more than the chunk
            context.done += chunks
            context.progress(context.done, context.distribution.plan.chunk_count)

    client.subscribe_topic(spec.topic, on_event)
    slot_count = len(context.distribution.plan.slots)
    parts = _slot_parts(context)
    task = dask_slot if context.distribution.plan.dag is not None else dask_slot_batched
    futures = [
        client.submit(
            task,
            spec,
            part.slot,
            slot_count,
            _chunks_payload(client, part, addresses[part.slot]),
            workers=[addresses[part.slot]],
            allow_other_workers=False,
            pure=False,
            key=f"agi-{context.env.target}-{run_id}-slot{part.slot}",
        )
        for part in parts
    ]
    context.control.attach(lambda: _cancel_dask(client, futures, stop_event, addresses))
    try:
        results = _collect(client, futures, parts, addresses, context, stop_event)
    finally:
        client.unsubscribe_topic(spec.topic)
        receiving.clear()
    _forget_topic(client, spec.topic)
    return results, len({address.rsplit(":", 1)[0] for address in addresses})


def _chunks_payload(client: Any, part: SlotPart, address: str) -> Any:
    """A slot's chunks as its task's argument: the list itself, or a future of it when it is big.

    Dask's scheduler keeps, for debugging, the last 1,000 messages under 1 MB sent to each worker
    (``distributed.admin.low-level-log-length``), and a task's arguments travel inside its message:
    a long-lived scheduler kept each big run's plan for hundreds of runs (about 15 MB per
    10,000-chunk run in the kernel's local cluster). Scattered data goes to the worker outside that
    stream and is released with the run's futures.
    """
    size = len(part.chunks) + sum(len(chunk.items) for chunk in part.chunks)
    if size <= INLINE_PLAN_SIZE:
        return part.chunks
    return client.scatter([part.chunks], workers=[address], hash=False)[0]


def _forget_topic(client: Any, topic: str) -> None:
    """Drop a finished run's topic on the scheduler, which keeps the last 1,000 messages of every
    topic for as long as it lives (in the kernel, for the engine's local cluster): batches of a big
    run would stay there whole. Best effort: a scheduler without that store keeps them."""

    def forget(dask_scheduler: Any) -> None:
        topics = getattr(getattr(dask_scheduler, "_broker", None), "_topics", None)
        if isinstance(topics, dict):
            topics.pop(topic, None)

    try:
        client.run_on_scheduler(forget)
    except Exception:  # noqa: BLE001 - only memory is at stake
        logger.debug("could not drop the events of topic %s on the scheduler", topic, exc_info=True)


def topic_messages(received: Any) -> list[Any]:
    """The event messages in what the run's Dask topic delivered: one, or a batch's, in order.

    The Dask scheduler adds the ``worker`` key to every dict a worker logs; a batch carries it
    once, beside ``batch``. A batch's list arrives as a tuple (msgpack).
    """
    message = received[1] if isinstance(received, tuple) else received
    if isinstance(message, dict) and BATCH_KEY in message:
        batch = message[BATCH_KEY]
        return list(batch) if isinstance(batch, (list, tuple)) else [batch]
    return [message]


def topic_event(received: Any) -> Event:
    """An event as the run's Dask topic delivers it: ``(time, message)``, parsed.

    The message is the event's wire object, plus the ``worker`` key (the sending worker's
    address) the Dask scheduler adds to every worker event; that key is set aside here.
    """
    message = received[1] if isinstance(received, tuple) else received
    if isinstance(message, dict) and "worker" in message:
        message = {key: value for key, value in message.items() if key != "worker"}
    return parse_event(message)


def _collect(
    client: Any, futures: list[Any], parts: list[SlotPart], addresses: list[str], context: _Context, stop_event: Any
) -> list[SlotResult]:
    """Slot results as they finish; the first failure (or lost worker) cancels the other slots and is raised.

    A slot is pinned to its Dask worker, so when that worker dies (killed, out of memory, host
    gone) Dask cannot run the slot anywhere else and would wait forever: every
    ``LOST_WORKER_CHECK`` seconds of waiting, the pending slots' workers are looked up on the
    scheduler, and a missing one fails the run with its address.
    """
    slot_of = {future.key: part.slot for future, part in zip(futures, parts)}
    results: list[SlotResult] = []
    pending = list(futures)
    changed = threading.Event()
    for future in futures:
        future.add_done_callback(lambda _: changed.set())
    while pending:
        changed.wait(LOST_WORKER_CHECK)
        changed.clear()  # set again by any slot finishing from here on
        if context.control.cancelled:
            raise RunError("run cancelled: its Dask tasks were cancelled")
        finished = [future for future in pending if future.done()]
        pending = [future for future in pending if not future.done()]
        for future in finished:
            results.append(_slot_result(client, future, slot_of[future.key], futures, addresses, stop_event))
        if pending and not finished:
            _check_workers(client, [slot_of[future.key] for future in pending], futures, addresses, stop_event)
    return sorted(results, key=lambda result: result.slot)


def _slot_result(
    client: Any, future: Any, slot: int, futures: list[Any], addresses: list[str], stop_event: Any
) -> SlotResult:
    """A finished slot's result (validated: it crossed from the Dask worker), or the RunError that stops the run."""
    if future.status == "error":
        _stop_others(client, future, futures, stop_event)
        raise RunError(f"worker {addresses[slot]} (slot {slot}) failed: {future.exception()}")
    if future.status == "cancelled":
        raise RunError(f"slot {slot} on {addresses[slot]} was cancelled")
    return slot_result_of(future.result())


def _check_workers(client: Any, slots: list[int], futures: list[Any], addresses: list[str], stop_event: Any) -> None:
    """Fail the run, naming the worker, when a pending slot's Dask worker has left the cluster."""
    present = set(client.nthreads())  # every worker (scheduler_info() lists only a few on some versions)
    lost = [slot for slot in slots if addresses[slot] not in present]
    if lost:
        _stop_others(client, None, futures, stop_event)
        names = ", ".join(f"{addresses[slot]} (slot {slot})" for slot in lost)
        raise RunError(
            f"Dask worker {names} was lost mid-run (its process died or left the cluster): "
            "the run stopped; outputs of its unfinished chunks were not written"
        )


def _stop_others(client: Any, failed: Any, futures: list[Any], stop_event: Any) -> None:
    stop_event.set()  # the other slots stop between items (and DAG waits give up)
    client.cancel([future for future in futures if future is not failed], force=True)


def _cancel_dask(client: Any, futures: list[Any], stop_event: Any, addresses: list[str]) -> bool:
    """Ask slots to stop between items, cancel their tasks, and check that nothing still executes.

    Only workers still in the cluster are asked (a lost worker executes nothing, and asking it
    would wait for a connection timeout).
    """
    stop_event.set()
    client.cancel(futures, force=True)
    keys = {future.key for future in futures}
    deadline = time.monotonic() + 4.5
    while time.monotonic() < deadline:
        present = sorted(set(addresses) & set(client.nthreads()))
        running = client.run(_executing_keys, workers=present) if present else {}
        if not keys & {key for found in running.values() for key in found}:
            return True
        time.sleep(0.1)
    return False


def _executing_keys(dask_worker: Any) -> list[str]:
    return [str(getattr(task, "key", task)) for task in getattr(dask_worker.state, "executing", set())]


class EventBatches:
    """A Dask slot's events, sent to its topic in batches (see the module docstring).

    Calling it queues an event; a thread sends what is queued every ``seconds``, and leaving the
    ``with`` block sends the rest, so a slot's last events leave before its result.
    """

    def __init__(self, send: Callable[[dict[str, Any]], None], seconds: float = EVENT_BATCH_SECONDS) -> None:
        self.send, self.seconds = send, seconds
        self.queued: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._send_every, name="agi-slot-events", daemon=True)

    def __call__(self, event: Event) -> None:
        wire = event.wire()
        with self.lock:
            self.queued.append(wire)

    def flush(self) -> None:
        with self.lock:
            batch, self.queued = self.queued, []
            if batch:  # sent under the lock: two batches never swap places
                self.send({BATCH_KEY: batch})

    def _send_every(self) -> None:
        while not self.ended.wait(self.seconds):
            self.flush()

    def __enter__(self) -> EventBatches:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.ended.set()
        self.thread.join()
        self.flush()


def at_most_every(seconds: float, check: Callable[[], bool]) -> Callable[[], bool]:
    """``check`` asked at its first call, then again only once ``seconds`` have passed (else False).

    Once it said True it keeps saying so without asking.
    """
    last = [-float("inf"), False]

    def throttled() -> bool:
        now = time.monotonic()
        if not last[1] and now - float(last[0]) >= seconds:
            last[0], last[1] = now, bool(check())
        return bool(last[1])

    return throttled


def dask_slot_batched(
    spec: DaskSlotSpec | dict[str, Any], slot: int, slot_count: int, chunks: list[ChunkPart | dict[str, Any]]
) -> SlotResult:
    """One Dask task per worker slot (plans without a DAG): :func:`agi_jupyter.core.runner.dask_slot`
    with its events sent in batches and the cancel event asked at most every ``CANCEL_CHECK_SECONDS``.

    The task's result is the slot's :class:`SlotResult` with the Dask worker's address.
    """
    from distributed import Event as DaskEvent
    from distributed import get_worker

    from . import pools
    from .jobs import dask_spec_of
    from .runner import prints_as_events, run_slot

    slot_spec = dask_spec_of(spec)
    worker = get_worker()
    stop = DaskEvent(slot_spec.cancel_event)
    if slot_spec.pool:
        pools.close_with_dask_worker(worker)
    batches = EventBatches(lambda message: worker.log_event(slot_spec.topic, message))
    with batches as report, prints_as_events(report, slot):
        result = run_slot(
            slot_spec,
            slot,
            slot_count,
            chunks,
            report,
            cancelled=at_most_every(CANCEL_CHECK_SECONDS, stop.is_set),
            owner=worker.address,
        )
    return result.model_copy(update={"worker": worker.address})


def _require_cudf_on(client: Any, addresses: list[str]) -> None:
    found = client.run(lambda: importlib.util.find_spec("cudf") is not None, workers=addresses)
    missing = sorted(address for address, present in found.items() if not present)
    if missing:
        raise RunError(
            f"the rapids bit needs the 'cudf' package on the Dask workers; it is missing on "
            f"{', '.join(missing)}: nothing was started"
        )
