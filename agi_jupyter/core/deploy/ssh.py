"""Reaching a worker host over SSH with asyncssh (the transport Dask's own SSH deployment uses).

Key-based authentication only: the ssh-agent's keys, or the key file the settings name; a
password is never asked for nor written anywhere. Host keys are checked against a
``known_hosts`` file by default. ``ssh_trust_new_hosts`` trusts a host seen for the first time
and records its key there (trust on first use); a key that differs from a recorded one is
refused either way. Each failure becomes a :class:`ClusterError` that names the host, the port
and what to do.
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import logging
import shlex
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ClusterError
from ..settings import ClusterSettings

if TYPE_CHECKING:
    import asyncssh

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class HostAccess:
    """How to reach and set up one worker host: ``[cluster]`` with that host's overrides applied."""

    host: str
    user: str
    port: int
    key_path: str | None
    known_hosts: str
    trust_new_hosts: bool
    timeout: float
    python: str
    env_root: str

    @property
    def where(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


def access_for(settings: ClusterSettings, host: str) -> HostAccess:
    """The SSH access to ``host``: per-host overrides (``[cluster.hosts."<host>"]``) over ``[cluster]``."""
    override = settings.hosts.get(host)
    known = settings.ssh_known_hosts or "~/.ssh/known_hosts"
    return HostAccess(
        host=host,
        user=(override and override.ssh_user) or settings.ssh_user or getpass.getuser(),
        port=(override and override.ssh_port) or settings.ssh_port,
        key_path=(override and override.ssh_key_path) or settings.ssh_key_path,
        known_hosts=str(Path(known).expanduser()),
        trust_new_hosts=settings.ssh_trust_new_hosts,
        timeout=settings.ssh_timeout,
        python=(override and override.remote_python)
        or settings.remote_python
        or f"python{sys.version_info.major}.{sys.version_info.minor}",
        env_root=(override and override.worker_env_root) or settings.worker_env_root,
    )


@asynccontextmanager
async def connect(access: HostAccess) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An open SSH connection to the host; a ClusterError says why there is none."""
    import asyncssh

    if access.key_path and not Path(access.key_path).expanduser().is_file():
        raise ClusterError(
            f"{access.where}: the SSH key file {access.key_path} does not exist ([cluster] ssh_key_path)"
        )
    known = await _known_hosts(access)
    options = {
        "port": access.port,
        "username": access.user,
        "known_hosts": known,
        "connect_timeout": access.timeout,
        "password": None,
        "kbdint_auth": False,
        "password_auth": False,
    }
    if access.key_path:
        options["client_keys"] = [str(Path(access.key_path).expanduser())]
    try:
        connection = await asyncssh.connect(access.host, **options)
    except TimeoutError:
        raise ClusterError(
            f"{access.where}: no SSH answer within {access.timeout:g} s (host unreachable, or the port is "
            "filtered): check the address and that sshd runs there ([cluster] ssh_timeout sets the wait)"
        ) from None
    except ConnectionRefusedError:
        raise ClusterError(
            f"{access.where}: connection refused: no SSH server listens on port {access.port} there "
            "([cluster] ssh_port, or [cluster.hosts] for this host)"
        ) from None
    except asyncssh.PermissionDenied:
        key = access.key_path or "the ssh-agent's keys and ~/.ssh/id_*"
        raise ClusterError(
            f"{access.where}: SSH authentication refused for user {access.user!r} with {key}: add the public "
            f"key to ~{access.user}/.ssh/authorized_keys on {access.host}, or set [cluster] ssh_user / "
            "ssh_key_path (passwords are never used)"
        ) from None
    except asyncssh.HostKeyNotVerifiable as error:
        raise ClusterError(_host_key_message(access, str(error))) from None
    except OSError as error:
        if error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise ClusterError(
                f"{access.where}: host unreachable ({error.strerror}; waited up to {access.timeout:g} s): check "
                "the address in [cluster] workers and that the host is up"
            ) from None
        raise ClusterError(f"{access.where}: SSH connection failed: {error}") from None
    except asyncssh.Error as error:
        raise ClusterError(f"{access.where}: SSH connection failed: {error}") from None
    try:
        yield connection
    finally:
        connection.close()


async def _known_hosts(access: HostAccess) -> str | None:
    """The known_hosts file to check against; with trust on, a new host's key is recorded first."""
    import asyncssh

    path = Path(access.known_hosts)
    if not access.trust_new_hosts or _is_known(path, access):
        return str(path) if path.is_file() else ()  # type: ignore[return-value]  # () = no trusted keys
    try:
        key = await asyncio.wait_for(asyncssh.get_server_host_key(access.host, access.port), access.timeout)
    except (TimeoutError, OSError, asyncssh.Error) as error:
        raise ClusterError(f"{access.where}: cannot read the host key ({error or type(error).__name__})") from None
    if key is None:
        raise ClusterError(f"{access.where}: the server offered no host key")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = access.host if access.port == 22 else f"[{access.host}]:{access.port}"
    with path.open("a", encoding="utf-8") as file:
        file.write(f"{name} {key.export_public_key('openssh').decode().strip()}\n")
    logger.warning("trusted the new host key of %s and recorded it in %s", access.where, path)
    return str(path)


def _is_known(path: Path, access: HostAccess) -> bool:
    """True if ``known_hosts`` has any key for the host (so a mismatch is a change, never trusted)."""
    import asyncssh

    if not path.is_file():
        return False
    try:
        found = asyncssh.read_known_hosts(str(path)).match(access.host, "", access.port)
    except (OSError, ValueError, asyncssh.Error):
        logger.debug("cannot read %s", path, exc_info=True)
        return False
    return any(found[:3])


def _host_key_message(access: HostAccess, detail: str) -> str:
    path = Path(access.known_hosts)
    if _is_known(path, access):
        return (
            f"{access.where}: the host key DIFFERS from the one recorded in {path} ({detail}): the host was "
            "reinstalled or someone is in between. Check with its administrator, then remove the old line."
        )
    return (
        f"{access.where}: the host key is not known (not in {path}): check it and add it "
        f"(ssh-keyscan -p {access.port} {access.host} >> {path}), or set [cluster] ssh_trust_new_hosts = true "
        "to trust a host on first use"
    )


@dataclass(frozen=True)
class Outcome:
    status: int
    output: str


async def run(connection: asyncssh.SSHClientConnection, command: str, timeout: float = 600) -> Outcome:
    """Run a shell command on the host; its exit status and its stdout+stderr."""
    result = await connection.run(f"sh -c {shlex.quote(command)} 2>&1", check=False, timeout=timeout)
    output = result.stdout if isinstance(result.stdout, str) else (result.stdout or b"").decode(errors="replace")
    return Outcome(int(result.exit_status or 0), output)


async def must(connection: asyncssh.SSHClientConnection, access: HostAccess, command: str, what: str) -> str:
    """Run ``command``; a ClusterError naming the host, ``what`` and the output's tail if it fails."""
    outcome = await run(connection, command)
    if outcome.status != 0:
        raise ClusterError(f"{access.where}: {what} failed ({_diagnose(outcome.output)})")
    return outcome.output


def _diagnose(output: str) -> str:
    if "No space left on device" in output or "Disk quota exceeded" in output:
        return "the remote disk is full: free space in the worker-env root there"
    tail = [line for line in output.strip().splitlines() if line.strip()][-6:]
    return " | ".join(tail) or "no output"


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code, whether or not this thread has a loop."""
    import concurrent.futures

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        looping = False
    else:
        looping = True
    if not looping:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a kernel's main thread runs a loop already
        return pool.submit(asyncio.run, coroutine).result()
