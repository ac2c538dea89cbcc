"""``src/app_settings.toml``: validated loading and format-preserving, merge-only saves.

A save never rewrites the file from a model: under a file lock it re-reads the current text,
changes only the keys it was asked to change (tomlkit keeps comments, order and formatting of
everything else byte for byte), validates the result, and replaces the file atomically. So the
widget and a command-line call writing different keys at the same time both survive, and a
malformed or invalid file is reported and never overwritten.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tomlkit.exceptions import ParseError
from tomlkit.items import InlineTable, Table

from .errors import SettingsError
from .files import temporary_prefix, write_text_atomic
from .modes import Mode

logger = logging.getLogger(__name__)

DELETE = object()
"""Value for :func:`save_settings` that removes a key."""

KeyPath = tuple[str, ...]

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_host(host: str) -> str:
    """Return ``host`` if it is an IP address or an RFC 1123 host name, else raise ValueError."""
    text = host.strip()
    if not text:
        raise ValueError("host is empty")
    if _is_ip_address(text.strip("[]")):
        return text
    labels = text.rstrip(".").split(".")
    if sum(label.isdigit() for label in labels) >= 2:
        raise ValueError(f"{host!r} is not a valid IP address")
    if len(text) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(f"{host!r} is not a valid IP address or host name")
    return text


def check_slots(host: str, slots: object) -> int:
    """Return ``slots`` if it is a whole number of worker slots (1 or more) for ``host``, else raise ValueError."""
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"host {host!r}: slots must be a positive integer (at least 1), not {slots!r}")
    return slots


def check_workers(workers: Mapping[str, int]) -> Mapping[str, int]:
    """Return ``workers`` if it names at least one valid host, each with valid slots, else raise ValueError.

    The one check of a ``{host: slots}`` mapping, whether it comes from the settings file, a
    request or the Settings tab, so each says the same thing about the same mistake.
    """
    if not workers:
        raise ValueError('at least one worker host is needed, e.g. {"127.0.0.1" = 2}')
    for host, slots in workers.items():
        check_host(host)
        check_slots(host, slots)
    return workers


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_address(address: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (optionally ``tcp://``, IPv6 in brackets) and validate both parts."""
    text = address.strip()
    if text.startswith("tcp://"):
        text = text[len("tcp://") :]
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{address!r}: expected [ipv6]:port")
            port = _port(rest[1:], address)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text, address)
    else:
        host = text
    check_host(host)
    return host, port


