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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..env import AgiEnv
from ..errors import AgiError, ServiceError
from ..logs import LineCallback
from ..requests import ServeRequest, SubmitRequest
from .health import snapshot, worker_row, write_snapshot
from .heartbeat import claimer_alive, incarnation_of, read_beats, read_heartbeats
from .lifecycle import (
    DEAD_STATES,
    beats_by_worker,
    current_loop_workers,
    future_states,
    launch,
    loop_health,
    loop_workers,
    queue_dir,
    retire,
    stop_loops,
    wake,
)
from .queue import TaskQueue
from .records import HealthSnapshot, StoppedSnapshot, UnseenSnapshot, WorkerHealth
from .registry import Service, ServiceRegistry, forget_record, publish_record

__all__ = [
    "ServiceController",
    "app_lock",
    "health_path",
    "queue_dir",
    "read_health",
    "registry",
    "serve",
    "submit",
]

logger = logging.getLogger(__name__)

_lock = threading.RLock()  # one action at a time in this process (the file lock orders processes)
registry = ServiceRegistry()  # the services this process runs
LOCK_TIMEOUT = 900.0  # longer than any action holds it: STOP may wait stop_timeout (<= 600 s) for tasks


def health_path(env: AgiEnv, request: ServeRequest) -> Path:
    if not request.health_output_path:
        return env.service_dir / "health.json"
    return env.data_path(request.health_output_path)


def serve(env: AgiEnv, request: ServeRequest, on_line: LineCallback | None = None) -> dict[str, Any]:
    """Run one service action and return the health snapshot it wrote (with ``path``)."""
    with _lock, app_lock(env):
        controller = ServiceController(env, request, on_line or (lambda line: None))
        return controller.act()


