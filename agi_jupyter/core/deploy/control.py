"""Make the configured cluster real: the scheduler and each host's workers, started where missing.

:func:`ensure` is called before a run, an install or a service start picks its client. Under a
cross-process lock per scheduler address (so two kernels never start the same processes twice)
it checks what answers, starts what is missing, records what it started, and waits until the
new workers have joined:

- the scheduler: on this machine (a loopback address or one of its own) a detached
  ``dask scheduler`` on exactly that host:port; on another host the same over SSH. A port held
  by a program that does not speak Dask is an error naming the port;
- the workers: for each host of ``workers`` (``{host: slots}``), ``slots`` single-threaded
  ``dask worker`` processes named ``host#slot`` -- here with the kernel's Python, elsewhere over
  SSH in the worker environment :mod:`.provision` sets up (skipped when unchanged). On a
  scheduler the engine did not start, only a host with no worker at all gets some: the
  engine never tops up a cluster someone else runs.

:func:`status` lists what the engine started for a scheduler and whether each process still
runs; :func:`stop` stops exactly those processes, never others.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..errors import ClusterError
from ..logs import LineCallback
from ..settings import ClusterSettings, split_address
from . import launch
from .provision import HostReady, Shipment, make_shipment, provision
from .records import Launched, LaunchRecord, launch_lock, read_launches, write_launches
from .ssh import HostAccess, access_for, connect, run_sync

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8786
START_TIMEOUT = 120.0  # a worker started over SSH on a busy 2-core machine can take a while
Answer = Literal["dask", "free", "other"]


@dataclass(frozen=True)
class Target:
    """The cluster an action wants: a scheduler address and ``{host: slots}``, for one app."""

    scheduler: str
    workers: Mapping[str, int]
    app: str
    settings: ClusterSettings
    requirements: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return split_address(self.scheduler)[0]

    @property
    def port(self) -> int:
        return split_address(self.scheduler)[1] or DEFAULT_PORT

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


@dataclass(frozen=True)
class ProcessState:
    """One process the engine started and whether it still runs."""

    launched: Launched
    running: bool


def is_this_machine(host: str) -> bool:
    """True for loopback and for any address of this machine's interfaces (names are resolved)."""
    import psutil

    text = host.strip().strip("[]")
    if text.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        try:
            ip = ipaddress.ip_address(socket.gethostbyname(text))
        except OSError:
            return False
    if ip.is_loopback:
        return True
    own = {address.address.split("%")[0] for addresses in psutil.net_if_addrs().values() for address in addresses}
    return str(ip) in own


