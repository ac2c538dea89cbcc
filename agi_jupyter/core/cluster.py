"""Which Dask client to use: the kernel's, a scheduler address, a lab-managed cluster, or our own.

Starting a cluster costs seconds, and a kernel lives for hours, so everything here is reused:
the kernel's default client first, then clients this module opened (cached per address), then
one local cluster per interpreter that only ever grows. Nothing here becomes the user's default
client: every client it makes uses ``set_as_default=False``. All functions are synchronous and
thread-safe, because the engine calls them from a worker thread.
"""

from __future__ import annotations

import atexit
import importlib.util
import ipaddress
import json
import logging
import os
import socket
import threading
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, cast, overload

from .errors import ClusterError
from .plan import worker_slots
from .settings import split_address

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

    from .env import AgiEnv
    from .requests import Request
    from .settings import ClusterSettings

logger = logging.getLogger(__name__)

Source = Literal["kernel", "scheduler", "labextension", "local", "factory"]
LineCallback = Callable[[str], None]

DEFAULT_PORT = 8786
PROBE_TIMEOUT = 2.0  # a scheduler that only came from settings gets this long to answer
START_TIMEOUT = 60.0  # local workers on a busy 2-core machine can take a while to spawn

_lock = threading.RLock()
_clients: dict[str, Client] = {}


@dataclass
class _Owned:
    """The one local cluster this module started, and our client to it."""

    cluster: LocalCluster | None = None
    client: Client | None = None


_owned = _Owned()


class Closable(Protocol):
    """Anything with a ``close()``: a Dask client, a ``LocalCluster``, any cluster manager."""

    def close(self) -> object: ...


@dataclass
class ClusterHandle:
    """A Dask client and where it came from, so the UI can say what it runs on."""

    client: Client
    source: Source
    owned: bool  # True only for a cluster the engine started (and may close)
    address: str
    dashboard_link: str | None

    @classmethod
    def of(cls, client: Client, source: Source, *, owned: bool = False) -> ClusterHandle:
        """The handle of a running ``client``: its scheduler address and dashboard link, read once.

        A classmethod so that every place that hands out a client (here and the cluster
        factory of :mod:`.deploy.factory`) describes it the same way.
        """
        try:
            dashboard = client.dashboard_link or None
        except Exception:  # a scheduler may run without a dashboard
            logger.debug("no dashboard link for %s", source, exc_info=True)
            dashboard = None
        return cls(client, source, owned, _scheduler_address(client), dashboard)


@overload
def select_client(
    scheduler: str | None = None,
    *,
    required: bool = False,
    workers: Mapping[str, int] | None = None,
    timeout: float = 10.0,
    on_line: LineCallback | None = None,
    start: Literal[True] = True,
) -> ClusterHandle: ...
@overload
def select_client(
    scheduler: str | None = None,
    *,
    required: bool = False,
    workers: Mapping[str, int] | None = None,
    timeout: float = 10.0,
    on_line: LineCallback | None = None,
    start: bool,
) -> ClusterHandle | None: ...
def select_client(
    scheduler: str | None = None,
    *,
    required: bool = False,
    workers: Mapping[str, int] | None = None,
    timeout: float = 10.0,
    on_line: LineCallback | None = None,
    start: bool = True,
) -> ClusterHandle | None:
    """The Dask client to run on, reusing whatever already exists.

    Order: the kernel's default client; the ``scheduler`` address (``required`` when the user
    gave it explicitly: an unreachable one is then an error, while a loopback address that
    only came from settings falls through); a cluster listed by dask-labextension; else our
    local cluster, sized to the loopback slots of ``workers``. ``on_line`` hears each decision.
    With ``start=False`` (questions such as a service STATUS) no cluster is started just to
    answer: the result is then ``None`` when nothing is running.
    """
    say = on_line or (lambda line: None)
    kernel = _kernel_client(say)
    if kernel is not None:
        return ClusterHandle.of(kernel, "kernel")
    if scheduler:
        client = _scheduler_client(scheduler, required=required, timeout=timeout, say=say)
        if client is not None:
            return ClusterHandle.of(client, "scheduler")
    client = _labextension_client(say)
    if client is not None:
        return ClusterHandle.of(client, "labextension")
    if not start:
        return running_local()
    return local_cluster(loopback_slots(workers or {}))


