"""Plain request objects: what an action will do, before it does it.

A widget button builds one of these, the snippet module renders it as code, and the engine
executes that same object: the button and its snippet cannot drift apart. Fields left as
``None`` mean "take it from the app's settings"; :func:`resolve` fills them in from the
settings, so the rendered request says what runs instead of where it will be looked up.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from .modes import Mode

if TYPE_CHECKING:
    from .env import AgiEnv
    from .settings import ClusterSettings

logger = logging.getLogger(__name__)


class Request(BaseModel):
    """Common fields: where to run. ``None`` -> ``[cluster]`` in app_settings.toml."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_assignment=True, defer_build=True)

    scheduler: str | None = Field(None, description="Dask scheduler address host[:port]")
    workers: dict[str, int] | None = Field(None, description="host -> worker slots")
    verbose: int | None = Field(None, ge=0, le=3)

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value: str | None) -> str | None:
        if value:
            from .settings import split_address  # tomlkit and the settings models load when first needed

            try:
                split_address(value)
            except ValueError as error:
                raise ValueError(f"scheduler {error}") from None
        return value or None

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is not None:
            from .settings import check_workers

            check_workers(value)
        return value


def _mode(value: Any) -> Mode | None:
    return None if value is None else Mode.parse(value)


class InstallRequest(Request):
    """Provision the worker environment for the modes in ``modes_enabled``."""

    modes_enabled: Mode | None = Field(None, description="bits to prepare for; None -> settings toggles")
    isolated: bool = Field(False, description="do not let the worker env see the kernel's packages")
    force: bool = Field(False, description="rebuild even when nothing changed")

    _mode_in = field_validator("modes_enabled", mode="before")(lambda cls, v: _mode(v))

    @field_serializer("modes_enabled")
    def _mode_out(self, value: Mode | None) -> int | None:
        return None if value is None else int(value)


class DistribRequest(Request):
    """Build (and save) the work plan for the configured workers."""

    params: dict[str, Any] = Field(default_factory=dict, description="argument overrides for this plan")


class RunRequest(Request):
    """Run the plan in one mode, or benchmark several.

    ``mode=None`` uses the settings' toggles. ``benchmark=True`` runs every mode the settings
    allow (or the explicit ``modes``) on the same plan and writes benchmark.json.
    """

    mode: Mode | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="argument overrides for this run")
    benchmark: bool = False
    modes: list[Mode] | None = Field(None, description="modes to benchmark; None -> all the settings allow")
    pool: Literal["process", "thread"] | None = Field(
        None, description="kind of pool for the pool bit; None -> [cluster] pool_executor"
    )
    pool_width: int | None = Field(
        None, ge=1, le=512, description="pool size; None -> [cluster] pool_width, else the CPU count"
    )
    item_timeout: float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 3600,
        description="seconds one work item may run before its chunk fails; None -> [cluster] item_timeout, "
        "else no limit",
    )

    _mode_in = field_validator("mode", mode="before")(lambda cls, v: _mode(v))

    @field_validator("modes", mode="before")
    @classmethod
    def _modes_in(cls, value: Any) -> list[Mode] | None:
        return None if value is None else [Mode.parse(item) for item in value]

    @field_serializer("mode")
    def _mode_out(self, value: Mode | None) -> int | None:
        return None if value is None else int(value)

    @field_serializer("modes")
    def _modes_out(self, value: list[Mode] | None) -> list[int] | None:
        return None if value is None else [int(mode) for mode in value]


class ServeRequest(Request):
    """A service action: START, STATUS, HEALTH or STOP of the persistent worker loops.

    The defaults are the service baseline (heartbeat timeout 10 s; done/failed/heartbeat files
    kept 168/336/24 hours, at most 2000/2000/1000 of them).
    """

    action: Literal["start", "status", "health", "stop"] = "status"
    params: dict[str, Any] = Field(default_factory=dict, description="argument overrides for the loops' workers")
    heartbeat_timeout: float = Field(10.0, gt=0, le=3600, description="seconds without a heartbeat = unhealthy")
    done_ttl_hours: float = Field(168.0, ge=0)
    failed_ttl_hours: float = Field(336.0, ge=0)
    heartbeat_ttl_hours: float = Field(24.0, ge=0)
    done_max_files: int = Field(2000, ge=0)
    failed_max_files: int = Field(2000, ge=0)
    heartbeat_max_files: int = Field(1000, ge=0)
    max_attempts: int = Field(3, ge=1, le=100, description="claims lost to dead loops before a task fails")
    health_output_path: str | None = Field(None, description="health.json elsewhere (relative: under the share dir)")
    stop_timeout: float = Field(10.0, gt=0, le=600, description="seconds STOP waits for the tasks in hand to end")
    task_timeout: float = Field(
        3600.0,
        gt=0,
        le=7 * 24 * 3600,
        description="seconds a task may run before it fails with task-timeout (unless "
        "the task sets its own time_limit)",
    )
    close_cluster: bool = Field(False, description="on STOP, also close a cluster the engine started")


class SubmitRequest(Request):
    """Queue work for the service: explicit work items, or the plan's chunks for ``params``."""

    items: list[Any] | None = Field(None, description="work items of one task; None -> one task per plan chunk")
    params: dict[str, Any] = Field(default_factory=dict, description="argument overrides for these tasks")
    label: str = ""
    time_limit: float | None = Field(
        None, gt=0, le=7 * 24 * 3600, description="seconds these tasks may run; None -> the service's task_timeout"
    )


