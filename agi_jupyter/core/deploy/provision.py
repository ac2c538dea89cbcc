"""Set a worker host up over SSH: uv, a Python of the kernel's minor version, the worker environment.

On the host, under ``<worker_env_root>/agi_worker`` (relative to the SSH user's home):

- ``bin/uv``: the uv binary this kernel ships, copied when the host has none of the same version;
- ``wheels/``: the wheels of :mod:`.wheelhouse`, copied once (only the missing files);
- ``src/<digest>/agi_jupyter``: the engine's own worker-side code, as this kernel runs it;
- ``venv/``: ``uv venv`` on the host's Python, the wheels installed offline, the engine's code
  put on its path by a ``.pth`` file;
- ``shipped.json``: the hash of all of the above. A host whose hash matches is skipped after one
  SSH round trip; anything else is redone, and the hash is written last, so a host set up halfway
  (killed, disk full) is never taken as ready.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import shlex
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClusterError
from ..install import AGI_PACKAGE, uv_binary
from ..logs import LineCallback
from .ssh import HostAccess, must, run

if TYPE_CHECKING:
    import asyncssh

logger = logging.getLogger(__name__)

SKIPPED_PARTS = ("labextension", "examples", "__pycache__", "widgets")


@dataclass(frozen=True)
class Shipment:
    """What every host gets (the same for all hosts of one set-up): wheels, pins, engine code, uv."""

    wheels: tuple[Path, ...]
    pins: tuple[str, ...]
    source: bytes
    source_digest: str
    uv: Path

    @property
    def digest(self) -> str:
        text = json.dumps([sorted(self.pins), self.source_digest, self.uv.stat().st_size])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class HostReady:
    """A set-up host: where its worker environment is and its Python."""

    access: HostAccess
    root: str
    python: str
    skipped: bool
    seconds: float

    @property
    def venv_python(self) -> str:
        return f"{self.root}/venv/bin/python"


def make_shipment(pins: list[str], wheels: list[Path]) -> Shipment:
    """The shipment for ``pins`` (wheels in hand) with the engine's worker-side code and uv."""
    uv = uv_binary()
    if uv is None:
        raise ClusterError("uv is not installed in this kernel (pip install uv): it is copied to the worker hosts")
    source = engine_source()
    return Shipment(tuple(wheels), tuple(pins), source, hashlib.sha256(source).hexdigest()[:16], Path(uv))