@overload
def client_for(
    env: AgiEnv, request: Request, say: LineCallback | None = None, *, start: Literal[True] = True
) -> ClusterHandle: ...
@overload
def client_for(
    env: AgiEnv, request: Request, say: LineCallback | None = None, *, start: bool
) -> ClusterHandle | None: ...
def client_for(
    env: AgiEnv, request: Request, say: LineCallback | None = None, *, start: bool = True
) -> ClusterHandle | None:
    """:func:`select_client` for an action: the request's scheduler and workers, else the settings'.

    The one path by which runs, installs and the service pick their client, so they agree on
    which scheduler they use. A scheduler the request names is required; one that only comes
    from ``[cluster] scheduler`` may fall through to a local cluster when it is a loopback
    address. ``start`` as for :func:`select_client`.
    """
    from .settings import AppSettings

    settings = AppSettings.load(env.settings_path).cluster
    scheduler = request.scheduler or settings.scheduler
    workers = request.workers or settings.workers
    explicit = request.scheduler is not None
    if settings.factory and not explicit and _kernel_client(lambda line: None) is None:
        from .deploy.factory import factory_cluster, running_factory

        return factory_cluster(settings.factory, settings.factory_kwargs, say) if start else running_factory()
    if start and scheduler and launches(scheduler, workers, explicit=explicit, launch=settings.launch):
        deploy_cluster(env, settings, scheduler, workers, say)
    return select_client(scheduler, required=explicit, workers=workers, on_line=say, start=start)


def launches(scheduler: str, workers: Mapping[str, int], *, explicit: bool, launch: bool) -> bool:
    """Whether an action starts what the scheduler address and the worker hosts need.

    Yes for a scheduler the request names, with ``[cluster] launch = true``, and whenever a worker
    host is beyond this machine (only started workers can serve there). A loopback scheduler
    that only comes from the settings keeps the notebook-friendly fallback: an in-kernel local
    cluster when nothing answers. Never when the kernel has a Dask client of its own.
    """
    if _kernel_client(lambda line: None) is not None:
        return False
    host, _, _ = scheduler_endpoint(scheduler)
    return explicit or launch or not is_loopback(host) or not all(is_loopback(h) for h in workers)


def deploy_cluster(
    env: AgiEnv, settings: ClusterSettings, scheduler: str, workers: Mapping[str, int], say: LineCallback | None
) -> None:
    """Start the scheduler and the workers of ``workers`` that do not answer (see :mod:`.deploy`)."""
    from .deploy import Target, ensure
    from .install import declared_dependencies

    target = Target(scheduler, dict(workers), env.app, settings, declared_dependencies(env))

    ensure(target, say or (lambda line: None), lambda address: connect_scheduler(address, START_TIMEOUT))


def local_cluster(n_workers: int) -> ClusterHandle:
    """Our loopback ``LocalCluster``: started once per interpreter, grown to ``n_workers``.

    Workers are processes with one thread each (the app's own pools give the parallelism
    inside a worker), and are not daemons so that they may start process pools themselves.
    """
    count = max(1, int(n_workers))
    with _lock:
        client, cluster = _owned.client, _owned.cluster
        if client is None or cluster is None or client.status != "running":
            close_local_cluster()
            client = _start_local(count)
        else:
            _grow_local(cluster, client, count)
        return ClusterHandle.of(client, "local", owned=True)


def running_local() -> ClusterHandle | None:
    """The engine's own local cluster, if it is up (never starts one)."""
    with _lock:
        if _owned.client is None or _owned.client.status != "running":
            return None
        return ClusterHandle.of(_owned.client, "local", owned=True)