class ClusterRequest(Request):
    """START, STATUS or STOP of the scheduler and workers the engine starts itself.

    START starts what the scheduler address and the worker hosts need (setting remote hosts up
    over SSH); STATUS lists what the engine started and whether each process runs; STOP stops
    exactly those processes, never ones the engine did not start.
    """

    action: Literal["start", "status", "stop"] = "status"


# ----- the effective request -------------------------------------------------------------------
AnyRequest = TypeVar("AnyRequest", bound=Request)


def resolve(env: AgiEnv, request: AnyRequest) -> AnyRequest:
    """``request`` with what it would read from the app's settings at run time filled in.

    A copy of the same class whose rendering says what runs: the worker hosts; the scheduler
    (see below); for :class:`InstallRequest` the ``modes_enabled`` of the toggles; for
    :class:`RunRequest` the mode (a benchmark: the modes the settings allow), the pool's
    executor and width when a mode has the pool bit, and the per-item timeout; and for requests
    with ``params`` every argument whose effective value (``[args]`` then ``params``) differs
    from the args model's default, plus every key ``params`` names. Executed now, the copy does
    exactly what ``request`` would; executed later, it no longer follows the settings.

    The scheduler is filled in only when naming it does not change which cluster is used: a
    scheduler in the request is *required* and always started when nothing answers, while one
    that only comes from the settings may fall back to a local cluster (a loopback address with
    ``launch = false``) or give way to the ``[cluster] factory``. In those cases, and when the
    settings name no scheduler, it stays ``None``.

    Arguments whose saved values do not validate are left as given (the action reports them
    when it runs); arguments at their default are not rendered, so a value saved for one of them
    later does show through: the snippet's digest marks such a cell stale.
    """
    from .settings import AppSettings

    cluster = AppSettings.load(env.settings_path).cluster
    workers = dict(request.workers or cluster.workers)
    update: dict[str, Any] = {"workers": workers}
    if request.scheduler is None:
        update["scheduler"] = _settings_scheduler(cluster, workers)
    if isinstance(request, InstallRequest) and request.modes_enabled is None:
        update["modes_enabled"] = cluster.mode
    if isinstance(request, RunRequest):
        update.update(_run_fields(env, request, cluster))
    if "params" in type(request).model_fields:
        update["params"] = _effective_params(env, request.params)  # type: ignore[attr-defined]
    return request.model_validate({**_fields(request), **update})


def effective_verbose(env: AgiEnv, requested: int | None, cluster: ClusterSettings | None = None) -> int:
    """The workers' verbosity: the request's, else the one given to ``AgiEnv``, else the
    app's ``[cluster] verbose`` (what the Settings tab edits; read unless ``cluster`` is given)."""
    if requested is not None:
        return requested
    if env.verbose_given:
        return env.verbose
    if cluster is None:
        from .settings import AppSettings

        cluster = AppSettings.load(env.settings_path).cluster
    return cluster.verbose


def _fields(request: Request) -> dict[str, Any]:
    """The request's field values as objects (not dumped: modes stay Modes)."""
    return {name: getattr(request, name) for name in type(request).model_fields}


def _settings_scheduler(cluster: ClusterSettings, workers: dict[str, int]) -> str | None:
    """The settings' scheduler when a request naming it picks the same cluster, else None."""
    from .cluster import is_loopback
    from .settings import split_address

    if not cluster.scheduler or cluster.factory:
        return None
    host, _ = split_address(cluster.scheduler)
    started_anyway = cluster.launch or not is_loopback(host) or not all(is_loopback(name) for name in workers)
    return cluster.scheduler if started_anyway else None


def _run_fields(env: AgiEnv, request: RunRequest, cluster: ClusterSettings) -> dict[str, Any]:
    update: dict[str, Any] = {}
    modes: list[Mode] = []
    if request.benchmark or request.modes:
        if request.modes is None:
            from .benchmark import allowed_modes

            update["modes"] = allowed_modes(env)
        modes = list(update.get("modes", request.modes or []))
    else:
        mode = request.mode if request.mode is not None else cluster.mode
        update["mode"] = mode
        modes = [mode]
    if any(mode & Mode.POOL for mode in modes):
        update["pool"] = request.pool or cluster.pool_executor
        update["pool_width"] = request.pool_width or cluster.pool_width
    update["item_timeout"] = request.item_timeout or cluster.item_timeout
    verbose = effective_verbose(env, request.verbose, cluster)
    if verbose != 1 or request.verbose is not None:  # the usual level is not rendered
        update["verbose"] = verbose
    return update


def _effective_params(env: AgiEnv, params: dict[str, Any]) -> dict[str, Any]:
    from .args import load_args
    from .errors import AgiError

    try:
        args = load_args(env, params)
    except AgiError:
        logger.debug("%s: arguments do not validate; params left as given", env.app, exc_info=True)
        return dict(params)
    dumped = args.model_dump(mode="json")
    effective = {}
    for name, field in type(args).model_fields.items():
        if name in params or field.is_required() or getattr(args, name) != field.get_default(call_default_factory=True):
            effective[name] = dumped[name]
    return effective
