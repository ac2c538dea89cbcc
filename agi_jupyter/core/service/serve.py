"""START / STATUS / HEALTH / STOP of the service, and SUBMIT: the kernel side of service mode.

The running service lives in this module (one per scheduler and app), so re-running the cell
that shows the Orchestrator finds the same loops. Every action prunes old files, checks each
loop (Dask future state + heartbeat), restarts unhealthy loops with the reason, recovers tasks
claimed by loops that died, and writes the health snapshot.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..env import AgiEnv
from ..errors import AgiError
from ..logs import LineCallback
from ..requests import ServeRequest, SubmitRequest
from .health import snapshot, worker_row, write_snapshot
from .heartbeat import read_heartbeats
from .loop import incarnation_of, service_loop
from .queue import TaskQueue

_lock = threading.RLock()
_services: dict[tuple[str, str], Service] = {}


@dataclass
class Loop:
    """One loop task: its slot, Dask worker, incarnation and future."""

    slot: int
    worker: str
    incarnation: str
    future: Any
    started: float


@dataclass
class Service:
    """A running service: its client, loops and what they were started with."""

    env: AgiEnv
    handle: Any
    workers: dict[str, int]
    spec: dict[str, Any]
    timeout: float
    slot_count: int = 1
    loops: dict[int, Loop] = field(default_factory=dict)

    def wake_event(self, incarnation: str) -> str:
        return f"agi-service-{self.env.target}-wake-{incarnation}"

    def stop_event(self, incarnation: str) -> str:
        return f"agi-service-{self.env.target}-stop-{incarnation}"


def queue_dir(env: AgiEnv) -> Path:
    return env.service_dir / "queue"


def health_path(env: AgiEnv, request: ServeRequest) -> Path:
    if not request.health_output_path:
        return env.service_dir / "health.json"
    return env.data_path(request.health_output_path)


def serve(env: AgiEnv, request: ServeRequest, on_line: LineCallback | None = None) -> dict[str, Any]:
    """Run one service action and return the health snapshot it wrote (with ``path``)."""
    say = on_line or (lambda line: None)
    with _lock:
        handle = _client(env, request, say)
        key = (handle.address, env.target)
        service = _services.get(key) or _adopt(env, handle)
        if service is not None:
            _services[key] = service
        queue = TaskQueue(queue_dir(env))
        if request.action == "start":
            if service and service.loops:
                say(f"service of {env.app} already running on {len(service.loops)} loop(s)")
            else:
                service = _services[key] = _start(env, request, handle, queue, say)
        if request.action == "stop":
            stopped = _stop(service, request, queue, say) if service else []
            _services.pop(key, None)
            _forget(env, handle)
            payload = _payload(env, request, None, queue, {}, say)
            payload["stopped"] = stopped
            if request.close_cluster and handle.owned:
                from ..cluster import close_local_cluster

                close_local_cluster()
                say("closed the local Dask cluster the engine had started")
            return write_snapshot(payload, health_path(env, request))
        restarted = _restart_unhealthy(service, queue, request, say) if service else {}
        return write_snapshot(_payload(env, request, service, queue, restarted, say), health_path(env, request))


def read_health(env: AgiEnv, health_output_path: str | None = None) -> dict[str, Any]:
    """The last snapshot re-judged by today's heartbeats: what a monitor without Dask can know."""
    import json

    from .health import refresh

    path = health_path(env, ServeRequest(health_output_path=health_output_path))
    queue = TaskQueue(queue_dir(env))
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        saved = snapshot(app=env.app, target=env.target, rows=[], queue=queue.counts(), started=False, restarted={},
                         timeout=10.0, queue_dir=queue.root, cleanup={}, client_status=None, pending=[])
    except ValueError as error:
        raise AgiError(f"{path}: not a readable health snapshot ({error})") from None
    payload = refresh(saved, read_heartbeats(queue.folder("heartbeats")), queue.counts())
    return {**payload, "path": str(path)}


def submit(env: AgiEnv, request: SubmitRequest, on_line: LineCallback | None = None) -> list[str]:
    """Queue tasks (durably, as files) and wake the loops; returns the task ids."""
    queue = TaskQueue(queue_dir(env))
    if request.items is not None:
        ids = [queue.submit(request.items, request.params, request.label)]
    else:
        ids = [queue.submit(chunk.items, request.params, chunk.label) for chunk in _plan_chunks(env, request)]
    with _lock:
        services = [s for (_, target), s in _services.items() if target == env.target]
    for service in services:
        _wake(service)
    if on_line:
        on_line(f"submitted {len(ids)} task(s) to {queue.root}")
    return ids