def close_local_cluster() -> bool:
    """Close the local cluster this module started; True if there was one."""
    with _lock:
        client, cluster = _owned.client, _owned.cluster
        _owned.client = _owned.cluster = None
    if client is None and cluster is None:
        return False
    for closable in (client, cluster):
        close_quietly(closable)
    return True


def close_clients() -> int:
    """Close the clients opened to schedulers we did not start; how many were closed."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        close_quietly(client)
    return len(clients)


def slot_workers(client: Client, workers: Mapping[str, int]) -> list[str]:
    """The Dask worker address for each worker slot, in :func:`worker_slots` order.

    Slots of one host take that host's workers round-robin (sorted by address, so the
    mapping is the same on every call). A host without a connected worker is an error raised
    before anything is dispatched.
    """
    by_ip = workers_by_ip(client)
    resolved = {host: host_ip(host, resolve=True) for host in workers}
    missing = [f"{host!r} ({ip})" for host, ip in resolved.items() if ip not in by_ip]
    if missing:
        scheduler = _scheduler_address(client)
        raise ClusterError(
            f"no Dask worker of {scheduler} runs on worker host {', '.join(missing)}; hosts with "
            f"workers: {', '.join(sorted(by_ip)) or 'none'}. Start one there with "
            f"`dask worker {scheduler}` or remove the host from [cluster] workers."
        )
    turns: Counter[str] = Counter()
    chosen = []
    for slot in worker_slots(workers):
        ip = resolved[slot.host]
        chosen.append(by_ip[ip][turns[ip] % len(by_ip[ip])])
        turns[ip] += 1
    return chosen


def describe(handle: ClusterHandle) -> str:
    """One line for humans: what the client is, where, how many workers, which dashboard."""
    label = {
        "kernel": "the kernel's Dask client",
        "scheduler": "Dask scheduler",
        "labextension": "lab-managed Dask cluster",
        "local": "local Dask cluster started by agi-jupyter",
        "factory": "Dask cluster made by the [cluster] factory",
    }[handle.source]
    try:
        count = len(handle.client.nthreads())
        workers = f"{count} worker{'' if count == 1 else 's'}"
    except Exception:  # a description must not fail on a lost connection
        logger.debug("cannot count the workers of %s", handle.address, exc_info=True)
        workers = "workers unknown"
    dashboard = f"dashboard {handle.dashboard_link}" if handle.dashboard_link else "no dashboard"
    return f"{label} at {handle.address}, {workers}, {dashboard}"


def loopback_slots(workers: Mapping[str, int]) -> int:
    """How many worker slots ``workers`` puts on this machine (at least 1)."""
    return max(1, sum(int(slots) for host, slots in workers.items() if is_loopback(host)))


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals; host names are not resolved."""
    text = host.strip().strip("[]")
    if text.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


# ----- the kernel's client and scheduler addresses ---------------------------------------
def _kernel_client(say: LineCallback) -> Client | None:
    from distributed.client import default_client

    try:
        client: Client = default_client()
    except ValueError:
        return None
    if client.status == "running":
        return client
    say(f"the kernel's Dask client is {client.status}; not using it")
    return None


def _scheduler_client(scheduler: str, *, required: bool, timeout: float, say: LineCallback) -> Client | None:
    host, port, address = scheduler_endpoint(scheduler)
    wait = timeout if required else min(timeout, PROBE_TIMEOUT)
    try:
        return connect_scheduler(address, wait)
    except (OSError, TimeoutError) as error:
        if not required and is_loopback(host):
            say(f"no scheduler at {address}; using a local cluster")
            return None
        raise ClusterError(
            f"no Dask scheduler answered at {address} within {wait:g} s ({error}). Start one with "
            f"`dask scheduler --host {host} --port {port}`, or clear the scheduler setting "
            f"([cluster] scheduler) to use a local cluster."
        ) from None


