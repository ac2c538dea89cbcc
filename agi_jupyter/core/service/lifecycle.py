"""The service's loop tasks on Dask: launch one, read their states, judge them, end them.

Everything here acts on one :class:`~.registry.Service` and the Dask client it runs on; the
decisions (which loops to restart, which claims to recover, what to report) are the
controller's (serve.py). A loop that is stuck (``STUCK`` reasons) is ended together with its Dask
worker process when a nanny can bring the worker back, so the stuck code cannot resume and
finish its task a second time.
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

from ..env import AgiEnv
from ..errors import AgiError
from ..logs import LineCallback
from ..requests import ServeRequest
from .health import LoopHealth, judge_loop
from .heartbeat import incarnation_of, read_beats, read_heartbeats
from .loop import service_loop
from .queue import TaskQueue
from .records import HeartbeatRecord, LoopConfig
from .registry import Loop, Service

logger = logging.getLogger(__name__)

DEAD_STATES = ("finished", "error", "lost")  # a loop future in one of these runs no code any more
STUCK = ("stale-heartbeat", "task-timeout")  # reasons whose loop may still hold a thread: restart the worker


def queue_dir(env: AgiEnv) -> Path:
    return env.service_dir / "queue"


def launch(service: Service, slot: int, worker: str) -> Loop:
    incarnation = uuid.uuid4().hex[:10]
    config = LoopConfig(
        queue_dir=str(queue_dir(service.env)),
        incarnation=incarnation,
        stop_event=service.stop_event(incarnation),
        wake_event=service.wake_event(incarnation),
        heartbeat_timeout=service.timeout,
        task_timeout=service.task_timeout,
    )
    future = service.handle.client.submit(
        service_loop,
        service.spec,
        slot,
        service.slot_count,
        config,
        workers=[worker],
        allow_other_workers=False,
        pure=False,
        key=f"agi-service-{service.env.target}-{slot}-{incarnation}",
    )
    return Loop(slot, worker, incarnation, future, time.time())


def future_states(service: Service) -> dict[str, str]:
    """Each loop's state as the scheduler sees it: pending, running, finished, error, cancelled, lost."""
    keys = [loop.future.key for loop in service.loops.values()]
    client_side = {loop.future.key: loop.future.status for loop in service.loops.values()}
    try:
        on_scheduler = service.handle.client.run_on_scheduler(_task_states, keys)
    except Exception:  # noqa: BLE001 - scheduler unreachable: the client's view is all there is
        logger.debug("no task states from the scheduler", exc_info=True)
        on_scheduler = {}
    names = {
        "processing": "running",
        "memory": "finished",
        "erred": "error",
        "forgotten": "lost",
        "released": "cancelled",
        "waiting": "pending",
        "queued": "pending",
        "no-worker": "pending",
    }
    states = {}
    for key, local in client_side.items():
        remote = on_scheduler.get(key)
        states[key] = local if local != "pending" or remote is None else names.get(remote, remote)
    return states


def _task_states(keys: list[str], dask_scheduler: Any = None) -> dict[str, str]:
    tasks = dask_scheduler.tasks
    return {key: tasks[key].state for key in keys if key in tasks}


def loop_health(
    service: Service, loop: Loop, beats: dict[str, HeartbeatRecord], now: float, state: str
) -> tuple[LoopHealth, HeartbeatRecord | None]:
    """The loop's verdict (see :func:`judge_loop`) and its own heartbeat (another incarnation's is not)."""
    beat = beats.get(loop.worker)
    if beat is not None and beat.incarnation != loop.incarnation:
        beat = None
    return judge_loop(beat, now, service.timeout, future_state=state, started=loop.started), beat


def beats_by_worker(queue: TaskQueue, service: Service | None) -> dict[str, HeartbeatRecord]:
    """Each loop's own heartbeat, by its worker address (the latest one for workers without a loop)."""
    beats = read_heartbeats(queue.folder("heartbeats"))
    if service is not None:
        own = read_beats(queue.folder("heartbeats"))
        for loop in service.loops.values():
            for beat in own.values():
                if beat.incarnation == loop.incarnation:
                    beats[loop.worker] = beat
    return beats


