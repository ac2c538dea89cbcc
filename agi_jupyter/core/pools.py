"""Warm pools: a worker slot's process (or thread) pool, kept between runs in the process that ran it.

A pool-mode run used to start a fresh pool per slot and shut it down at the end: half a second of
spawning Python and importing the app per run, most of a small run's time. The pool now stays in
the process that runs the slot (the engine's warm local worker process, see
:mod:`agi_jupyter.core.local`, or a Dask worker) and the next run of the same slot leases it back.

A pool is reused only where a fresh one would be the same. Its :class:`PoolKey` holds where it
lives (``"local"`` or the Dask worker's address), which app worker and slot it serves, the
executor and width, the install fingerprint of the worker code its members imported, and a digest
of everything its members were initialised with (the worker's arguments, share dir, verbosity,
paths, the slot count and the ``pool_vars`` passed to ``pool_init``). Each place (owner, worker,
slot) keeps at most one idle pool: a lease under another key shuts the old pool down and starts a
new one, so a re-install, other arguments or other pool settings never meet stale members.

A pool is never given back, but shut down, when a member died (``BrokenProcessPool``, or a member
process found dead when leased), when a run abandoned it (an item ran over ``item_timeout``: a
process pool's members were killed, a thread may still run the item) or when a chunk failed with
items possibly still queued. Idle pools are shut down with their process: at the local runner's
end of input and at exit (``atexit``), and on Dask when the worker closes (a worker plugin whose
``teardown`` closes that worker's pools). Pool members also exit on their own when their parent
process disappears, so a killed worker leaves none behind.

``AGI_WARM_POOLS=0`` in the environment of the process that runs the slots (the kernel's, which
the local worker process and the engine's local Dask workers inherit) turns warm pools off: every
run starts and shuts down its own pools, as before (for an app whose members must not outlive a
run, and to measure what warm pools save).
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import pickle
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .jobs import WorkerSpec

logger = logging.getLogger(__name__)

LOCAL = "local"
"""The owner of the pools of the engine's local worker process (Dask pools are owned by the worker's address)."""

DASK_PLUGIN = "agi-warm-pools"
SWITCH = "AGI_WARM_POOLS"
MEMBER_FIELDS = {
    "worker_module",
    "worker_package",
    "worker_class",
    "args_module",
    "args_class",
    "args",
    "share_dir",
    "verbose",
    "cython",
    "paths",
}
"""The worker spec fields a pool member builds its worker from (not the per-run topic, timeout, ...)."""


@dataclass(frozen=True)
class PoolKey:
    """What makes a warm pool the right one for a slot's run: equal keys, same pool."""

    owner: str  # LOCAL or the Dask worker's address
    worker: str  # module.Class of the app's worker
    slot: int
    executor: str  # "process" or "thread"
    width: int
    install: str  # fingerprint of the worker code the members import
    members: str  # digest of what the members are built and initialised with

    @property
    def place(self) -> tuple[str, str, int]:
        """Where the pool serves: one idle pool per place."""
        return (self.owner, self.worker, self.slot)


def key_of(
    owner: str,
    spec: WorkerSpec,
    worker_class: type,
    slot: int,
    slot_count: int,
    executor: str,
    width: int,
    variables: dict[str, Any],
) -> PoolKey:
    """The key of the pool a slot of ``spec`` needs, its members given ``variables`` by ``pool_init``."""
    return PoolKey(
        owner=owner,
        worker=f"{worker_class.__module__}.{worker_class.__qualname__}",
        slot=slot,
        executor=executor,
        width=width,
        install=install_fingerprint(worker_class),
        members=members_digest(spec.model_dump(include=MEMBER_FIELDS), slot_count, variables),
    )


def install_fingerprint(worker_class: type) -> str:
    """Which build of the worker the pool's members import: its module's file, size and change time.

    On Dask each shipped version of the app unpacks into a folder named after its digest, and a
    Cython build is its own extension file, so a new install or build is a new fingerprint.
    """
    module = sys.modules.get(worker_class.__module__)
    origin = getattr(module, "__file__", None) or ""
    try:
        status = os.stat(origin)
    except OSError:
        return f"{origin}|unknown-{uuid.uuid4().hex}"  # cannot tell: never reuse
    return f"{origin}|{status.st_size}|{status.st_mtime_ns}"


def members_digest(fields: dict[str, Any], slot_count: int, variables: dict[str, Any]) -> str:
    """A digest of what pool members are built with; unpicklable values give a digest never seen again."""
    try:
        payload = pickle.dumps((sorted(fields.items()), slot_count, variables), protocol=4)
    except Exception:  # noqa: BLE001 - any pickling failure: the pool just is not reused
        logger.debug("pool variables do not pickle: the pool is not kept warm", exc_info=True)
        return f"unpicklable-{uuid.uuid4().hex}"
    return hashlib.sha256(payload).hexdigest()


