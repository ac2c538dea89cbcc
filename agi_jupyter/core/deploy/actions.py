"""``AGI.cluster``: START, STATUS and STOP of the cluster the engine starts itself, as one report."""

from __future__ import annotations

import logging
import time

from pydantic import Field, StrictStr

from ..env import AgiEnv
from ..errors import ClusterError
from ..logs import LineCallback
from ..records import FileRecord
from ..requests import ClusterRequest
from ..settings import AppSettings
from .control import Target, ensure, probe, status, stop

logger = logging.getLogger(__name__)


class ProcessRow(FileRecord):
    """One process the engine started, as STATUS shows it."""

    role: StrictStr
    host: StrictStr
    name: StrictStr
    pid: int
    running: bool
    app: StrictStr
    started: float
    log: StrictStr


class ClusterReport(FileRecord):
    """What a cluster action found or did: the scheduler, whether it answers, the engine's processes."""

    schema_name: StrictStr = Field("agi.cluster.report.v1", alias="schema")
    action: StrictStr
    scheduler: StrictStr
    answers: bool
    processes: tuple[ProcessRow, ...] = ()
    stopped: tuple[StrictStr, ...] = ()
    seconds: float = 0.0


def cluster_action(env: AgiEnv, request: ClusterRequest, on_line: LineCallback | None = None) -> ClusterReport:
    """Run one cluster action for ``env``'s app; the scheduler and workers come from the request or settings."""
    from ..cluster import START_TIMEOUT, connect_scheduler
    from ..install import declared_dependencies

    say = on_line or (lambda line: None)
    started = time.perf_counter()
    settings = AppSettings.load(env.settings_path).cluster
    scheduler = request.scheduler or settings.scheduler
    if not scheduler:
        raise ClusterError(
            f"cluster {request.action} needs a scheduler address: set [cluster] scheduler in {env.settings_path} "
            "(e.g. 127.0.0.1:8786) or give scheduler=..."
        )
    target = Target(scheduler, dict(request.workers or settings.workers), env.app, settings, declared_dependencies(env))
    stopped: list[str] = []
    if request.action == "start":
        ensure(target, say, lambda address: connect_scheduler(address, START_TIMEOUT))
    elif request.action == "stop":
        stopped = [f"{p.role} {p.name}@{p.host} (pid {p.pid})" for p in stop(target.address, settings, say)]
    rows = tuple(
        ProcessRow(
            role=state.launched.role,
            host=state.launched.host,
            name=state.launched.name,
            pid=state.launched.pid,
            running=state.running,
            app=state.launched.app,
            started=state.launched.started,
            log=state.launched.log,
        )
        for state in status(target.address, settings)
    )
    return ClusterReport(
        action=request.action,
        scheduler=target.address,
        answers=probe(target.host, target.port, timeout=1.0) == "dask",
        processes=rows,
        stopped=tuple(stopped),
        seconds=round(time.perf_counter() - started, 3),
    )