def engine_source() -> bytes:
    """A tar.gz of the ``agi_jupyter`` package as this kernel has it, without the browser and widget parts."""
    buffer = io.BytesIO()  # gzip without a time stamp: the same code gives the same bytes (and digest)
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed, tarfile.open(fileobj=packed, mode="w") as archive:
        for path in sorted(AGI_PACKAGE.rglob("*.py")) + sorted(AGI_PACKAGE.rglob("py.typed")):
            relative = path.relative_to(AGI_PACKAGE)
            if any(part in SKIPPED_PARTS for part in relative.parts):
                continue
            info = archive.gettarinfo(str(path), arcname=f"agi_jupyter/{relative}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with path.open("rb") as file:
                archive.addfile(info, file)
    return buffer.getvalue()


async def provision(
    connection: asyncssh.SSHClientConnection, access: HostAccess, shipment: Shipment, say: LineCallback
) -> HostReady:
    """Make the host's worker environment match ``shipment``; skip it when it already does."""
    started = time.perf_counter()
    root = await host_root(connection, access)
    marker = await run(connection, f"cat {root}/shipped.json 2>/dev/null")
    if marker.status == 0 and _matches(marker.output, shipment, access):
        python = json.loads(marker.output).get("python", "")
        say(f"{access.host}: worker environment unchanged ({root}); skipped")
        return HostReady(access, root, python, True, time.perf_counter() - started)
    await must(
        connection, access, f"mkdir -p {root}/bin {root}/wheels {root}/src && rm -f {root}/shipped.json", "mkdir"
    )
    await _check_platform(connection, access)
    await _ensure_uv(connection, access, root, shipment, say)
    python = await _find_python(connection, access, root)
    say(f"{access.host}: Python {python}; copying the engine and the wheels")
    await _copy_wheels(connection, access, root, shipment, say)
    source = f"{root}/src/{shipment.source_digest}"
    await put_bytes(connection, f"{root}/src/engine.tar.gz", shipment.source)
    await must(
        connection,
        access,
        f"mkdir -p {source}.partial && tar -xzf {root}/src/engine.tar.gz -C {source}.partial && "
        f"rm -rf {source} && mv {source}.partial {source}",
        "unpacking the engine's code",
    )
    await _make_venv(connection, access, root, python, shipment, source, say)
    marker_text = json.dumps(
        {"digest": shipment.digest, "wanted": access.python, "python": python, "when": time.time()}
    )
    await put_bytes(connection, f"{root}/shipped.json", marker_text.encode())
    seconds = time.perf_counter() - started
    say(f"{access.host}: worker environment ready in {seconds:.1f} s ({root}/venv)")
    return HostReady(access, root, python, False, seconds)


def _matches(text: str, shipment: Shipment, access: HostAccess) -> bool:
    """Whether the host's marker says it holds this shipment, built on the Python asked for."""
    try:
        marker = json.loads(text)
        return bool(marker.get("digest") == shipment.digest and marker.get("wanted") == access.python)
    except (ValueError, AttributeError):
        return False


async def host_root(connection: asyncssh.SSHClientConnection, access: HostAccess) -> str:
    """The absolute worker-env root on the host (a relative setting is under the SSH user's home)."""
    home = (await must(connection, access, 'printf %s "$HOME"', "reading $HOME")).strip()
    base = access.env_root if access.env_root.startswith("/") else f"{home}/{access.env_root.removeprefix('~/')}"
    return f"{base.rstrip('/')}/agi_worker"


async def _check_platform(connection: asyncssh.SSHClientConnection, access: HostAccess) -> None:
    import platform

    machine = (await must(connection, access, "uname -sm", "reading the platform")).strip()
    here = f"{platform.system()} {platform.machine()}"
    if machine != here:
        raise ClusterError(
            f"{access.where}: the host is {machine}, this kernel {here}: the wheels shipped are built for "
            "this kernel's platform; use hosts of the same platform"
        )


async def _ensure_uv(
    connection: asyncssh.SSHClientConnection, access: HostAccess, root: str, shipment: Shipment, say: LineCallback
) -> None:
    size = (await run(connection, f"stat -c %s {root}/bin/uv 2>/dev/null")).output.strip()
    if size == str(shipment.uv.stat().st_size):
        return
    say(f"{access.host}: copying uv ({shipment.uv.stat().st_size / 1e6:.0f} MB)")
    await _put_file(connection, access, shipment.uv, f"{root}/bin/uv.partial")
    await must(connection, access, f"chmod 755 {root}/bin/uv.partial && mv {root}/bin/uv.partial {root}/bin/uv", "uv")


async def _find_python(connection: asyncssh.SSHClientConnection, access: HostAccess, root: str) -> str:
    """The host's Python of the kernel's minor version (PATH, then uv's), else a ClusterError."""
    found = await run(connection, f"command -v {shlex.quote(access.python)}")
    if found.status == 0 and found.output.strip():
        return found.output.strip().splitlines()[-1]
    version = access.python.removeprefix("python")
    command = f"UV_PYTHON_DOWNLOADS=automatic {root}/bin/uv python find {shlex.quote(version)} || "
    command += (
        f"{root}/bin/uv python install {shlex.quote(version)} && {root}/bin/uv python find {shlex.quote(version)}"
    )
    outcome = await run(connection, command)
    if outcome.status == 0 and outcome.output.strip():
        return outcome.output.strip().splitlines()[-1]
    raise ClusterError(
        f"{access.where}: no {access.python} there, and uv could not fetch one "
        f"({' | '.join(outcome.output.strip().splitlines()[-2:]) or 'no output'}): the host is offline or "
        f"has no route to the Python downloads. Install it there (e.g. apt-get install {access.python}), "
        f'or name another with [cluster.hosts."{access.host}"] remote_python'
    )


async def _copy_wheels(
    connection: asyncssh.SSHClientConnection, access: HostAccess, root: str, shipment: Shipment, say: LineCallback
) -> None:
    listing = (await run(connection, f"cd {root}/wheels && ls -l --time-style=+ . 2>/dev/null")).output
    present = {parts[-1]: parts[4] for parts in (line.split() for line in listing.splitlines()) if len(parts) >= 6}
    missing = [wheel for wheel in shipment.wheels if present.get(wheel.name) != str(wheel.stat().st_size)]
    if not missing:
        return
    size = sum(wheel.stat().st_size for wheel in missing) / 1e6
    say(f"{access.host}: copying {len(missing)} wheel(s), {size:.0f} MB")
    for wheel in missing:
        await _put_file(connection, access, wheel, f"{root}/wheels/{wheel.name}")


async def _make_venv(
    connection: asyncssh.SSHClientConnection,
    access: HostAccess,
    root: str,
    python: str,
    shipment: Shipment,
    source: str,
    say: LineCallback,
) -> None:
    uv, venv = f"{root}/bin/uv", f"{root}/venv"
    say(f"{access.host}: installing {len(shipment.pins)} packages offline into {venv}")
    pins = " ".join(shlex.quote(pin) for pin in shipment.pins)
    await must(
        connection,
        access,
        f"{uv} venv --quiet --allow-existing --python {shlex.quote(python)} {venv} && "
        f"{uv} pip install --quiet --offline --no-index --find-links {root}/wheels --python {venv}/bin/python {pins}",
        "installing the worker environment",
    )
    site = (
        await must(
            connection,
            access,
            f"{venv}/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])'",
            "locating site-packages",
        )
    ).strip()
    await put_bytes(connection, f"{site}/agi_engine.pth", f"{source}\n".encode())
    await must(
        connection, access, f"{venv}/bin/python -c 'import agi_jupyter.core.runner, distributed'", "import check"
    )


async def put_bytes(connection: asyncssh.SSHClientConnection, path: str, data: bytes) -> None:
    async with connection.start_sftp_client() as sftp, sftp.open(path + ".partial", "wb") as file:
        await file.write(data)
    async with connection.start_sftp_client() as sftp:
        await sftp.posix_rename(path + ".partial", path)


async def _put_file(connection: asyncssh.SSHClientConnection, access: HostAccess, local: Path, remote: str) -> None:
    import asyncssh

    try:
        async with connection.start_sftp_client() as sftp:
            await sftp.put(str(local), remote + ".partial")
            await sftp.posix_rename(remote + ".partial", remote)
    except (OSError, asyncssh.SFTPError) as error:
        text = str(error)
        if "No space" in text or "Failure" in text:
            free = (await run(connection, f"df -Pk {shlex.quote(str(Path(remote).parent))} | tail -1")).output.split()
            if len(free) >= 4 and free[3].isdigit() and int(free[3]) * 1024 < local.stat().st_size:
                raise ClusterError(
                    f"{access.where}: the remote disk is full ({int(free[3]) // 1024} MB free under "
                    f"{Path(remote).parent}, {local.name} needs {local.stat().st_size // 2**20} MB)"
                ) from None
        raise ClusterError(f"{access.where}: copying {local.name} failed: {error}") from None
