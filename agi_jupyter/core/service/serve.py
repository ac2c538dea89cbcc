"""START / STATUS / HEALTH / STOP of the service, and SUBMIT: the kernel side of service mode.

The running service lives in this module (one per scheduler and app), so re-running the cell
that shows the Orchestrator finds the same loops. Every action prunes old files, checks each
loop (Dask future state + heartbeat), restarts unhealthy loops with the reason, recovers tasks
claimed by loops that died, and writes the health snapshot.

Exactly once, across processes:

- START, STOP and every recovery of one app run under a cross-process file lock
  (``service/<target>/.serve.lock``), so two kernels never recover the same claims at once;
- a claim is recovered only when its claimer is dead: its incarnation is known dead (its Dask
  future ended, or its worker was restarted) or its own heartbeat is older than the timeout.
  A loop of another service, in another kernel, keeps its claims while it beats;
- a loop stuck past the timeout (``stale-heartbeat``) or past its task's time limit
  (``task-timeout``) is restarted together with its Dask worker process when the worker has a
  nanny, so the stuck code cannot resume and finish the task a second time;
- STOP lets the task in hand finish, waits up to ``stop_timeout``, and names the tasks still
  executing after that: their claims stay, so no later START runs them again.

A process that cannot see the service (a CLI without the notebook's client) neither starts a
cluster to answer nor overwrites ``health.json``: it reports ``unknown`` with the recorded
snapshot, re-judged by the heartbeats.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..env import AgiEnv
from ..errors import AgiError, ServiceError
from ..logs import LineCallback
from ..requests import ServeRequest, SubmitRequest
from .health import LoopHealth, judge_loop, snapshot, worker_row, write_snapshot
from .heartbeat import claimer_alive, incarnation_of, read_beats, read_heartbeats
from .loop import service_loop
from .queue import TaskQueue
from .registry import (
    Loop,
    Service,
    ServiceRegistry,
    check_run_capacity,
    forget_record,
    publish_record,
)

__all__ = ["app_lock", "check_run_capacity", "health_path", "queue_dir", "read_health", "registry", "serve", "submit"]

logger = logging.getLogger(__name__)

_lock = threading.RLock()
registry = ServiceRegistry()  # the services this process runs
LOCK_TIMEOUT = 900.0  # longer than any action holds it: STOP may wait stop_timeout (<= 600 s) for tasks
DEAD_STATES = ("finished", "error", "lost")  # a loop future in one of these runs no code any more
STUCK = ("stale-heartbeat", "task-timeout")  # reasons whose loop may still hold a thread: restart the worker


def queue_dir(env: AgiEnv) -> Path:
    return env.service_dir / "queue"


def health_path(env: AgiEnv, request: ServeRequest) -> Path:
    if not request.health_output_path:
        return env.service_dir / "health.json"
    return env.data_path(request.health_output_path)


def serve(env: AgiEnv, request: ServeRequest, on_line: LineCallback | None = None) -> dict[str, Any]:
    """Run one service action and return the health snapshot it wrote (with ``path``)."""
    say = on_line or (lambda line: None)
    with _lock, app_lock(env):
        handle = _client(env, request, say)
        service = registry.find(env, handle)
        queue = TaskQueue(queue_dir(env))
        if service is None and request.action != "start" and _beating_elsewhere(env, queue, request):
            return _unseen(env, request, say)
        if request.action == "start":
            if service and service.loops:
                say(f"service of {env.app} already running on {len(service.loops)} loop(s)")
            else:
                service = _start(env, request, handle, queue, say)
                registry.put(service)
        if request.action == "stop":
            return _stop_action(env, request, handle, service, queue, say)
        restarted = _restart_unhealthy(service, queue, request, say) if service else {}
        if service is None:
            _recover(queue, request, set(), say)
        return write_snapshot(_payload(env, request, service, queue, restarted, say), health_path(env, request))


@contextmanager
def app_lock(env: AgiEnv) -> Iterator[None]:
    """Serialise service actions on one app across processes (kernels, CLIs)."""
    from filelock import FileLock, Timeout

    env.service_dir.mkdir(parents=True, exist_ok=True)
    path = env.service_dir / ".serve.lock"
    try:
        with FileLock(str(path), timeout=LOCK_TIMEOUT):
            yield
    except Timeout:
        raise ServiceError(f"another process has held the service lock of {env.app} for {LOCK_TIMEOUT:g} s "
                           f"({path}): wait for its START/STOP to finish and try again (the lock is released "
                           "by itself when that process ends)") from None


def _stop_action(env: AgiEnv, request: ServeRequest, handle: Any, service: Service | None, queue: TaskQueue,
                 say: LineCallback) -> dict[str, Any]:
    stopped, executing = _stop(service, request, queue, say) if service else ([], [])
    handles = {item.address: item for item in (service.handle if service else None, handle) if item is not None}
    for where in handles.values():
        registry.remove(where.address, env.target)
        forget_record(env, where)
    payload = _payload(env, request, None, queue, {}, say)
    payload.update(status="stopped", stopped=stopped, still_running=executing)
    if request.close_cluster and handle is not None and handle.owned:
        from ..cluster import close_local_cluster

        close_local_cluster()
        say("closed the local Dask cluster the engine had started")
    return write_snapshot(payload, health_path(env, request))


def _beating_elsewhere(env: AgiEnv, queue: TaskQueue, request: ServeRequest) -> list[str]:
    """Loops of this app that beat although no service here knows them (another process's)."""
    ours = registry.ours(env.target)
    beats, now = read_beats(queue.folder("heartbeats")), time.time()
    return sorted(name for name in beats if incarnation_of(name) not in ours
                  and claimer_alive(name, beats, request.heartbeat_timeout, now))


def _unseen(env: AgiEnv, request: ServeRequest, say: LineCallback) -> dict[str, Any]:
    """What a process that cannot reach the running service can say: ``unknown``, and the record.

    It writes nothing: the snapshot on disk belongs to the process that runs the service.
    """
    if request.action == "stop":
        raise ServiceError(f"the service of {env.app} runs on a Dask cluster this process cannot reach: stop it "
                           "from the process that started it, or pass the scheduler it runs on (--scheduler / "
                           "scheduler=...)")
    recorded = read_health(env, request.health_output_path)
    say(f"the service of {env.app} was started by another process on a cluster this one cannot reach; "
        f"showing its recorded snapshot ({recorded['status']}, re-judged by the heartbeats)")
    return {**recorded, "status": "unknown", "recorded_status": recorded["status"]}


def read_health(env: AgiEnv, health_output_path: str | None = None) -> dict[str, Any]:
    """The last snapshot re-judged by today's heartbeats: what a monitor without Dask can know."""
    from pydantic import ValidationError

    from .health import refresh
    from .records import HealthSnapshot, problems

    path = health_path(env, ServeRequest(health_output_path=health_output_path))
    queue = TaskQueue(queue_dir(env))
    try:
        saved = HealthSnapshot.model_validate_json(path.read_bytes()).wire()
    except FileNotFoundError:
        saved = snapshot(app=env.app, target=env.target, rows=[], queue=queue.counts(), started=False, restarted={},
                         timeout=10.0, queue_dir=queue.root, cleanup={}, client_status=None, pending=[])
    except ValidationError as error:
        raise AgiError(f"{path}: not a readable health snapshot ({problems(error)})") from None
    except OSError as error:
        raise AgiError(f"{path}: not a readable health snapshot ({error})") from None
    payload = refresh(saved, read_heartbeats(queue.folder("heartbeats")), queue.counts())
    return {**payload, "path": str(path)}


def submit(env: AgiEnv, request: SubmitRequest, on_line: LineCallback | None = None) -> list[str]:
    """Queue tasks (durably, as files) and wake the loops; returns the task ids."""
    queue = TaskQueue(queue_dir(env))
    if request.items is not None:
        ids = [queue.submit(request.items, request.params, request.label, time_limit=request.time_limit)]
    else:
        ids = [queue.submit(chunk.items, request.params, chunk.label, time_limit=request.time_limit)
               for chunk in _plan_chunks(env, request)]
    for service in registry.of_target(env.target):  # not under _lock: a STOP may hold it for long
        _wake(service)
    if on_line:
        on_line(f"submitted {len(ids)} task(s) to {queue.root}")
    return ids


# ----- actions ------------------------------------------------------------------------------------
def _client(env: AgiEnv, request: ServeRequest, say: LineCallback) -> Any:
    from ..cluster import client_for

    return client_for(env, request, say, start=request.action == "start")


def _start(env: AgiEnv, request: ServeRequest, handle: Any, queue: TaskQueue, say: LineCallback) -> Service:
    from ..args import load_args
    from ..cluster import slot_workers
    from ..install import check_install
    from ..modes import Mode
    from ..run import worker_spec
    from ..settings import AppSettings
    from ..shipping import ship_app

    settings = AppSettings.load(env.settings_path).cluster
    record = check_install(env, Mode(0))
    ship_app(handle.client, env, say)
    args = load_args(env, request.params).model_dump(mode="json")
    cython = bool(settings.cython and record.compiled)
    service = Service(env, handle, dict(request.workers or settings.workers),
                      worker_spec(env, args, cython=cython), request.heartbeat_timeout,
                      task_timeout=request.task_timeout)
    addresses = loop_workers(handle.client, service.workers)
    if len(addresses) < len(slot_workers(handle.client, service.workers)):
        say(f"several slots share a Dask worker: one loop per Dask worker ({len(addresses)} loops); "
            "start more Dask workers for more loops")
    service.slot_count = len(addresses)
    for slot, worker in enumerate(addresses):
        service.loops[slot] = _launch(service, slot, worker)
    publish_record(service)
    say(f"service of {env.app} started: {len(service.loops)} loop(s) on {handle.address}")
    _recover(queue, request, set(), say)
    return service


def _recover(queue: TaskQueue, request: ServeRequest, dead: set[str], say: LineCallback) -> list[str]:
    """Put back the claims of dead claimers: known dead (``dead`` incarnations) or silent too long."""
    beats, now = read_beats(queue.folder("heartbeats")), time.time()

    def alive(claimer: str) -> bool:
        return incarnation_of(claimer) not in dead and claimer_alive(claimer, beats, request.heartbeat_timeout, now)

    recovered = queue.recover(alive, request.max_attempts)
    if recovered:
        say(f"recovered {len(recovered)} task(s) claimed by loops that died: {', '.join(recovered)}")
    return recovered


def _launch(service: Service, slot: int, worker: str) -> Loop:
    incarnation = uuid.uuid4().hex[:10]
    settings = {"queue_dir": str(queue_dir(service.env)), "incarnation": incarnation,
                "stop_event": service.stop_event(incarnation), "wake_event": service.wake_event(incarnation),
                "heartbeat_timeout": service.timeout, "task_timeout": service.task_timeout}
    future = service.handle.client.submit(
        service_loop, service.spec, slot, service.slot_count, settings, workers=[worker],
        allow_other_workers=False, pure=False, key=f"agi-service-{service.env.target}-{slot}-{incarnation}")
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
    names = {"processing": "running", "memory": "finished", "erred": "error", "forgotten": "lost",
             "released": "cancelled", "waiting": "pending", "queued": "pending", "no-worker": "pending"}
    states = {}
    for key, local in client_side.items():
        remote = on_scheduler.get(key)
        states[key] = local if local != "pending" or remote is None else names.get(remote, remote)
    return states


def _task_states(keys: list[str], dask_scheduler: Any = None) -> dict[str, str]:
    tasks = dask_scheduler.tasks
    return {key: tasks[key].state for key in keys if key in tasks}


def _loop_health(service: Service, loop: Loop, beats: dict[str, dict[str, Any]], now: float,
                 state: str) -> tuple[LoopHealth, dict[str, Any] | None]:
    """The loop's verdict (see :func:`judge_loop`) and its own heartbeat (another incarnation's is not)."""
    beat = beats.get(loop.worker)
    if beat is not None and beat.get("incarnation") != loop.incarnation:
        beat = None
    return judge_loop(beat, now, service.timeout, future_state=state, started=loop.started), beat


def _restart_unhealthy(service: Service, queue: TaskQueue, request: ServeRequest, say: LineCallback
                       ) -> dict[str, str]:
    beats = _beats_by_worker(queue, service)
    now = time.time()
    states = future_states(service)
    sick: dict[int, tuple[str, str]] = {}  # slot -> (reason, future state)
    for slot, loop in service.loops.items():
        verdict, _ = _loop_health(service, loop, beats, now, states[loop.future.key])
        if not verdict.healthy:
            sick[slot] = (verdict.reason, states[loop.future.key])
    restarted: dict[str, str] = {}
    if sick:
        for slot, (reason, state) in sorted(sick.items()):
            old = service.loops[slot]
            _retire(service, old, reason, say)
            if state in DEAD_STATES:
                service.dead.add(old.incarnation)
        busy = {loop.worker for slot, loop in service.loops.items() if slot not in sick}
        free = [worker for worker in _current_slot_workers(service, loop_workers) if worker not in busy]
        for slot, (reason, _) in sorted(sick.items()):
            old = service.loops[slot]
            if not free:  # e.g. a worker without a nanny is gone: the slot stays down, and says so
                say(f"no free Dask worker for the loop of slot {slot} ({reason}); it stays down until one joins")
                continue
            worker = free.pop(0)
            service.loops[slot] = _launch(service, slot, worker)
            restarted[old.worker] = reason
            say(f"restarted the loop of slot {slot} on {worker} ({reason})")
        publish_record(service)
    _recover(queue, request, service.dead, say)
    return restarted


def _beats_by_worker(queue: TaskQueue, service: Service | None) -> dict[str, dict[str, Any]]:
    """Each loop's own heartbeat, by its worker address (the latest one for workers without a loop)."""
    beats = read_heartbeats(queue.folder("heartbeats"))
    if service is not None:
        own = read_beats(queue.folder("heartbeats"))
        for loop in service.loops.values():
            for beat in own.values():
                if beat.get("incarnation") == loop.incarnation:
                    beats[loop.worker] = beat
    return beats


def loop_workers(client: Any, workers: dict[str, int]) -> list[str]:
    """The Dask workers that get a loop: the slots' workers, each once.

    Two loops on one Dask worker would share its heartbeat file and its stdout, so slots that
    land on the same worker get one loop between them.
    """
    from ..cluster import slot_workers

    return list(dict.fromkeys(slot_workers(client, workers)))


def _current_slot_workers(service: Service, slot_workers: Callable[[Any, dict[str, int]], list[str]]) -> list[str]:
    """Slot addresses now (a killed worker comes back under a new address); waits briefly for it."""
    deadline = time.monotonic() + max(10.0, service.timeout)
    while True:
        try:
            return slot_workers(service.handle.client, service.workers)
        except AgiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _retire(service: Service, loop: Loop, reason: str, say: LineCallback) -> None:
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
            say(f"could not restart the Dask worker {loop.worker} ({error}); its claims are recovered once "
                "its heartbeat is older than the timeout")
    elif reason.startswith(STUCK):
        say(f"the Dask worker {loop.worker} has no nanny to restart it: its stuck loop is cancelled, and its "
            "claims are recovered once its heartbeat is older than the timeout")


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


def _wake(service: Service) -> None:
    """Set every loop's wake event: each clears its own, then scans pending/."""
    from distributed import Event

    for loop in list(service.loops.values()):
        Event(service.wake_event(loop.incarnation), client=service.handle.client).set()


def _stop(service: Service, request: ServeRequest, queue: TaskQueue, say: LineCallback
          ) -> tuple[list[str], list[str]]:
    """Ask every loop to stop after its task in hand; wait up to ``stop_timeout``.

    Returns the workers whose loops were stopped and the ids of the tasks still executing then.
    Those tasks keep their claims (their loops still beat and stop right after them), so a later
    START does not run them again.
    """
    from distributed import Event, as_completed

    client = service.handle.client
    loops = list(service.loops.values())
    for loop in loops:
        Event(service.stop_event(loop.incarnation), client=client).set()
    _wake(service)
    try:
        for _ in as_completed([loop.future for loop in loops], loop=client.loop, timeout=request.stop_timeout):
            pass
    except TimeoutError:
        logger.debug("loops of %s still running after %s s", service.env.app, request.stop_timeout)
    late = [loop for loop in loops if loop.future.status in ("pending", "running")]
    claimers = {loop.incarnation for loop in late}
    executing = sorted(path.name.split("@", 1)[0] for path, claimer in queue.claims()
                       if incarnation_of(claimer) in claimers)
    if late:
        registry.stopping(claimers)  # still beating for their task in hand: ours, not another process's
        client.cancel([loop.future for loop in late], force=True)
    if executing:
        say(f"{len(executing)} task(s) still executing after {request.stop_timeout:g} s: {', '.join(executing)}; "
            "their loops stop right after them and keep their claims, so they run once")
    service.loops.clear()
    say(f"service of {service.env.app} stopped ({len(loops)} loop(s))")
    return [loop.worker for loop in loops], executing


def _live_beats(queue: TaskQueue, request: ServeRequest) -> frozenset[str]:
    """Heartbeat files of loops that still beat: the leases of their claims, never pruned."""
    beats, now = read_beats(queue.folder("heartbeats")), time.time()
    return frozenset(f"{name}.json" for name in beats if claimer_alive(name, beats, request.heartbeat_timeout, now))


def _payload(env: AgiEnv, request: ServeRequest, service: Service | None, queue: TaskQueue,
             restarted: dict[str, str], say: LineCallback) -> dict[str, Any]:
    cleanup = queue.prune({"done": request.done_ttl_hours, "failed": request.failed_ttl_hours,
                           "heartbeats": request.heartbeat_ttl_hours},
                          {"done": request.done_max_files, "failed": request.failed_max_files,
                           "heartbeats": request.heartbeat_max_files}, keep=_live_beats(queue, request))
    beats = _beats_by_worker(queue, service)
    now = time.time()
    rows: list[dict[str, Any]] = []
    pending: list[str] = []
    if service is not None:
        states = future_states(service)
        for loop in service.loops.values():
            state = states[loop.future.key]
            verdict, beat = _loop_health(service, loop, beats, now, state)
            rows.append(worker_row(loop.worker, verdict.healthy, verdict.reason, state, beat, now))
            if state == "pending":
                pending.append(loop.worker)
    client_status = service.handle.client.status if service else None
    return snapshot(app=env.app, target=env.target, rows=rows, queue=queue.counts(), started=bool(rows),
                    restarted=restarted, timeout=request.heartbeat_timeout, queue_dir=queue.root, cleanup=cleanup,
                    client_status=client_status, pending=pending)


def _plan_chunks(env: AgiEnv, request: SubmitRequest) -> list[Any]:
    from ..args import load_args
    from ..distrib import reuse_or_build
    from ..settings import AppSettings

    workers = request.workers or AppSettings.load(env.settings_path).cluster.workers
    plan = reuse_or_build(env, load_args(env, request.params), workers).plan
    return [chunk for chunks in plan.slots for chunk in chunks]


def running_services() -> list[tuple[str, str]]:
    """(scheduler address, target) of every service this kernel runs."""
    return registry.running()
