"""Start and stop Dask's own processes (``dask scheduler``, ``dask worker``), here or over SSH.

Each process is started detached (its own session, output to a log file, no terminal), so it
outlives the kernel or command that started it: the next kernel adopts it through the launch
record. A worker is one ``dask worker`` process (a nanny and one single-threaded worker) named
``host#slot``. Stopping signals the whole process group, and only after checking that the pid
still runs the recorded command, so a pid reused by another program is never signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClusterError
from ..shipping import HOST_BUILDS
from .records import Launched, cluster_dir, now
from .ssh import HostAccess, must, run

if TYPE_CHECKING:
    import asyncssh

logger = logging.getLogger(__name__)

WORKER_ENVIRONMENT = {
    "DASK_DISTRIBUTED__WORKER__DAEMON": "False",  # the app's own process pools start inside workers
}


def scheduler_command(python: str, host: str, port: int) -> list[str]:
    return [
        python,
        "-m",
        "distributed.cli.dask_scheduler",
        "--host",
        host,
        "--port",
        str(port),
        "--dashboard-address",
        f"{host}:0",
    ]


def worker_command(python: str, scheduler: str, host: str, name: str, directory: str) -> list[str]:
    return [
        python, "-m", "distributed.cli.dask_worker", scheduler,
        "--name", name, "--host", host, "--nthreads", "1", "--nworkers", "1", "--local-directory", directory,
    ]  # fmt: skip


# ----- on this machine --------------------------------------------------------------------
def start_local(command: list[str], role: str, host: str, name: str, app: str, slot: int | None = None) -> Launched:
    """Start ``command`` here, detached, its output in ``${AGI_CLUSTER_DIR}/logs``."""
    logs = cluster_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{_safe(name)}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **WORKER_ENVIRONMENT},
            cwd=str(logs),
        )
    return Launched(
        role=role,  # type: ignore[arg-type]
        host=host, pid=process.pid, name=name, app=app, started=now(), via="local", log=str(log), slot=slot,
    )  # fmt: skip


def local_alive(launched: Launched, *, starting: bool = False) -> bool:
    """True while the recorded pid runs the recorded command (not a zombie, not a reused pid).

    ``starting``: the process was started a moment ago, and a process still in ``exec`` shows an
    empty command line for a few milliseconds; it counts as alive then (and only then: a reused
    pid with an empty command line is a kernel thread, not ours).
    """
    try:
        command = Path(f"/proc/{launched.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{launched.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and (launched.name in command or (starting and not command))


def stop_local(launched: Launched, grace: float = 10.0) -> bool:
    """Stop a process this machine's engine started (its process group); True if it was running."""
    if not local_alive(launched):
        return False
    _signal_group(launched.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and local_alive(launched):
        _reap(launched.pid)
        time.sleep(0.1)
    if local_alive(launched):
        _signal_group(launched.pid, signal.SIGKILL)
    _reap(launched.pid)
    return True


def _signal_group(pid: int, number: signal.Signals) -> None:
    try:
        os.killpg(pid, number)
    except ProcessLookupError:
        logger.debug("process group %d is gone already", pid)
    except PermissionError:
        os.kill(pid, number)


def _reap(pid: int) -> None:
    """Collect the exit status of a child this process started, so it does not stay a zombie."""
    with contextlib.suppress(ChildProcessError):  # not our child: its own parent (or init) reaps it
        os.waitpid(pid, os.WNOHANG)


def log_tail(path: str, lines: int = 8) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line for line in text.strip().splitlines()[-lines:])


# ----- over SSH ---------------------------------------------------------------------------
async def start_remote(
    connection: asyncssh.SSHClientConnection,
    access: HostAccess,
    command: list[str],
    role: str,
    name: str,
    app: str,
    root: str,
    slot: int | None = None,
) -> Launched:
    """Start ``command`` on the host, detached (``setsid nohup``), its output in ``<root>/logs``."""
    log = f"{root}/logs/{_safe(name)}.log"
    variables = {**WORKER_ENVIRONMENT, HOST_BUILDS: f"{root}/builds"}
    environment = " ".join(f"{key}={shlex.quote(value)}" for key, value in variables.items())
    line = " ".join(shlex.quote(part) for part in command)
    script = (
        f"mkdir -p {root}/logs && cd {root} && {environment} setsid nohup {line} "
        f">>{shlex.quote(log)} 2>&1 </dev/null & echo $!"
    )
    pid = (await must(connection, access, script, f"starting {name}")).strip().splitlines()[-1]
    if not pid.isdigit():
        raise ClusterError(f"{access.where}: starting {name} gave no process id ({pid!r})")
    return Launched(
        role=role,  # type: ignore[arg-type]
        host=access.host, pid=int(pid), name=name, app=app, started=now(), via="ssh", log=log, slot=slot,
    )  # fmt: skip


async def remote_alive(connection: asyncssh.SSHClientConnection, launched: Launched) -> bool:
    outcome = await run(connection, f"ps -o stat=,args= -p {launched.pid}")
    text = outcome.output.strip()
    return outcome.status == 0 and not text.startswith("Z") and launched.name in text


async def stop_remote(connection: asyncssh.SSHClientConnection, launched: Launched, grace: float = 10.0) -> bool:
    """Stop a process the engine started on the host (its process group); True if it was running."""
    if not await remote_alive(connection, launched):
        return False
    await run(connection, f"kill -TERM -- -{launched.pid} 2>/dev/null || kill -TERM {launched.pid}")
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not await remote_alive(connection, launched):
            return True
        await _sleep(0.2)
    await run(connection, f"kill -KILL -- -{launched.pid} 2>/dev/null || kill -KILL {launched.pid}")
    return True


async def remote_log_tail(connection: asyncssh.SSHClientConnection, launched: Launched, lines: int = 8) -> str:
    text = (await run(connection, f"tail -n {lines} {shlex.quote(launched.log)} 2>/dev/null")).output
    return " | ".join(line for line in text.strip().splitlines())


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def _safe(name: str) -> str:
    return "".join(char if char.isalnum() or char in "._-" else "_" for char in name)


def kernel_python() -> str:
    return sys.executable