class ServiceController:
    """One service action on one app: START, STATUS, HEALTH or STOP, one method each.

    It holds what the action works on: the app, the request, the queue, the Dask client this
    process selected (``None`` when nothing runs and the action only asks) and the app's service
    on it, if any (``None`` before START or after STOP). Built under the app's locks by
    :func:`serve`.
    """

    def __init__(self, env: AgiEnv, request: ServeRequest, say: LineCallback) -> None:
        from ..cluster import client_for

        self.env, self.request, self.say = env, request, say
        self.queue = TaskQueue(queue_dir(env))
        self.handle = client_for(env, request, say, start=request.action == "start")
        self.service = registry.find(env, self.handle)

    def act(self) -> dict[str, Any]:
        """The action the request names; ``unknown`` when another process runs the service."""
        if self.service is None and self.request.action != "start" and self.beating_elsewhere():
            return self.unseen()
        actions = {"start": self.start, "status": self.status, "health": self.health, "stop": self.stop}
        return actions[self.request.action]()

    # ----- the actions ------------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        if self.service and self.service.loops:
            self.say(f"service of {self.env.app} already running on {len(self.service.loops)} loop(s)")
        else:
            self.service = self.launch_service()
            registry.put(self.service)
        return self.status()

    def status(self) -> dict[str, Any]:
        """Check every loop, restart the unhealthy ones, recover dead claims, write the snapshot."""
        restarted = self.restart_unhealthy() if self.service else {}
        if self.service is None:
            self.recover(set())
        return write_snapshot(self.payload(restarted), health_path(self.env, self.request))

    def health(self) -> dict[str, Any]:
        """The same checks as STATUS: the snapshot is what HEALTH answers (and the gate judges)."""
        return self.status()

    def stop(self) -> dict[str, Any]:
        stopped: list[str] = []
        executing: list[str] = []
        if self.service is not None:
            stopped, executing, late = stop_loops(self.service, self.request, self.queue, self.say)
            registry.stopping(late)  # still beating for their task in hand: ours, not another process's
        handles = {
            item.address: item
            for item in (self.service.handle if self.service else None, self.handle)
            if item is not None
        }
        for where in handles.values():
            registry.remove(where.address, self.env.target)
            forget_record(self.env, where)
        self.service = None
        payload = StoppedSnapshot.model_validate(
            {**self.payload({}).wire(), "status": "stopped", "stopped": stopped, "still_running": executing}
        )
        if self.request.close_cluster and self.handle is not None and self.handle.owned:
            from ..cluster import close_local_cluster

            close_local_cluster()
            self.say("closed the local Dask cluster the engine had started")
        return write_snapshot(payload, health_path(self.env, self.request))

    # ----- what the actions share ---------------------------------------------------------------
    def launch_service(self) -> Service:
        from ..args import load_args
        from ..cluster import slot_workers
        from ..install import check_install
        from ..modes import Mode
        from ..run import build_worker_spec
        from ..settings import AppSettings
        from ..shipping import ship_app

        env, request, handle = self.env, self.request, self.handle
        if handle is None:  # START selects with start=True: a client always comes back
            raise ServiceError(f"no Dask client to start the service of {env.app} on")
        settings = AppSettings.load(env.settings_path).cluster
        record = check_install(env, Mode(0))
        ship_app(handle.client, env, self.say)
        args = load_args(env, request.params).model_dump(mode="json")
        cython = bool(settings.cython and record.compiled)
        service = Service(
            env,
            handle,
            dict(request.workers or settings.workers),
            build_worker_spec(env, args, cython=cython),
            request.heartbeat_timeout,
            task_timeout=request.task_timeout,
        )
        addresses = loop_workers(handle.client, service.workers)
        if len(addresses) < len(slot_workers(handle.client, service.workers)):
            self.say(
                f"several slots share a Dask worker: one loop per Dask worker ({len(addresses)} loops); "
                "start more Dask workers for more loops"
            )
        service.slot_count = len(addresses)
        for slot, worker in enumerate(addresses):
            service.loops[slot] = launch(service, slot, worker)
        publish_record(service)
        self.say(f"service of {env.app} started: {len(service.loops)} loop(s) on {handle.address}")
        return service

    def restart_unhealthy(self) -> dict[str, str]:
        """Restart every unhealthy loop (on a free worker), then recover the claims of dead ones."""
        service = self.service
        if service is None:
            return {}
        beats, now, states = beats_by_worker(self.queue, service), time.time(), future_states(service)
        sick: dict[int, tuple[str, str]] = {}  # slot -> (reason, future state)
        for slot, loop in service.loops.items():
            verdict, _ = loop_health(service, loop, beats, now, states[loop.future.key])
            if not verdict.healthy:
                sick[slot] = (verdict.reason, states[loop.future.key])
        restarted = self.relaunch(service, sick) if sick else {}
        self.recover(service.dead)
        return restarted

    def relaunch(self, service: Service, sick: dict[int, tuple[str, str]]) -> dict[str, str]:
        restarted: dict[str, str] = {}
        for slot, (reason, state) in sorted(sick.items()):
            old = service.loops[slot]
            retire(service, old, reason, self.say)
            if state in DEAD_STATES:
                service.dead.add(old.incarnation)
        busy = {loop.worker for slot, loop in service.loops.items() if slot not in sick}
        free = [worker for worker in current_loop_workers(service) if worker not in busy]
        for slot, (reason, _) in sorted(sick.items()):
            old = service.loops[slot]
            if not free:  # e.g. a worker without a nanny is gone: the slot stays down, and says so
                self.say(f"no free Dask worker for the loop of slot {slot} ({reason}); it stays down until one joins")
                continue
            worker = free.pop(0)
            service.loops[slot] = launch(service, slot, worker)
            restarted[old.worker] = reason
            self.say(f"restarted the loop of slot {slot} on {worker} ({reason})")
        publish_record(service)
        return restarted

    def recover(self, dead: set[str]) -> list[str]:
        """Put back the claims of dead claimers: known dead (``dead`` incarnations) or silent too long."""
        beats, now, timeout = read_beats(self.queue.folder("heartbeats")), time.time(), self.request.heartbeat_timeout

        def alive(claimer: str) -> bool:
            return incarnation_of(claimer) not in dead and claimer_alive(claimer, beats, timeout, now)

        recovered = self.queue.recover(alive, self.request.max_attempts)
        if recovered:
            self.say(f"recovered {len(recovered)} task(s) claimed by loops that died: {', '.join(recovered)}")
        return recovered

    def beating_elsewhere(self) -> list[str]:
        """Loops of this app that beat although no service here knows them (another process's)."""
        ours = registry.ours(self.env.target)
        beats, now = read_beats(self.queue.folder("heartbeats")), time.time()
        return sorted(
            name
            for name in beats
            if incarnation_of(name) not in ours and claimer_alive(name, beats, self.request.heartbeat_timeout, now)
        )

    def unseen(self) -> dict[str, Any]:
        """What a process that cannot reach the running service can say: ``unknown``, and the record.

        It writes nothing: the snapshot on disk belongs to the process that runs the service.
        """
        env = self.env
        if self.request.action == "stop":
            raise ServiceError(
                f"the service of {env.app} runs on a Dask cluster this process cannot reach: stop it "
                "from the process that started it, or pass the scheduler it runs on (--scheduler / "
                "scheduler=...)"
            )
        recorded = recorded_health(env, self.request.health_output_path)
        self.say(
            f"the service of {env.app} was started by another process on a cluster this one cannot reach; "
            f"showing its recorded snapshot ({recorded.status}, re-judged by the heartbeats)"
        )
        unseen = {**recorded.wire(), "status": "unknown", "recorded_status": recorded.status}
        return UnseenSnapshot.model_validate(unseen).wire()

    def live_beats(self) -> frozenset[str]:
        """Heartbeat files of loops that still beat: the leases of their claims, never pruned."""
        beats, now = read_beats(self.queue.folder("heartbeats")), time.time()
        return frozenset(
            f"{name}.json" for name in beats if claimer_alive(name, beats, self.request.heartbeat_timeout, now)
        )

    def payload(self, restarted: dict[str, str]) -> HealthSnapshot:
        """Prune old files, judge every loop, and build the snapshot (not written yet)."""
        request, queue, service = self.request, self.queue, self.service
        cleanup = queue.prune(
            {
                "done": request.done_ttl_hours,
                "failed": request.failed_ttl_hours,
                "heartbeats": request.heartbeat_ttl_hours,
            },
            {
                "done": request.done_max_files,
                "failed": request.failed_max_files,
                "heartbeats": request.heartbeat_max_files,
            },
            keep=self.live_beats(),
        )
        rows: list[WorkerHealth] = []
        pending: list[str] = []
        if service is not None:
            beats, now, states = beats_by_worker(queue, service), time.time(), future_states(service)
            for loop in service.loops.values():
                state = states[loop.future.key]
                verdict, beat = loop_health(service, loop, beats, now, state)
                rows.append(worker_row(loop.worker, verdict.healthy, verdict.reason, state, beat, now))
                if state == "pending":
                    pending.append(loop.worker)
        client_status = service.handle.client.status if service else None
        return snapshot(
            app=self.env.app,
            target=self.env.target,
            rows=rows,
            queue=queue.counts(),
            started=bool(rows),
            restarted=restarted,
            timeout=request.heartbeat_timeout,
            queue_dir=queue.root,
            cleanup=cleanup,
            client_status=client_status,
            pending=pending,
        )


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
        raise ServiceError(
            f"another process has held the service lock of {env.app} for {LOCK_TIMEOUT:g} s "
            f"({path}): wait for its START/STOP to finish and try again (the lock is released "
            "by itself when that process ends)"
        ) from None