def probe(host: str, port: int, timeout: float = 3.0) -> Answer:
    """Who listens at host:port: a Dask scheduler, nobody, or some other program."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError:
        return "free"
    try:
        address = f"tcp://{host}:{port}" if ":" not in host else f"tcp://[{host}]:{port}"
        identity = run_sync(asyncio.wait_for(_identity(address, timeout), timeout * 2))
    except Exception:  # noqa: BLE001 - any failure to speak Dask's protocol means "not a scheduler"
        logger.debug("%s:%d does not speak Dask", host, port, exc_info=True)
        return "other"
    return "dask" if identity == "Scheduler" else "other"


async def _identity(address: str, timeout: float) -> str:
    """The ``type`` a Dask server at ``address`` says it is (``"Scheduler"`` for a scheduler)."""
    from distributed.comm.core import connect as dask_connect

    comm = await dask_connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity", "reply": True})
        answer = await asyncio.wait_for(comm.read(), timeout)
        return str(answer.get("type", "")) if isinstance(answer, dict) else ""
    finally:
        comm.abort()


def ensure(target: Target, say: LineCallback, connect_client: Callable[[str], Client]) -> LaunchRecord:
    """Start whatever of ``target`` does not answer; return the launch record of its scheduler."""
    with launch_lock(target.address):  # type: ignore[attr-defined]
        record = _forget_dead_local(read_launches(target.address))
        record = _ensure_scheduler(target, record, say)
        write_launches(record)
        client = connect_client(target.address)
        record = _ensure_workers(target, record, client, say)
        write_launches(record)
        return record


def _forget_dead_local(record: LaunchRecord) -> LaunchRecord:
    dead = [p for p in record.processes if p.via == "local" and not launch.local_alive(p)]
    return record.without(dead) if dead else record


# ----- the scheduler ------------------------------------------------------------------------
def _ensure_scheduler(target: Target, record: LaunchRecord, say: LineCallback) -> LaunchRecord:
    answer = probe(target.host, target.port)
    if answer == "dask":
        return record
    if answer == "other":
        raise ClusterError(
            f"port {target.port} on {target.host} is held by a program that is not a Dask scheduler: "
            f"stop it, or pick another port in [cluster] scheduler (e.g. {target.host}:{target.port + 1})"
        )
    if not is_this_machine(target.host):
        return _remote_scheduler(target, record, say)
    say(f"starting a Dask scheduler at {target.address} (detached: it outlives this kernel)")
    command = launch.scheduler_command(launch.kernel_python(), target.host, target.port)
    started = launch.start_local(command, "scheduler", target.host, _scheduler_name(target), target.app)
    _wait_for_scheduler(
        target, lambda: launch.local_alive(started, starting=True), lambda: launch.log_tail(started.log)
    )
    say(f"Dask scheduler {target.address} started (pid {started.pid}, log {started.log})")
    return record.adding(started)


def _scheduler_name(target: Target) -> str:
    return f"dask_scheduler --host {target.host} --port {target.port}"


def _wait_for_scheduler(target: Target, alive: Callable[[], bool], tail: Callable[[], str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if probe(target.host, target.port, timeout=1) == "dask":
            return
        if not alive():
            raise ClusterError(f"the Dask scheduler for {target.address} exited at start: {tail() or 'no output'}")
        time.sleep(0.1)
    raise ClusterError(f"the Dask scheduler for {target.address} did not answer within 60 s: {tail()}")


def _remote_scheduler(target: Target, record: LaunchRecord, say: LineCallback) -> LaunchRecord:
    access = access_for(target.settings, target.host)
    shipment = _shipment(target, say)

    async def start() -> Launched:
        async with connect(access) as connection:
            ready = await provision(connection, access, shipment, say)
            command = launch.scheduler_command(ready.venv_python, target.host, target.port)
            return await launch.start_remote(
                connection, access, command, "scheduler", _scheduler_name(target), target.app, ready.root
            )

    say(f"starting a Dask scheduler at {target.address} over SSH ({access.where})")
    started = run_sync(start())
    _wait_for_scheduler(target, lambda: True, lambda: f"see {started.log} on {target.host}")
    return record.adding(started)


# ----- the workers --------------------------------------------------------------------------
def _ensure_workers(target: Target, record: LaunchRecord, client: Client, say: LineCallback) -> LaunchRecord:
    ours = bool(record.of("scheduler"))
    connected = _connected_names(client)
    wanted: dict[str, list[str]] = {}
    for host, slots in target.workers.items():
        on_host = [name for name in connected if name.startswith(f"{host}#")] or _by_ip(client, host)
        missing = slots - len(on_host) if (ours or not on_host) else 0
        if missing > 0:
            wanted[host] = _free_names(host, missing, set(connected) | {p.name for p in record.of("worker", host)})
    if not wanted:
        return record
    local = {host: names for host, names in wanted.items() if is_this_machine(host)}
    remote = {host: names for host, names in wanted.items() if host not in local}
    if remote and _is_loopback(target.host):
        raise ClusterError(
            f"worker host(s) {', '.join(remote)} cannot reach the scheduler at {target.address} (a loopback "
            "address): set [cluster] scheduler to an address of this machine they can reach"
        )
    started = [_start_local_worker(target, host, name) for host, names in local.items() for name in names]
    record = record.adding(*started)
    if remote:
        record = record.adding(*_start_remote_workers(target, remote, say))
    names = [name for names in wanted.values() for name in names]
    say(f"started {len(names)} Dask worker(s): {', '.join(names)}; waiting for them to join {target.address}")
    _wait_for_workers(client, target, record, names)
    return record


def _connected_names(client: Client) -> list[str]:
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return [str(worker.get("name")) for worker in info["workers"].values()]


def _by_ip(client: Client, host: str) -> list[str]:
    """Workers on ``host`` that were not named by the engine (started by someone else)."""
    from distributed.comm.addressing import get_address_host

    try:
        ip = socket.gethostbyname(host.strip("[]"))
    except OSError:
        return []
    return [address for address in client.nthreads() if get_address_host(address) == ip]


def _free_names(host: str, count: int, used: set[str]) -> list[str]:
    names: list[str] = []
    slot = 0
    while len(names) < count:
        name = f"{host}#{slot}"
        if name not in used:
            names.append(name)
        slot += 1
    return names


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _start_local_worker(target: Target, host: str, name: str) -> Launched:
    from .records import cluster_dir

    directory = str(cluster_dir() / "dask-worker-space")
    command = launch.worker_command(launch.kernel_python(), target.address, host, name, directory)
    return launch.start_local(command, "worker", host, name, target.app, slot=int(name.rsplit("#", 1)[1]))


def _shipment(target: Target, say: LineCallback) -> Shipment:
    from .wheelhouse import ensure_wheels, pinned_closure

    pins = pinned_closure(target.requirements)
    return make_shipment(pins, ensure_wheels(pins, say))


def _start_remote_workers(target: Target, wanted: dict[str, list[str]], say: LineCallback) -> list[Launched]:
    shipment = _shipment(target, say)

    async def one_host(host: str, names: list[str]) -> list[Launched]:
        access = access_for(target.settings, host)
        async with connect(access) as connection:
            ready = await provision(connection, access, shipment, say)
            return [await _start_remote_worker(connection, access, ready, target, name) for name in names]

    async def every_host() -> list[list[Launched]]:
        return await asyncio.gather(*(one_host(host, names) for host, names in wanted.items()))

    return [launched for host in run_sync(every_host()) for launched in host]


async def _start_remote_worker(
    connection: Any, access: HostAccess, ready: HostReady, target: Target, name: str
) -> Launched:
    command = launch.worker_command(
        ready.venv_python, target.address, access.host, name, f"{ready.root}/dask-worker-space"
    )
    slot = int(name.rsplit("#", 1)[1])
    return await launch.start_remote(connection, access, command, "worker", name, target.app, ready.root, slot=slot)


def _wait_for_workers(client: Client, target: Target, record: LaunchRecord, names: list[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    waiting = set(names)
    while waiting and time.monotonic() < deadline:
        waiting -= set(_connected_names(client))
        dead = [
            p
            for p in record.of("worker")
            if p.name in waiting and p.via == "local" and not launch.local_alive(p, starting=True)
        ]
        if dead:
            first = dead[0]
            raise ClusterError(
                f"Dask worker {first.name} exited before joining {target.address}: {launch.log_tail(first.log)}"
            )
        if waiting:
            time.sleep(0.1)
    if waiting:
        raise ClusterError(
            f"Dask worker(s) {', '.join(sorted(waiting))} did not join {target.address} within {START_TIMEOUT:g} s; "
            "their logs are listed by `agi-jupyter cluster status`"
        )


def _takes_n_workers(client: Client) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


# ----- status and stop ----------------------------------------------------------------------
def status(address: str, settings: ClusterSettings) -> list[ProcessState]:
    """What the engine started for the scheduler at ``address``, and whether each still runs."""
    record = read_launches(address)
    states = [ProcessState(p, launch.local_alive(p)) for p in record.processes if p.via == "local"]
    remote = [p for p in record.processes if p.via == "ssh"]
    if remote:
        states += run_sync(_remote_states(remote, settings))
    return states


async def _remote_states(processes: list[Launched], settings: ClusterSettings) -> list[ProcessState]:
    by_host: dict[str, list[Launched]] = {}
    for process in processes:
        by_host.setdefault(process.host, []).append(process)

    async def one_host(host: str, launched: list[Launched]) -> list[ProcessState]:
        try:
            async with connect(access_for(settings, host)) as connection:
                return [ProcessState(p, await launch.remote_alive(connection, p)) for p in launched]
        except ClusterError:
            logger.warning("cannot reach %s to check its processes", host, exc_info=True)
            return [ProcessState(p, False) for p in launched]

    results = await asyncio.gather(*(one_host(host, launched) for host, launched in by_host.items()))
    return [state for states in results for state in states]


def stop(address: str, settings: ClusterSettings, say: LineCallback) -> list[Launched]:
    """Stop every process the engine started for ``address`` (workers first); the ones that ran."""
    with launch_lock(address):  # type: ignore[attr-defined]
        record = read_launches(address)
        ordered = sorted(record.processes, key=lambda p: p.role == "scheduler")
        stopped = [p for p in ordered if p.via == "local" and launch.stop_local(p)]
        remote = [p for p in ordered if p.via == "ssh"]
        unreachable: list[Launched] = []
        if remote:
            gone, unreachable = run_sync(_stop_remote(remote, settings, say))
            stopped += gone
        for process in stopped:
            say(f"stopped {process.role} {process.name} on {process.host} (pid {process.pid})")
        kept = {(p.host, p.pid) for p in unreachable}  # still recorded: a later STOP may reach them
        write_launches(record.without([p for p in record.processes if (p.host, p.pid) not in kept]))
        return stopped


async def _stop_remote(
    processes: list[Launched], settings: ClusterSettings, say: LineCallback
) -> tuple[list[Launched], list[Launched]]:
    """Stop the processes over SSH, host by host: those that ran, and those of hosts not reached."""
    by_host: dict[str, list[Launched]] = {}
    for process in processes:
        by_host.setdefault(process.host, []).append(process)

    async def one_host(host: str, launched: list[Launched]) -> tuple[list[Launched], list[Launched]]:
        try:
            async with connect(access_for(settings, host)) as connection:
                return [p for p in launched if await launch.stop_remote(connection, p)], []
        except ClusterError as error:
            say(f"cannot stop the {len(launched)} process(es) on {host}, kept in the record: {error}")
            return [], launched

    results = await asyncio.gather(*(one_host(host, launched) for host, launched in by_host.items()))
    return [p for stopped, _ in results for p in stopped], [p for _, kept in results for p in kept]
