"""What the engine started, on disk: one launch record per scheduler address.

A record lists the scheduler and worker processes the engine started for that scheduler (host,
pid, the name that identifies the process, when, by which app). It is how a later kernel or the
command line adopts them, and how ``cluster stop`` stops exactly these and never a process it
did not start: a pid is only signalled after the process behind it still shows the recorded
name on its command line.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeInt, PositiveInt, StrictStr

from ..env import root_path
from ..errors import ClusterError
from ..records import FileRecord, read_record, write_record

CLUSTER_SCHEMA = "agi.cluster.v1"
Role = Literal["scheduler", "worker"]


class Launched(FileRecord):
    """One process the engine started: a ``dask scheduler`` or a ``dask worker`` (its nanny)."""

    role: Role
    host: StrictStr
    pid: PositiveInt
    name: StrictStr
    """What identifies the process on its command line: the worker's ``host#slot`` name, or
    the scheduler's ``--port``; checked before any signal so a reused pid is never hit."""
    app: StrictStr
    started: float
    via: Literal["local", "ssh"]
    log: StrictStr
    slot: NonNegativeInt | None = None


class LaunchRecord(FileRecord):
    """``${AGI_CLUSTER_DIR}/<host>_<port>.json``: everything started for one scheduler."""

    schema_name: StrictStr = Field(CLUSTER_SCHEMA, alias="schema")
    scheduler: StrictStr
    processes: tuple[Launched, ...] = ()

    def of(self, role: Role, host: str | None = None) -> list[Launched]:
        return [p for p in self.processes if p.role == role and (host is None or p.host == host)]

    def adding(self, *launched: Launched) -> LaunchRecord:
        return self.model_copy(update={"processes": (*self.processes, *launched)})

    def without(self, gone: list[Launched]) -> LaunchRecord:
        keys = {(p.host, p.pid) for p in gone}
        return self.model_copy(update={"processes": tuple(p for p in self.processes if (p.host, p.pid) not in keys)})


def cluster_dir() -> Path:
    """``${AGI_CLUSTER_DIR}`` (default ``~/.agilab/cluster``): launch records and process logs."""
    return root_path("AGI_CLUSTER_DIR")


def record_path(address: str) -> Path:
    """The launch record file of a ``tcp://host:port`` scheduler address."""
    text = address.removeprefix("tcp://").replace("[", "").replace("]", "").replace(":", "_")
    return cluster_dir() / f"{text}.json"


def read_launches(address: str) -> LaunchRecord:
    """The launch record of ``address`` (empty when the engine started nothing for it)."""
    found = read_record(
        record_path(address), LaunchRecord, ClusterError, "delete it after stopping its processes by hand"
    )
    return found or LaunchRecord(scheduler=address)


def write_launches(record: LaunchRecord) -> None:
    path = record_path(record.scheduler)
    if record.processes:
        write_record(path, record, indent=2)
    else:
        path.unlink(missing_ok=True)


def launch_lock(address: str) -> object:
    """A cross-process lock per scheduler, so two kernels never start the same workers twice."""
    from filelock import FileLock

    path = record_path(address).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=600)


def now() -> float:
    return time.time()