def _port(text: str, address: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{address!r}: port {text!r} must be a number from 1 to 65535")
    return int(text)


class ServiceHealthSettings(BaseModel):
    """``[cluster.service_health]``: the thresholds of the service HEALTH gate."""

    model_config = ConfigDict(strict=True, extra="forbid")
    allow_idle: bool = Field(False, description="whether an idle or stopped service passes the gate (else exit 4)")
    max_unhealthy: int = Field(0, ge=0, description="most unhealthy worker loops the gate accepts (more: exit 2)")
    max_restart_rate: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="most restarted loops per running loop the gate accepts, from 0 to 1 (more: exit 5)",
    )

    @field_validator("max_restart_rate", mode="before")
    @classmethod
    def _int_is_a_rate(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class HostSettings(BaseModel):
    """``[cluster.hosts."<host>"]``: how to reach and set up one worker host, where it differs.

    Every field left out takes the ``[cluster]`` value of the same name (``ssh_user``,
    ``ssh_port``, ``ssh_key_path``, ``remote_python``, ``worker_env_root``).
    """

    model_config = ConfigDict(strict=True, extra="forbid")
    ssh_user: str | None = Field(None, description="SSH user for this host")
    ssh_port: int | None = Field(None, ge=1, le=65535, description="SSH port for this host")
    ssh_key_path: str | None = Field(None, description="private key for this host")
    remote_python: str | None = Field(None, description="Python the worker environment is made from on this host")
    worker_env_root: str | None = Field(None, description="folder of the worker environment on this host")


class ClusterSettings(BaseModel):
    """``[cluster]``: mode toggles, scheduler address, worker hosts and slots, verbosity, how
    the engine reaches worker hosts over SSH to set them up and start their Dask workers, and
    the pool parameters of runs (width, executor, per-item timeout)."""

    model_config = ConfigDict(strict=True, extra="allow")
    pool: bool = Field(False, description="the pool mode bit (1): a process pool inside each worker slot")
    cython: bool = Field(False, description="the cython mode bit (2): run the worker module compiled by INSTALL")
    cluster_enabled: bool = Field(False, description="the dask mode bit (4): run the plan on the Dask cluster")
    rapids: bool = Field(False, description="the rapids mode bit (8): dataframes use cudf on GPU workers")
    scheduler: str | None = Field(
        "127.0.0.1:8786", description="Dask scheduler address ``host[:port]``; empty: no scheduler configured"
    )
    workers: dict[str, int] = Field(
        default_factory=lambda: {"127.0.0.1": 2}, description="worker hosts and their slots, ``{host = slots}``"
    )
    verbose: int = Field(1, ge=0, le=3, description="verbosity passed to the workers, 0 (quiet) to 3")
    service_health: ServiceHealthSettings = Field(
        default_factory=ServiceHealthSettings, description="the HEALTH gate's thresholds (below)"
    )
    launch: bool = Field(
        False,
        description="start the scheduler and the workers named here when none answer (detached, adopted by later "
        "kernels); off, a loopback scheduler that does not answer falls back to an in-kernel local cluster "
        "(worker hosts beyond this machine are set up and started either way)",
    )
    ssh_user: str | None = Field(None, description="SSH user on the worker hosts; unset: the current user")
    ssh_port: int = Field(22, ge=1, le=65535, description="SSH port of the worker hosts")
    ssh_key_path: str | None = Field(
        None, description="private key to log in with; unset: the ssh-agent's keys, then ``~/.ssh/id_*``"
    )
    ssh_known_hosts: str | None = Field(
        None, description="file the host keys are checked against; unset: ``~/.ssh/known_hosts``"
    )
    ssh_trust_new_hosts: bool = Field(
        False, description="trust and record the key of a host seen for the first time (a changed key is refused)"
    )
    ssh_timeout: float = Field(10.0, gt=0, le=600, description="seconds to wait for a host to answer over SSH")
    remote_python: str | None = Field(
        None, description="Python the worker hosts' environments are made from; unset: the kernel's minor version"
    )
    worker_env_root: str = Field(
        "wenv", description="folder of the worker environment on the hosts, relative to the SSH user's home"
    )
    hosts: dict[str, HostSettings] = Field(
        default_factory=dict, description='per-host overrides, ``[cluster.hosts."<host>"]`` (below)'
    )
    factory: str | None = Field(
        None,
        description="a Dask cluster manager the engine makes its cluster with, as ``module.Class`` (e.g. "
        "``dask_jobqueue.SLURMCluster``, ``dask_kubernetes.operator.KubeCluster``, "
        "``dask_gateway.GatewayCluster``, ``distributed.LocalCluster``), called with ``factory_kwargs``",
    )
    factory_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments of the ``factory`` class"
    )
    pool_width: int | None = Field(
        None, ge=1, le=512, description='most members a pool starts per worker slot; unset (or ``""``): the CPU count'
    )
    item_timeout: float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 3600,
        description='seconds one work item may run before its chunk fails; unset (or ``""``): no limit',
    )
    pool_executor: Literal["process", "thread"] = Field(
        "process", description="what the pool runs work items in: processes (killed on a timeout) or threads"
    )

    @field_validator("pool_width", "item_timeout", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("item_timeout", mode="before")
    @classmethod
    def _int_is_a_timeout(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("factory")
    @classmethod
    def _dotted_name(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", value):
            raise ValueError(f"{value!r} is not a dotted name of a class, e.g. 'distributed.LocalCluster'")
        return value or None

    @field_validator("ssh_timeout", mode="before")
    @classmethod
    def _int_is_seconds(cls, value: Any) -> Any:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("hosts")
    @classmethod
    def _known_hosts(cls, value: dict[str, HostSettings]) -> dict[str, HostSettings]:
        for host in value:
            check_host(host)
        return value

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value:
            split_address(value)
        return value or None

    @field_validator("workers")
    @classmethod
    def _worker_slots(cls, value: dict[str, int]) -> dict[str, int]:
        check_workers(value)
        return value

    @property
    def mode(self) -> Mode:
        """The mode the four toggles select."""
        return Mode.from_flags(pool=self.pool, cython=self.cython, dask=self.cluster_enabled, rapids=self.rapids)


@dataclass
class AppSettings:
    """A loaded, validated settings file. Read-only: change it with :meth:`save`."""

    path: Path
    text: str
    document: tomlkit.TOMLDocument = field(repr=False)
    cluster: ClusterSettings

    @property
    def args(self) -> dict[str, Any]:
        """The saved ``[args]`` values as plain Python (validated by the app's args model)."""
        args: dict[str, Any] = _plain(self.document.get("args", {}))  # a non-table [args] fails that model
        return args

    @classmethod
    def load(cls, path: Path | str) -> AppSettings:
        """Read, parse and validate a settings file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SettingsError(f"settings file {path} does not exist", path=path) from None
        return cls.from_text(path, text)

    @classmethod
    def from_text(cls, path: Path, text: str) -> AppSettings:
        document = parse_toml(path, text)
        return cls(path=path, text=text, document=document, cluster=validate_cluster(path, text, document))

    def save(self, changes: Mapping[str | KeyPath, Any]) -> AppSettings:
        """Write ``changes`` (dotted key or key tuple -> value) and return the new settings."""
        return save_settings(self.path, changes)


def parse_toml(path: Path, text: str) -> tomlkit.TOMLDocument:
    """Parse TOML, turning a syntax error into a SettingsError naming the file and line."""
    try:
        return tomlkit.parse(text)
    except ParseError as error:
        raise SettingsError(
            f"{path}: line {error.line}, column {error.col}: invalid TOML "
            f"({str(error).split(' at line')[0]}); fix it there: nothing is saved over a file that does not parse",
            path=path,
            line=error.line,
        ) from None


def validate_cluster(path: Path, text: str, document: tomlkit.TOMLDocument) -> ClusterSettings:
    """Validate ``[cluster]``; the first problem is reported with its key and line."""
    try:
        return ClusterSettings.model_validate(_plain(document.get("cluster", {})))
    except ValidationError as error:
        problem = error.errors()[0]
        location = [str(part) for part in problem["loc"]]
        line = _line_of(text, ["cluster", *location])
        where = f"line {line}, " if line else ""
        key = "cluster." + ".".join(location)
        raise SettingsError(f"{path}: {where}[{key}]: {problem['msg']}", path=path, line=line, key=key) from None


Check = Callable[["AppSettings"], None]
"""Called under the lock with the settings as a save would leave them; raising refuses the save."""


def save_settings(path: Path | str, changes: Mapping[str | KeyPath, Any], *, check: Check | None = None) -> AppSettings:
    """Apply ``changes`` to the settings file at ``path`` atomically, under a file lock.

    Keys are dotted paths (``"cluster.pool"``) or tuples (``("cluster", "workers")``, for keys
    that hold dots such as host names). A value replaces the item at its path wholesale (a
    mapping becomes a table in the style of the item it replaces); :data:`DELETE` removes it.
    Keys not named in ``changes`` keep whatever the file holds now, including changes another
    process saved since this one loaded it.

    ``check`` sees the merged result while the lock is held, so a rule that spans keys (such as
    the app's args model) judges what will really be stored, not a snapshot another process
    may have changed since; if it raises, nothing is written and its error propagates.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    try:
        return _save_locked(path, changes, FileLock(str(lock_path(path)), timeout=30), check)
    except Timeout:
        raise SettingsError(
            f"{path}: another process holds {lock_path(path)} for over 30 s; nothing was saved", path=path
        ) from None
    except OSError as error:
        raise SettingsError(f"{path}: cannot write ({error.strerror or error}); nothing was saved", path=path) from None


def _save_locked(path: Path, changes: Mapping[str | KeyPath, Any], lock: Any, check: Check | None) -> AppSettings:
    with lock:
        _remove_stale_temporaries(path)
        current = AppSettings.load(path)
        document = current.document
        for key, value in changes.items():
            _apply(document, _key_path(key), value)
        text = tomlkit.dumps(document)
        updated = AppSettings.from_text(path, text)  # never write what would not load
        if check is not None:
            check(updated)
        if text != current.text:
            write_text_atomic(path, text)
        return updated


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files a killed save left beside ``path``.

    Every save of the settings file writes its temporary file while holding the lock, so a
    temporary file seen by the lock holder belongs to a save that died before its rename.
    Only the real file is ever read; this keeps the folder from filling with dead copies.
    """
    for stale in path.parent.glob(f"{temporary_prefix(path)}*"):
        try:
            stale.unlink()
        except OSError:
            logger.debug("cannot remove stale temporary file %s", stale, exc_info=True)
        else:
            logger.info("removed %s, left by a save that was interrupted", stale)


def lock_path(path: Path) -> Path:
    """The lock file beside a settings file (hidden, so it does not clutter the app folder)."""
    return path.with_name(f".{path.name}.lock")


def _key_path(key: str | KeyPath) -> KeyPath:
    parts = tuple(key.split(".")) if isinstance(key, str) else tuple(key)
    if not parts or not all(isinstance(part, str) and part for part in parts):
        raise SettingsError(f"invalid settings key {key!r}")
    return parts


def _apply(document: tomlkit.TOMLDocument, key: KeyPath, value: Any) -> None:
    container: Any = document
    for part in key[:-1]:
        if part not in container:
            container[part] = tomlkit.table()
        container = container[part]
    name = key[-1]
    if value is DELETE:
        if name in container:
            del container[name]
        return
    old = container.get(name) if hasattr(container, "get") else None
    container[name] = _styled(value, old)


def _styled(value: Any, old: Any) -> Any:
    """A tomlkit item for ``value`` that keeps the style and trailing comment of ``old``."""
    if isinstance(value, Mapping):
        if isinstance(old, Table):
            table = tomlkit.table()
            for key, inner in value.items():
                table[key] = inner
            return table
        inline = tomlkit.inline_table()
        inline.update(value)
        if isinstance(old, InlineTable) and old.trivia.comment:
            inline.comment(old.trivia.comment.lstrip("# ").rstrip())
        return inline
    if isinstance(value, Path):
        return str(value)
    return value


def _plain(value: Any) -> Any:
    """tomlkit containers -> plain dicts, lists and scalars."""
    if hasattr(value, "unwrap"):
        return value.unwrap()
    return value


def _line_of(text: str, key: Iterable[str]) -> int | None:
    """1-based line of ``key`` (table path + key) in TOML text; a best effort for messages."""
    parts = list(key)
    for depth in range(len(parts) - 1, 0, -1):
        table, name = parts[:depth], parts[depth]
        header = "[" + ".".join(table) + "]"
        current = None
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if line.startswith("["):
                current = line.split("#")[0].strip()
                continue
            if current == header and re.match(rf'^["\']?{re.escape(name)}["\']?\s*=', line):
                return number
    return None