def scheduler_endpoint(scheduler: str) -> tuple[str, int, str]:
    """``(host, port, "tcp://host:port")`` of a scheduler address, with Dask's default port when none is given.

    The one reading of an address from the settings or a request, so that the scale-out checks
    of :mod:`.deploy` probe the same host and port that the engine then connects to. An invalid
    address is a :class:`ClusterError` naming it.
    """
    try:
        host, port = split_address(scheduler)
    except ValueError as error:
        raise ClusterError(f"scheduler address {scheduler!r} is invalid: {error}") from None
    port = port or DEFAULT_PORT
    shown = f"[{host}]" if ":" in host else host
    return host, port, f"tcp://{shown}:{port}"


def connect_scheduler(scheduler: str, timeout: float) -> Client:
    """A running client to the scheduler at ``scheduler``: the cached one, or a new one after a fast TCP probe.

    Clients are cached per address and closed at exit, so the engine and the scale-out actions of
    :mod:`.deploy` share one connection per scheduler. Nothing answering raises ``OSError`` (or
    ``TimeoutError``) quickly, without Dask's retry loop; callers turn that into their own message.
    """
    from distributed import Client

    host, port, address = scheduler_endpoint(scheduler)
    with _lock:
        client = _clients.get(address)
        if client is not None and client.status == "running":
            return client
        if client is not None:
            _clients.pop(address)
            close_quietly(client)
        with socket.create_connection((host, port), timeout=timeout):
            pass  # a refused or silent port fails here, fast, without Dask's retry loop
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except Exception as error:  # noqa: BLE001 - Dask raises several types for "no scheduler"
            raise OSError(f"{type(error).__name__}: {error}") from None
        _clients[address] = client
        register_cleanup()
        return client


# ----- clusters listed by dask-labextension ---------------------------------------------
def _labextension_client(say: LineCallback) -> Client | None:
    """Best effort: the first cluster a local Jupyter server's Dask sidebar lists."""
    # find_spec, not import: importing dask_labextension builds its server-side manager
    if importlib.util.find_spec("dask_labextension") is None:
        return None
    failure = ""
    for server in running_servers():
        try:
            address = _listed_scheduler(server)
            if address:
                return connect_scheduler(address, PROBE_TIMEOUT)
        except Exception as error:  # a lookup failure only means "not this way"
            logger.debug("dask-labextension lookup at %s failed", server.get("url"), exc_info=True)
            failure = f"{server.get('url')}: {type(error).__name__}: {error}"
    if failure:
        say(f"dask-labextension clusters skipped ({failure})")
    return None


def running_servers() -> list[dict[str, object]]:
    """The Jupyter servers of this user that are alive, from their ``jpserver-*.json`` files.

    What ``jupyter_server.serverapp.list_running_servers`` answers, read directly: importing
    jupyter_server costs over a second, a third of a fresh kernel's first dask-mode run.
    """
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return []
    servers = []
    for path in sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            logger.debug("unreadable server file %s", path, exc_info=True)
            continue
        if isinstance(info, dict) and process_alive(info.get("pid")):
            servers.append(info)
    return servers


def process_alive(pid: object) -> bool:
    """Whether a process with this pid runs on this machine (a recorded pid may be long gone).

    Someone else's process counts as alive: it cannot be signalled, but it exists.
    """
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _listed_scheduler(server: Mapping[str, object]) -> str | None:
    url = str(server.get("url") or "")
    if not url.startswith("http://") or not is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        return None
    request = urllib.request.Request(
        url.rstrip("/") + "/dask/clusters", headers={"Authorization": f"token {server.get('token') or ''}"}
    )
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:  # noqa: S310
        clusters = json.load(response)
    addresses = [str(cluster.get("scheduler_address") or "") for cluster in clusters]
    return next((address for address in addresses if address.startswith("tcp://")), None)