# ----- actions ------------------------------------------------------------------------------------
def _client(env: AgiEnv, request: ServeRequest, say: LineCallback) -> Any:
    from ..cluster import select_client
    from ..settings import AppSettings

    settings = AppSettings.load(env.settings_path).cluster
    return select_client(request.scheduler or settings.scheduler, required=request.scheduler is not None,
                         workers=request.workers or settings.workers, on_line=say)


def _start(env: AgiEnv, request: ServeRequest, handle: Any, queue: TaskQueue, say: LineCallback) -> Service:
    from ..args import load_args
    from ..install import check_install
    from ..modes import Mode
    from ..run import worker_spec
    from ..cluster import slot_workers
    from ..settings import AppSettings
    from ..shipping import ship_app

    settings = AppSettings.load(env.settings_path).cluster
    record = check_install(env, Mode(0))
    ship_app(handle.client, env, say)
    args = load_args(env, request.params).model_dump(mode="json")
    cython = bool(settings.cython and record.compiled)
    service = Service(env, handle, dict(request.workers or settings.workers),
                      worker_spec(env, args, cython=cython), request.heartbeat_timeout)
    addresses = loop_workers(handle.client, service.workers)
    if len(addresses) < len(slot_workers(handle.client, service.workers)):
        say(f"several slots share a Dask worker: one loop per Dask worker ({len(addresses)} loops); "
            "start more Dask workers for more loops")
    service.slot_count = len(addresses)
    for slot, worker in enumerate(addresses):
        service.loops[slot] = _launch(service, slot, worker)
    _publish(service)
    recovered = queue.recover(lambda claimer: False, request.max_attempts)  # no loop of ours held them
    say(f"service of {env.app} started: {len(service.loops)} loop(s) on {handle.address}"
        + (f"; {len(recovered)} orphaned task(s) back in pending/" if recovered else ""))
    return service


def _launch(service: Service, slot: int, worker: str) -> Loop:
    incarnation = uuid.uuid4().hex[:10]
    settings = {"queue_dir": str(queue_dir(service.env)), "incarnation": incarnation,
                "stop_event": service.stop_event(incarnation), "wake_event": service.wake_event(incarnation),
                "heartbeat_timeout": service.timeout}
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
    except Exception:  # scheduler unreachable: the client's view is all there is
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
                 state: str) -> tuple[bool, str, dict[str, Any] | None]:
    beat = beats.get(loop.worker)
    if beat is not None and beat.get("incarnation") != loop.incarnation:
        beat = None
    if state == "finished":
        return False, "loop-finished", beat
    if state in ("error", "lost"):
        return False, "loop-error", beat
    if state == "cancelled":
        return False, "loop-cancelled", beat
    if beat is None:
        return (now - loop.started < service.timeout), ("" if now - loop.started < service.timeout
                                                       else "missing-heartbeat"), None
    age = now - float(beat["timestamp"])
    if age > service.timeout:
        return False, f"stale-heartbeat({age:.1f}s)", beat
    return True, "", beat


def _restart_unhealthy(service: Service, queue: TaskQueue, request: ServeRequest, say: LineCallback
                       ) -> dict[str, str]:
    beats = read_heartbeats(queue.folder("heartbeats"))
    now = time.time()
    states = future_states(service)
    sick = {slot: reason for slot, loop in service.loops.items()
            for healthy, reason, _ in [_loop_health(service, loop, beats, now, states[loop.future.key])]
            if not healthy}
    restarted: dict[str, str] = {}
    if sick:
        addresses = _current_slot_workers(service, loop_workers)
        for slot, reason in sorted(sick.items()):
            old = service.loops[slot]
            _retire(service, old)
            service.loops[slot] = _launch(service, slot, addresses[slot])
            restarted[old.worker] = reason
            say(f"restarted the loop of slot {slot} on {addresses[slot]} ({reason})")
        _publish(service)
    current = {loop.incarnation for loop in service.loops.values()}
    recovered = queue.recover(lambda claimer: incarnation_of(claimer) in current, request.max_attempts)
    if recovered:
        say(f"recovered {len(recovered)} task(s) from loops that died")
    return restarted


