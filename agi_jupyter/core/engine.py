"""``AGI``: the public engine API a notebook cell awaits and every widget button calls.

Each method takes a request object (or the same fields as keywords), does its blocking work in
a worker thread so the kernel stays responsive, and streams log lines to ``on_line``. Fields
left out come from the app's ``app_settings.toml``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from .env import AgiEnv
from .errors import AgiError
from .requests import (
    ClusterRequest,
    DistribRequest,
    InstallRequest,
    Request,
    RunRequest,
    ServeRequest,
    SubmitRequest,
)

if TYPE_CHECKING:  # the signatures' types; the modules that do the work load when a method runs (rule 7)
    from .cluster import ClusterHandle
    from .deploy.actions import ClusterReport
    from .distrib import Distribution
    from .install import InstallRecord
    from .logs import LineCallback
    from .modes import Mode
    from .run import Progress, RunControl, RunResult

logger = logging.getLogger(__name__)

RequestType = TypeVar("RequestType", bound=Request)
Value = TypeVar("Value")


async def _in_thread(function: Callable[..., Value], *args: Any) -> Value:
    """``function(*args)`` in a worker thread, awaited: the kernel's event loop stays free (rule 3)."""
    import asyncio  # a kernel has it already; a plain ``import agi_jupyter`` need not pay for it

    return await asyncio.to_thread(function, *args)


def make_request(kind: type[RequestType], request: RequestType | None, fields: dict[str, Any]) -> RequestType:
    """The request object from either an instance or keyword fields; bad fields -> AgiError."""
    if request is not None:
        if fields:
            raise AgiError(f"give either a {kind.__name__} or keyword fields, not both ({', '.join(fields)})")
        if not isinstance(request, kind):
            raise AgiError(f"expected a {kind.__name__}, got {type(request).__name__}")
        return request
    known = set(kind.model_fields)
    if "params" in known:
        extra = {k: v for k, v in fields.items() if k not in known}
        fields = {k: v for k, v in fields.items() if k in known}
        fields["params"] = {**fields.get("params", {}), **extra}
    try:
        return kind(**fields)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise AgiError(f"invalid {kind.__name__}: {problems}") from None


def cluster_for(env: AgiEnv, request: Request, on_line: LineCallback | None) -> Callable[[], ClusterHandle]:
    """A function returning the Dask client handle for this request (resolved only when needed)."""

    def select() -> ClusterHandle:
        from .cluster import client_for

        return client_for(env, request, on_line)

    return select