def loop_workers(client: Any, workers: dict[str, int]) -> list[str]:
    """The Dask workers that get a loop: the slots' workers, each once.

    Two loops on one Dask worker would share its heartbeat file and its stdout, so slots that
    land on the same worker get one loop between them.
    """
    from ..cluster import slot_workers

    return list(dict.fromkeys(slot_workers(client, workers)))


def current_loop_workers(service: Service) -> list[str]:
    """The loops' Dask workers now (a killed worker comes back under a new address); waits briefly for it."""
    deadline = time.monotonic() + max(10.0, service.timeout)
    while True:
        try:
            return loop_workers(service.handle.client, service.workers)
        except AgiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def retire(service: Service, loop: Loop, reason: str, say: LineCallback) -> None:
    """End a loop. A stuck one (``STUCK`` reasons) takes its Dask worker process with it, so the
    code it is stuck in can never resume and finish its task a second time."""
    from distributed import Event

    client = service.handle.client
    Event(service.stop_event(loop.incarnation), client=client).set()
    client.cancel([loop.future], force=True)
    if reason.startswith(STUCK) and _has_nanny(client, loop.worker):
        say(f"restarting the Dask worker {loop.worker} to end its stuck loop ({reason}); other work there ends too")
        try:
            client.restart_workers([loop.worker], timeout=max(30.0, 3 * service.timeout), raise_for_error=True)
            service.dead.add(loop.incarnation)
            say(f"restarted the Dask worker {loop.worker}: its loop was stuck ({reason})")
        except Exception as error:  # noqa: BLE001 - e.g. a worker without a nanny: the heartbeat decides
            logger.info("could not restart the Dask worker %s: %s", loop.worker, error, exc_info=True)
            say(
                f"could not restart the Dask worker {loop.worker} ({error}); its claims are recovered once "
                "its heartbeat is older than the timeout"
            )
    elif reason.startswith(STUCK):
        say(
            f"the Dask worker {loop.worker} has no nanny to restart it: its stuck loop is cancelled, and its "
            "claims are recovered once its heartbeat is older than the timeout"
        )


def _has_nanny(client: Any, worker: str) -> bool:
    """Whether ``worker`` is still in the cluster and has a nanny (a restart kills a worker without one)."""
    try:
        return bool(client.run_on_scheduler(_nanny_of, worker))
    except Exception:  # noqa: BLE001 - a scheduler that cannot answer: do not restart anything
        logger.debug("no nanny information for %s", worker, exc_info=True)
        return False


def _nanny_of(worker: str, dask_scheduler: Any = None) -> str | None:
    state = dask_scheduler.workers.get(worker)
    return None if state is None else state.nanny


def wake(service: Service) -> None:
    """Set every loop's wake event: each clears its own, then scans pending/."""
    from distributed import Event

    for loop in list(service.loops.values()):
        Event(service.wake_event(loop.incarnation), client=service.handle.client).set()


def stop_loops(
    service: Service, request: ServeRequest, queue: TaskQueue, say: LineCallback
) -> tuple[list[str], list[str], set[str]]:
    """Ask every loop to stop after its task in hand; wait up to ``stop_timeout``.

    Returns the workers whose loops were stopped, the ids of the tasks still executing then and
    the incarnations of the loops that run them. Those tasks keep their claims (their loops still
    beat and stop right after them), so a later START does not run them again.
    """
    from distributed import Event, as_completed

    client = service.handle.client
    loops = list(service.loops.values())
    for loop in loops:
        Event(service.stop_event(loop.incarnation), client=client).set()
    wake(service)
    try:
        for _ in as_completed([loop.future for loop in loops], loop=client.loop, timeout=request.stop_timeout):
            pass
    except TimeoutError:
        logger.debug("loops of %s still running after %s s", service.env.app, request.stop_timeout)
    late = [loop for loop in loops if loop.future.status in ("pending", "running")]
    claimers = {loop.incarnation for loop in late}
    executing = sorted(
        path.name.split("@", 1)[0] for path, claimer in queue.claims() if incarnation_of(claimer) in claimers
    )
    if late:
        client.cancel([loop.future for loop in late], force=True)
    if executing:
        say(
            f"{len(executing)} task(s) still executing after {request.stop_timeout:g} s: {', '.join(executing)}; "
            "their loops stop right after them and keep their claims, so they run once"
        )
    service.loops.clear()
    say(f"service of {service.env.app} stopped ({len(loops)} loop(s))")
    return [loop.worker for loop in loops], executing, claimers
