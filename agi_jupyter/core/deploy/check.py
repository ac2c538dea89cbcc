"""CHECK HOSTS: for each worker host, what works and what to do about what does not.

Per host, in the order a set-up needs them: reachable, authentication (SSH), Python, uv, disk
free, install state (the worker environment against what INSTALL would ship now) and the Dask
workers connected for it. A host of this machine needs no SSH: only its workers are checked.
One failed step does not hide the next ones that can still be looked at; those that cannot
(everything after a failed connection) say so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..env import AgiEnv
from ..errors import AgiError, ClusterError
from ..settings import ClusterSettings
from .ssh import HostAccess, access_for, connect, run, run_sync

if TYPE_CHECKING:
    from asyncssh import SSHClientConnection

logger = logging.getLogger(__name__)

LOW_DISK_MB = 1024  # a worker environment takes about 500 MB: less than this is a warning
ITEMS = ("reachable", "auth", "python", "uv", "disk", "install", "workers")


@dataclass(frozen=True)
class HostCheck:
    """One item of one host: whether it is fine, what was seen, and how to fix it."""

    host: str
    item: str
    ok: bool
    detail: str
    fix: str = ""


def check_hosts(
    settings: ClusterSettings,
    workers: Mapping[str, int],
    connected: Mapping[str, int] | None = None,
    expected_digest: str | None = None,
) -> list[HostCheck]:
    """Every item of every host in ``workers``; ``connected`` counts the Dask workers seen per host
    (None: no scheduler answered), ``expected_digest`` is what INSTALL would ship now."""
    from .control import is_this_machine

    configured = bool(settings.scheduler)

    async def every_host() -> list[list[HostCheck]]:
        jobs = []
        for host, slots in workers.items():
            if is_this_machine(host):
                jobs.append(_local(host, slots, connected, configured))
            else:
                jobs.append(_remote(access_for(settings, host), slots, connected, expected_digest, configured))
        return await asyncio.gather(*jobs)

    return [check for host in run_sync(every_host()) for check in host]


async def _local(host: str, slots: int, connected: Mapping[str, int] | None, configured: bool) -> list[HostCheck]:
    if not configured:  # no scheduler configured: dask mode runs on the engine's own local cluster
        workers = HostCheck(host, "workers", True, "no scheduler configured: dask mode uses the engine's local cluster")
        return [HostCheck(host, "reachable", True, "this machine: no SSH needed"), workers]
    return [HostCheck(host, "reachable", True, "this machine: no SSH needed"), _workers(host, slots, connected, True)]


async def _remote(
    access: HostAccess, slots: int, connected: Mapping[str, int] | None, expected: str | None, configured: bool
) -> list[HostCheck]:
    host = access.host
    try:
        async with connect(access) as connection:
            checks = [
                HostCheck(host, "reachable", True, f"SSH answers at {access.host}:{access.port}"),
                HostCheck(host, "auth", True, f"logged in as {access.user} with a key"),
            ]
            root_text = (await run(connection, 'printf %s "$HOME"')).output.strip()
            base = access.env_root if access.env_root.startswith("/") else f"{root_text}/{access.env_root}"
            root = f"{base.rstrip('/')}/agi_worker"
            checks.append(await _python(connection, access, root))
            checks.append(await _uv(connection, access, root))
            checks.append(await _disk(connection, access, base))
            checks.append(await _install(connection, access, root, expected))
    except ClusterError as error:
        return [*_unreachable(access, str(error)), _workers(host, slots, connected, configured)]
    checks.append(_workers(host, slots, connected, configured))
    return checks


def _unreachable(access: HostAccess, message: str) -> list[HostCheck]:
    host = access.host
    if "authentication" in message or "host key" in message:
        first = [
            HostCheck(host, "reachable", True, f"SSH answers at {access.host}:{access.port}"),
            HostCheck(host, "auth", False, message, _auth_fix(message)),
        ]
    else:
        fix = "check that the host is up, its address in [cluster] workers, and ssh_port / ssh_timeout"
        first = [HostCheck(host, "reachable", False, message, fix)]
    done = {check.item for check in first}
    rest = [HostCheck(host, item, False, "not checked: no SSH connection") for item in ITEMS[:-1] if item not in done]
    return first + rest


def _auth_fix(message: str) -> str:
    if "host key" in message:
        return "verify the host key and add it to known_hosts (or set ssh_trust_new_hosts = true)"
    return "add the public key to the user's ~/.ssh/authorized_keys there, or set ssh_user / ssh_key_path"


async def _python(connection: SSHClientConnection, access: HostAccess, root: str) -> HostCheck:
    found = await run(connection, f"command -v {shlex.quote(access.python)} && {shlex.quote(access.python)} -V")
    if found.status == 0:
        return HostCheck(access.host, "python", True, " ".join(found.output.split()))
    managed = await run(connection, f"{root}/bin/uv python find {shlex.quote(access.python.removeprefix('python'))}")
    if managed.status == 0:
        return HostCheck(access.host, "python", True, f"uv-managed {managed.output.strip()}")
    return HostCheck(
        access.host,
        "python",
        False,
        f"no {access.python} on PATH",
        f"install it there (e.g. apt-get install {access.python}) or set remote_python for this host; "
        "INSTALL fetches one with uv where the host can reach the Python downloads",
    )


async def _uv(connection: SSHClientConnection, access: HostAccess, root: str) -> HostCheck:
    found = await run(connection, f"{root}/bin/uv --version 2>/dev/null || uv --version")
    if found.status == 0:
        return HostCheck(access.host, "uv", True, found.output.strip().splitlines()[-1])
    return HostCheck(access.host, "uv", False, "no uv there yet", "INSTALL copies this kernel's uv to the host")


async def _disk(connection: SSHClientConnection, access: HostAccess, base: str) -> HostCheck:
    outcome = await run(connection, f"mkdir -p {shlex.quote(base)} && df -Pk {shlex.quote(base)} | tail -1")
    fields = outcome.output.split()
    if outcome.status != 0 or len(fields) < 4 or not fields[3].isdigit():
        return HostCheck(access.host, "disk", False, f"cannot read the free space of {base}: {outcome.output.strip()}")
    free = int(fields[3]) // 1024
    if free < LOW_DISK_MB:
        fix = f"free space under {base}, or set worker_env_root for this host to a roomier folder"
        return HostCheck(
            access.host, "disk", False, f"{free} MB free under {base} (a worker environment takes ~500 MB)", fix
        )
    return HostCheck(access.host, "disk", True, f"{free} MB free under {base}")


async def _install(connection: SSHClientConnection, access: HostAccess, root: str, expected: str | None) -> HostCheck:
    marker = await run(connection, f"cat {root}/shipped.json")
    if marker.status != 0:
        return HostCheck(access.host, "install", False, f"no worker environment in {root}", "run INSTALL")
    try:
        digest = json.loads(marker.output).get("digest")
    except ValueError:
        return HostCheck(access.host, "install", False, f"{root}/shipped.json is unreadable", "run INSTALL")
    if expected is not None and digest != expected:
        return HostCheck(access.host, "install", False, f"{root}: set up from other code or versions", "run INSTALL")
    return HostCheck(access.host, "install", True, f"worker environment in {root} is up to date")


def _workers(host: str, slots: int, connected: Mapping[str, int] | None, configured: bool) -> HostCheck:
    if connected is None and not configured:
        fix = "set [cluster] scheduler to an address of this machine the hosts reach: the engine starts it"
        return HostCheck(host, "workers", False, "no scheduler configured for a host beyond this machine", fix)
    if connected is None:
        return HostCheck(
            host, "workers", False, "no scheduler answers", "RUN, INSTALL or `agi-jupyter cluster start` starts it"
        )
    count = connected.get(host, 0)
    if count >= slots:
        return HostCheck(host, "workers", True, f"{count} Dask worker(s) connected for {slots} slot(s)")
    return HostCheck(
        host,
        "workers",
        False,
        f"{count} Dask worker(s) connected for {slots} slot(s)",
        "RUN or `cluster start` starts them",
    )


def check_app_hosts(env: AgiEnv, timeout: float = 2.0) -> list[HostCheck]:
    """:func:`check_hosts` for an app's settings: its worker hosts, its scheduler, what INSTALL would ship."""
    from ..install import declared_dependencies
    from ..settings import AppSettings
    from .provision import make_shipment
    from .wheelhouse import pinned_closure

    settings = AppSettings.load(env.settings_path).cluster
    try:
        expected: str | None = make_shipment(pinned_closure(declared_dependencies(env)), []).digest
    except AgiError:
        logger.debug("cannot compute what INSTALL would ship", exc_info=True)
        expected = None
    return check_hosts(settings, settings.workers, connected_per_host(settings, timeout), expected)


def connected_per_host(settings: ClusterSettings, timeout: float) -> dict[str, int] | None:
    """Dask workers connected per worker host, or None when no scheduler answers at the settings' address."""
    from ..cluster import connect_scheduler, host_ip, scheduler_endpoint, workers_by_ip
    from .control import probe

    if not settings.scheduler:
        return None
    host, port, address = scheduler_endpoint(settings.scheduler)
    if probe(host, port, timeout) != "dask":
        return None
    by_ip = workers_by_ip(connect_scheduler(address, timeout))
    counts = {}
    for worker_host in settings.workers:
        try:
            counts[worker_host] = len(by_ip.get(host_ip(worker_host, resolve=True), []))
        except ClusterError:
            counts[worker_host] = 0
    return counts