class AGI:
    """The engine: install, get_distrib, run (one mode or a benchmark), and reassign."""

    @staticmethod
    async def install(
        env: AgiEnv, request: InstallRequest | None = None, *, on_line: LineCallback | None = None, **fields: Any
    ) -> InstallRecord:
        """Provision the worker environment (see :mod:`agi_jupyter.core.install`)."""
        from .install import install

        request = make_request(InstallRequest, request, fields)
        return await _in_thread(install, env, request, on_line, cluster_for(env, request, on_line))

    @staticmethod
    async def get_distrib(
        env: AgiEnv, request: DistribRequest | None = None, *, on_line: LineCallback | None = None, **fields: Any
    ) -> Distribution:
        """Build the work plan (or reuse the saved one while its inputs are unchanged) and save it."""
        request = make_request(DistribRequest, request, fields)
        return await _in_thread(_distribute, env, request, on_line)

    @staticmethod
    async def reassign(
        env: AgiEnv,
        from_slot: int | None = None,
        chunk_index: int | None = None,
        to_slot: int | None = None,
        *,
        moves: list[tuple[int, int, int]] | None = None,
        built: str | None = None,
    ) -> Distribution:
        """Move chunks of the saved plan to other worker slots and save the edited plan.

        One move as ``(from_slot, chunk_index, to_slot)``, or several as ``moves=[...]`` applied in order.
        ``built`` (the plan's stamp) refuses the moves when the saved plan was rebuilt meanwhile.
        """
        if moves is None:
            if from_slot is None or chunk_index is None or to_slot is None:
                raise AgiError("reassign needs from_slot, chunk_index and to_slot, or moves=[...]")
            moves = [(from_slot, chunk_index, to_slot)]
        # each move as a tuple (a notebook may pass lists); a move of the wrong length fails to unpack here
        triples = [(source, index, target) for source, index, target in moves]
        from .distrib import reassign

        return await _in_thread(reassign, env, triples, built)

    @staticmethod
    async def run(
        env: AgiEnv,
        request: RunRequest | None = None,
        *,
        on_line: LineCallback | None = None,
        on_progress: Progress | None = None,
        control: RunControl | None = None,
        **fields: Any,
    ) -> RunResult | dict[str, Any]:
        """Run one mode (a RunResult) or, with ``benchmark=True``, every allowed mode (the table)."""
        request = make_request(RunRequest, request, fields)
        return await _in_thread(_run, env, request, on_line, on_progress, control)

    @staticmethod
    async def serve(
        env: AgiEnv, request: ServeRequest | str | None = None, *, on_line: LineCallback | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Service mode: ``action="start" | "status" | "health" | "stop"``; returns the health snapshot."""
        from .service import serve

        if isinstance(request, str):  # AGI.serve(env, "start")
            request, fields = None, {**fields, "action": request}
        request = make_request(ServeRequest, request, fields)
        return await _in_thread(serve, env, request, on_line)

    @staticmethod
    async def submit(
        env: AgiEnv, request: SubmitRequest | None = None, *, on_line: LineCallback | None = None, **fields: Any
    ) -> list[str]:
        """Queue work for the service loops (one task per plan chunk, or ``items=[...]``); task ids."""
        from .service import submit

        request = make_request(SubmitRequest, request, fields)
        return await _in_thread(submit, env, request, on_line)

    @staticmethod
    async def cluster(
        env: AgiEnv, request: ClusterRequest | str | None = None, *, on_line: LineCallback | None = None, **fields: Any
    ) -> ClusterReport:
        """The cluster the engine starts itself: ``action="start" | "status" | "stop"`` (see :mod:`.deploy`)."""
        from .deploy.actions import cluster_action

        if isinstance(request, str):  # AGI.cluster(env, "start")
            request, fields = None, {**fields, "action": request}
        request = make_request(ClusterRequest, request, fields)
        return await _in_thread(cluster_action, env, request, on_line)

    @staticmethod
    def close() -> bool:
        """Close the local Dask cluster the engine started (and any the ``[cluster] factory`` made), if any.

        Schedulers and workers started detached (``AGI.cluster``) are not closed here: they outlive
        the kernel on purpose; ``AGI.cluster(env, "stop")`` stops them.
        """
        from .cluster import close_local_cluster
        from .deploy.factory import close_factory_clusters

        return bool(close_factory_clusters()) | close_local_cluster()


def _distribute(env: AgiEnv, request: DistribRequest, on_line: LineCallback | None) -> Distribution:
    from .args import load_args
    from .distrib import empty_plan_warning, reuse_or_build
    from .settings import AppSettings

    settings = AppSettings.load(env.settings_path)
    args = load_args(env, request.params)
    distribution = reuse_or_build(env, args, request.workers or settings.cluster.workers)
    if on_line:
        on_line(
            f"CHECK DISTRIBUTE {env.app}: {distribution.reason}; {distribution.plan.chunk_count} chunks, "
            f"loads {[round(load, 1) for load in distribution.plan.loads]} {distribution.plan.weights_unit}"
        )
        warning = empty_plan_warning(env, args, distribution.plan.chunk_count)
        if warning:
            on_line(warning)
    return distribution


def _run(
    env: AgiEnv,
    request: RunRequest,
    on_line: LineCallback | None,
    on_progress: Progress | None,
    control: RunControl | None,
) -> RunResult | dict[str, Any]:
    from .benchmark import allowed_modes, benchmark, record_table, row_of
    from .run import run_mode
    from .settings import AppSettings

    cluster = cluster_for(env, request, on_line)
    handle: list[Any] = []

    def shared_cluster() -> Any:  # one client for every mode of a benchmark
        if not handle:
            handle.append(cluster())
        return handle[0]

    def run_one(mode: Mode) -> RunResult:
        return run_mode(
            env, mode, request, on_line=on_line, on_progress=on_progress, control=control, cluster=shared_cluster
        )

    if request.benchmark or request.modes:
        modes = request.modes or allowed_modes(env)
        table = benchmark(env, modes, run_one, on_line, cancelled=lambda: control is not None and control.cancelled)
        return table.wire()  # the notebook's result: the table as benchmark.json holds it
    mode = request.mode if request.mode is not None else AppSettings.load(env.settings_path).cluster.mode
    result = run_one(mode)
    record_table(env, [row_of(result, single_run=True)])
    return result