# ----- the registry ----------------------------------------------------------------------------
_lock = threading.Lock()
_idle: dict[tuple[str, str, int], tuple[PoolKey, Executor]] = {}


def lease(key: PoolKey, start: Callable[[], Executor]) -> tuple[Executor, bool]:
    """The idle warm pool of ``key`` (and True), else a new one from ``start`` (and False).

    The caller owns the pool until it calls :func:`give_back` (keep it warm) or :func:`discard`.
    An idle pool of the same place under another key, or a broken one, is shut down.
    """
    if not enabled():
        return start(), False
    with _lock:
        entry = _idle.pop(key.place, None)
    if entry is not None:
        held, executor = entry
        if held == key and healthy(executor):
            return executor, True
        logger.debug("warm pool of %s %s: replaced", key.place, "is broken" if held == key else "has another key")
        discard(executor, wait=False)
    return start(), False


def give_back(key: PoolKey, executor: Executor) -> None:
    """Keep ``executor`` warm for the next run of its place; a broken one is shut down instead."""
    if not enabled():
        discard(executor, wait=True)  # what a run did before pools were kept warm
        return
    if not healthy(executor):
        discard(executor, wait=False)
        return
    with _lock:
        previous = _idle.get(key.place)
        _idle[key.place] = (key, executor)
    if previous is not None and previous[1] is not executor:  # a concurrent run of the same place
        discard(previous[1], wait=False)


def enabled() -> bool:
    """Whether pools are kept warm here (``AGI_WARM_POOLS=0`` turns them off)."""
    return os.environ.get(SWITCH, "1").strip() != "0"


def discard(executor: Executor, wait: bool = True) -> None:
    """Shut a pool down for good, cancelling what it has not started."""
    try:
        executor.shutdown(wait=wait, cancel_futures=True)
    except Exception:  # noqa: BLE001 - a broken pool may fail to shut down cleanly; it is gone either way
        logger.debug("shutting a pool down failed", exc_info=True)


def healthy(executor: Executor) -> bool:
    """Neither shut down nor broken, and (a process pool) every member process alive."""
    if getattr(executor, "_broken", False) or getattr(executor, "_shutdown_thread", False):
        return False
    if getattr(executor, "_shutdown", False):
        return False
    if isinstance(executor, ProcessPoolExecutor):
        members = getattr(executor, "_processes", None) or {}  # no public view of the members
        return all(process.is_alive() for process in list(members.values()))
    return True


def member_pids(owner: str | None = None) -> dict[tuple[str, str, int], list[int]]:
    """The member process ids of each idle process pool (for diagnostics and tests)."""
    with _lock:
        entries = list(_idle.items())
    return {
        place: sorted((getattr(executor, "_processes", None) or {}).keys())
        for place, (key, executor) in entries
        if owner is None or key.owner == owner
    }


def close_pools(owner: str | None = None) -> int:
    """Shut down every idle pool (of ``owner`` only, when given) and wait for its members; how many."""
    with _lock:
        places = [place for place, (key, _) in _idle.items() if owner is None or key.owner == owner]
        executors = [_idle.pop(place)[1] for place in places]
    managers = [getattr(executor, "_executor_manager_thread", None) for executor in executors]
    for executor in executors:
        discard(executor, wait=False)  # every pool's members end at once (a member takes ~0.4 s with pandas)
    for executor, manager in zip(executors, managers):
        if manager is not None:
            manager.join()  # a process pool's manager thread ends once it has joined the members
        else:
            discard(executor, wait=True)  # a thread pool: joins its threads
    return len(executors)


atexit.register(close_pools)


# ----- pool members ------------------------------------------------------------------------------
def watch_parent(interval: float = 1.0) -> None:
    """In a pool member: exit when the process that started it is gone (killed), leaving no orphan."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="agi-pool-parent-watch", daemon=True).start()


# ----- Dask workers ------------------------------------------------------------------------------
_dask_attached: set[str] = set()


def close_with_dask_worker(worker: Any) -> None:
    """Have ``worker`` shut its warm pools down when it closes (a Dask worker plugin's teardown)."""
    with _lock:
        if worker.address in _dask_attached or DASK_PLUGIN in getattr(worker, "plugins", {}):
            return
        _dask_attached.add(worker.address)
    from distributed.diagnostics.plugin import WorkerPlugin

    class WarmPoolsPlugin(WorkerPlugin):
        """Closes the warm pools a Dask worker holds when the worker closes."""

        def teardown(self, worker: Any) -> None:
            closed = close_pools(owner=worker.address)
            with _lock:
                _dask_attached.discard(worker.address)
            if closed:
                logger.info("Dask worker %s closed %d warm pool(s)", worker.address, closed)

    worker.loop.add_callback(worker.plugin_add, plugin=WarmPoolsPlugin(), name=DASK_PLUGIN)