def loop_workers(client: Any, workers: dict[str, int]) -> list[str]:
    """The Dask workers that get a loop: the slots' workers, each once.

    Two loops on one Dask worker would share its heartbeat file and its stdout, so slots that
    land on the same worker get one loop between them.
    """
    from ..cluster import slot_workers

    return list(dict.fromkeys(slot_workers(client, workers)))


def _current_slot_workers(service: Service, slot_workers: Any) -> list[str]:
    """Slot addresses now (a killed worker comes back under a new address); waits briefly for it."""
    deadline = time.monotonic() + max(10.0, service.timeout)
    while True:
        try:
            return slot_workers(service.handle.client, service.workers)
        except AgiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _registry_key(env: AgiEnv) -> list[str]:
    return ["agi-service", env.target]


def _publish(service: Service) -> None:
    """Record the running loops in the scheduler's metadata, so other processes (a CLI, a restarted
    kernel) find them."""
    service.handle.client.set_metadata(_registry_key(service.env), {
        "workers": service.workers, "spec": service.spec, "timeout": service.timeout,
        "slot_count": service.slot_count,
        "loops": [{"slot": loop.slot, "worker": loop.worker, "incarnation": loop.incarnation, "key": loop.future.key,
                   "started": loop.started} for loop in service.loops.values()]})


def _adopt(env: AgiEnv, handle: Any) -> Service | None:
    """A service another process started on this scheduler, rebuilt from its record (or None)."""
    from distributed import Future

    try:
        record = handle.client.get_metadata(_registry_key(env), default=None)
    except Exception:  # a scheduler that cannot answer: nothing to adopt
        return None
    if not record or not record.get("loops"):
        return None
    service = Service(env, handle, dict(record["workers"]), record["spec"], float(record["timeout"]),
                      int(record["slot_count"]))
    for loop in record["loops"]:
        service.loops[loop["slot"]] = Loop(loop["slot"], loop["worker"], loop["incarnation"],
                                           Future(loop["key"], client=handle.client), float(loop["started"]))
    return service


def _forget(env: AgiEnv, handle: Any) -> None:
    try:
        handle.client.set_metadata(_registry_key(env), None)
    except Exception:  # a scheduler that cannot answer: nothing to forget there
        pass


def _retire(service: Service, loop: Loop) -> None:
    from distributed import Event

    Event(service.stop_event(loop.incarnation), client=service.handle.client).set()
    service.handle.client.cancel([loop.future], force=True)


def _wake(service: Service) -> None:
    """Set every loop's wake event: each clears its own, then scans pending/."""
    from distributed import Event

    for loop in list(service.loops.values()):
        Event(service.wake_event(loop.incarnation), client=service.handle.client).set()


def _stop(service: Service, request: ServeRequest, queue: TaskQueue, say: LineCallback) -> list[str]:
    from distributed import Event, as_completed

    client = service.handle.client
    loops = list(service.loops.values())
    for loop in loops:
        Event(service.stop_event(loop.incarnation), client=client).set()
    _wake(service)
    waiting = as_completed([loop.future for loop in loops], loop=client.loop, timeout=request.stop_timeout)
    try:
        for _ in waiting:
            pass
    except Exception:  # the timeout: what is still running gets cancelled below
        pass
    late = [loop for loop in loops if loop.future.status in ("pending", "running")]
    if late:
        client.cancel([loop.future for loop in late], force=True)
        say(f"{len(late)} loop(s) did not stop within {request.stop_timeout} s and were cancelled")
    service.loops.clear()
    say(f"service of {service.env.app} stopped ({len(loops)} loop(s))")
    return [loop.worker for loop in loops]


def _payload(env: AgiEnv, request: ServeRequest, service: Service | None, queue: TaskQueue,
             restarted: dict[str, str], say: LineCallback) -> dict[str, Any]:
    cleanup = queue.prune({"done": request.done_ttl_hours, "failed": request.failed_ttl_hours,
                           "heartbeats": request.heartbeat_ttl_hours},
                          {"done": request.done_max_files, "failed": request.failed_max_files,
                           "heartbeats": request.heartbeat_max_files})
    beats = read_heartbeats(queue.folder("heartbeats"))
    now = time.time()
    rows, pending = [], []
    states = future_states(service) if service else {}
    for loop in (service.loops.values() if service else []):
        state = states[loop.future.key]
        healthy, reason, beat = _loop_health(service, loop, beats, now, state)
        rows.append(worker_row(loop.worker, healthy, reason, state, beat, now))
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
    with _lock:
        return [key for key, service in _services.items() if service.loops]
