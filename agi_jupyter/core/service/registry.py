"""Where running services are known: this process's registry, and the record on the scheduler.

A service lives in the process that started it (its loops' futures belong to that process's
client), and is recorded in the scheduler's metadata under ``["agi-service", <target>]`` so that
another process on the same scheduler (a CLI, a restarted kernel) can adopt, show and stop it.
The record is the truth across processes: :meth:`ServiceRegistry.find` prefers it to a stale
in-process copy. The same record tells a RUN which worker threads service loops hold.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ..env import AgiEnv
from ..errors import ServiceError
from ..jobs import WorkerSpec
from ..records import field_problems
from ..requests import ServeRequest
from .records import LoopEntry, ServiceEntry

logger = logging.getLogger(__name__)

RECORD = "agi-service"  # the scheduler metadata key: [RECORD, <target>]


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
    spec: WorkerSpec
    timeout: float
    slot_count: int = 1
    task_timeout: float | None = None
    loops: dict[int, Loop] = field(default_factory=dict)
    dead: set[str] = field(default_factory=set)  # incarnations known to run no code any more

    def wake_event(self, incarnation: str) -> str:
        return f"agi-service-{self.env.target}-wake-{incarnation}"

    def stop_event(self, incarnation: str) -> str:
        return f"agi-service-{self.env.target}-stop-{incarnation}"

    @property
    def incarnations(self) -> set[str]:
        return {loop.incarnation for loop in self.loops.values()}

    @property
    def reachable(self) -> bool:
        """Whether this process can still talk to the service's cluster (a CLI's own cluster ends with it)."""
        return getattr(self.handle.client, "status", None) == "running"


class ServiceRegistry:
    """The services this process runs, by (scheduler address, target), and the loops it stopped
    that may still be finishing their task in hand (they are this process's, not a stranger's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._services: dict[tuple[str, str], Service] = {}
        self._stopping: set[str] = set()

    def find(self, env: AgiEnv, handle: Any) -> Service | None:
        """This process's service for the app, reconciled with the scheduler's record.

        The record wins when another process restarted loops since this one last looked: acting
        on a stale copy would launch a second loop for a slot and orphan one. A service this
        process runs on another scheduler than ``handle``'s is found too.
        """
        if handle is None:
            return self.own_elsewhere(env)
        key = (handle.address, env.target)
        with self._lock:
            known = self._services.get(key)
        recorded = adopt_record(env, handle)
        changed = recorded is not None and (known is None or known.incarnations != recorded.incarnations)
        service = recorded if changed else known
        if service is None:
            return self.own_elsewhere(env)
        if known is not None and service is not known:
            service.dead |= known.dead
            logger.info("the service record of %s changed since this process looked; adopted it", env.app)
        self.put(service)
        return service

    def own_elsewhere(self, env: AgiEnv) -> Service | None:
        """This process's running service for the app on any scheduler (the request named none)."""
        running = [service for service in self.of_target(env.target) if service.loops and service.reachable]
        return running[0] if len(running) == 1 else None

    def of_target(self, target: str) -> list[Service]:
        with self._lock:
            return [service for (_, name), service in self._services.items() if name == target]

    def put(self, service: Service) -> None:
        with self._lock:
            self._services[(service.handle.address, service.env.target)] = service

    def remove(self, address: str, target: str) -> None:
        with self._lock:
            self._services.pop((address, target), None)

    def clear(self) -> None:
        """Forget every service (an exiting CLI whose cluster is gone)."""
        with self._lock:
            self._services.clear()

    def stopping(self, incarnations: set[str]) -> None:
        with self._lock:
            self._stopping |= incarnations

    def ours(self, target: str) -> set[str]:
        """Incarnations this process started for ``target``: running, or stopped but finishing a task."""
        with self._lock:
            running = {
                loop.incarnation
                for (_, name), service in self._services.items()
                if name == target
                for loop in service.loops.values()
            }
            return running | self._stopping

    def running(self) -> list[tuple[str, str]]:
        """(scheduler address, target) of every service this process runs."""
        with self._lock:
            return [key for key, service in self._services.items() if service.loops]


# ----- the record on the scheduler ----------------------------------------------------------
def publish_record(service: Service) -> None:
    """Record the running loops in the scheduler's metadata, so other processes find them."""
    entry = ServiceEntry(
        workers=dict(service.workers),
        spec=service.spec,
        timeout=service.timeout,
        slot_count=service.slot_count,
        task_timeout=service.task_timeout,
        loops=[
            LoopEntry(
                slot=loop.slot,
                worker=loop.worker,
                incarnation=loop.incarnation,
                key=loop.future.key,
                started=loop.started,
            )
            for loop in service.loops.values()
        ],
    )
    service.handle.client.set_metadata([RECORD, service.env.target], entry.wire())


def adopt_record(env: AgiEnv, handle: Any) -> Service | None:
    """The service recorded on this scheduler for the app, rebuilt from its record (or None)."""
    from distributed import Future

    try:
        record = handle.client.get_metadata([RECORD, env.target], default=None)
    except Exception:  # noqa: BLE001 - a scheduler that cannot answer: nothing to adopt
        logger.debug("cannot read the service record of %s from the scheduler", env.target, exc_info=True)
        return None
    if not record or not record.get("loops"):
        return None
    try:
        entry = ServiceEntry.model_validate(record, strict=False)
    except ValidationError as error:
        raise ServiceError(
            f"the scheduler's record of the service of {env.app} is malformed ({field_problems(error)}): stop "
            "the service from the process that started it, or restart the scheduler"
        ) from None
    service = Service(
        env,
        handle,
        dict(entry.workers),
        entry.spec,
        entry.timeout,
        entry.slot_count,
        task_timeout=entry.task_timeout
        if "task_timeout" in entry.model_fields_set
        else ServeRequest.model_fields["task_timeout"].default,  # recorded by a version without time limits
    )
    for loop in entry.loops:
        service.loops[loop.slot] = Loop(
            loop.slot,
            loop.worker,
            loop.incarnation,
            Future(loop.key, client=handle.client),
            loop.started,
        )
    return service


def forget_record(env: AgiEnv, handle: Any) -> None:
    try:
        handle.client.set_metadata([RECORD, env.target], None)
    except Exception:  # noqa: BLE001 - a scheduler that cannot answer: nothing to forget there
        logger.debug("could not clear the service record of %s", env.app, exc_info=True)


def loops_by_worker(client: Any) -> dict[str, list[str]]:
    """Dask worker address -> the apps whose service loops occupy a thread there (from the
    scheduler's record, so services started by other processes count too)."""
    try:
        records = client.get_metadata([RECORD], default=None) or {}
    except Exception:  # noqa: BLE001 - a scheduler that cannot answer records no service
        logger.debug("no service record on the scheduler", exc_info=True)
        return {}
    occupied: dict[str, list[str]] = {}
    for target, record in records.items():
        for loop in (record or {}).get("loops", []):
            occupied.setdefault(loop["worker"], []).append(target)
    return occupied


def check_run_capacity(client: Any, addresses: list[str]) -> None:
    """Refuse, before anything is submitted, a run whose slots would wait behind service loops.

    A service loop holds one worker thread for as long as the service runs; a slot sent to a
    worker whose every thread holds a loop would wait forever without a word.
    """
    occupied = loops_by_worker(client)
    if not occupied:
        return
    threads = client.nthreads()
    for address, slots in Counter(addresses).items():
        apps = occupied.get(address, [])
        if apps and threads.get(address, 1) - len(apps) < slots:
            names = ", ".join(sorted(set(apps)))
            raise ServiceError(
                f"the Dask worker {address} has too few free threads for this run's {slots} slot(s) there: the "
                f"service loops of {names} occupy {len(apps)} of its {threads.get(address, 1)}, so this "
                f"run would wait forever. Stop the service first (Service tab STOP, `await AGI.serve(env, "
                f"action='stop')` or `agi-jupyter serve {sorted(set(apps))[0]} stop`), or give the workers more "
                "threads."
            )