def read_health(env: AgiEnv, health_output_path: str | None = None) -> dict[str, Any]:
    """The last snapshot re-judged by today's heartbeats, in its JSON form: what a monitor without Dask can know."""
    return recorded_health(env, health_output_path).wire()


def recorded_health(env: AgiEnv, health_output_path: str | None = None) -> HealthSnapshot:
    """The last snapshot re-judged by today's heartbeats, with its ``path``."""
    from pydantic import ValidationError

    from ..records import field_problems
    from .health import refresh

    path = health_path(env, ServeRequest(health_output_path=health_output_path))
    queue = TaskQueue(queue_dir(env))
    try:
        saved = HealthSnapshot.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        saved = snapshot(
            app=env.app,
            target=env.target,
            rows=[],
            queue=queue.counts(),
            started=False,
            restarted={},
            timeout=10.0,
            queue_dir=queue.root,
            cleanup={},
            client_status=None,
            pending=[],
        )
    except ValidationError as error:
        raise AgiError(f"{path}: not a readable health snapshot ({field_problems(error)})") from None
    except OSError as error:
        raise AgiError(f"{path}: not a readable health snapshot ({error})") from None
    fresh = refresh(saved, read_heartbeats(queue.folder("heartbeats")), queue.counts())
    return fresh.model_copy(update={"path": str(path)})


def submit(env: AgiEnv, request: SubmitRequest, on_line: LineCallback | None = None) -> list[str]:
    """Queue tasks (durably, as files) and wake the loops; returns the task ids."""
    queue = TaskQueue(queue_dir(env))
    if request.items is not None:
        ids = [queue.submit(request.items, request.params, request.label, time_limit=request.time_limit)]
    else:  # one burst: every record checked before any is written, one folder sync for all
        ids = queue.submit_many(
            {"items": chunk.items, "params": request.params, "label": chunk.label, "time_limit": request.time_limit}
            for chunk in _plan_chunks(env, request)
        )
    for service in registry.of_target(env.target):  # not under _lock: a STOP may hold it for long
        wake(service)
    if on_line:
        on_line(f"submitted {len(ids)} task(s) to {queue.root}")
    return ids


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