# ----- our local cluster ----------------------------------------------------------------
def _start_local(count: int) -> Client:
    import dask
    from distributed import Client, LocalCluster

    try:
        with dask.config.set({"distributed.worker.daemon": False}):
            cluster = LocalCluster(
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address="127.0.0.1:0",
                processes=True,
                threads_per_worker=1,
                n_workers=count,
            )
    except Exception as error:  # noqa: BLE001
        raise ClusterError(f"could not start a local Dask cluster with {count} workers: {error}") from None
    _owned.cluster = cluster
    _owned.client = client = Client(cluster, set_as_default=False)
    register_cleanup()
    return client


def _grow_local(cluster: LocalCluster, client: Client, count: int) -> None:
    import dask

    if len(cluster.worker_spec) >= count and len(client.nthreads()) >= count:
        return
    try:
        with dask.config.set({"distributed.worker.daemon": False}):  # held while they spawn
            cluster.scale(max(count, len(cluster.worker_spec)))
            client.wait_for_workers(count, timeout=START_TIMEOUT)
    except Exception as error:  # noqa: BLE001
        raise ClusterError(
            f"the local Dask cluster did not reach {count} workers within {START_TIMEOUT:g} s: {error}"
        ) from None


def register_cleanup() -> None:
    """Close every client and cluster the engine opened at exit.

    Called each time something is opened (here and by the cluster factory of :mod:`.deploy.factory`):
    re-registering moves the hook last, and ``atexit`` runs last-registered first, so ours runs
    before Dask's own hooks tear down the event loop our ``close()`` calls need.
    """
    atexit.unregister(_close_everything)
    atexit.register(_close_everything)


def _close_everything() -> None:
    from .deploy.factory import close_factory_clusters

    close_clients()
    close_factory_clusters()
    close_local_cluster()


# ----- small helpers --------------------------------------------------------------------
def close_quietly(closable: Closable | None) -> None:
    """Close a client or cluster manager; a failure is logged, never raised: closing must not stop the caller.

    Shared with :mod:`.deploy.factory`, whose cluster managers fail in their own ways while tearing down.
    """
    if closable is None:
        return
    try:
        closable.close()
    except Exception:  # Dask raises many types while tearing down
        logger.debug("closing %r failed", closable, exc_info=True)


def _scheduler_address(client: Client) -> str:
    """The address of the scheduler ``client`` talks to (every client here has been started)."""
    scheduler = client.scheduler
    if scheduler is None:  # only a client that was never started has no scheduler
        raise ClusterError("the Dask client is not connected to a scheduler")
    # rpc declares ``address = None`` at class level; its __init__ always sets the address string
    return cast("str", scheduler.address)


def workers_by_ip(client: Client) -> dict[str, list[str]]:
    """Connected worker addresses grouped by host IP, in port order within a host.

    How a worker host of the settings is matched to the Dask workers running there: by
    :func:`slot_workers` to place slots and by :mod:`.deploy.check` to count them.
    """
    from distributed.comm.addressing import get_address_host

    by_ip: dict[str, list[str]] = {}
    for address in client.nthreads():
        by_ip.setdefault(host_ip(get_address_host(address)), []).append(address)
    for addresses in by_ip.values():
        addresses.sort(key=lambda address: (len(address), address))  # same host: numeric port order
    return by_ip


def host_ip(host: str, *, resolve: bool = False) -> str:
    """The canonical IP of an address literal; a host name is resolved only if asked to.

    The key of :func:`workers_by_ip`: ``::1`` and ``[0:0::1]`` are one host. An unresolvable name
    is a :class:`ClusterError` naming it and the setting it came from.
    """
    text = host.strip().strip("[]")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        if not resolve:
            return text
    try:
        return socket.gethostbyname(text)
    except OSError as error:
        raise ClusterError(f"worker host {host!r} cannot be resolved ({error}); check [cluster] workers") from None
