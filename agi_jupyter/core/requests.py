"""Plain request objects: what an action will do, before it does it.

A widget button builds one of these, the snippet module renders it as code, and the engine
executes that same object: the button and its snippet cannot drift apart. Fields left as
``None`` mean "take it from the app's settings".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from .modes import Mode
from .settings import check_workers, split_address


class Request(BaseModel):
    """Common fields: where to run. ``None`` -> ``[cluster]`` in app_settings.toml."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, validate_assignment=True)

    scheduler: str | None = Field(None, description="Dask scheduler address host[:port]")
    workers: dict[str, int] | None = Field(None, description="host -> worker slots")
    verbose: int | None = Field(None, ge=0, le=3)

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, value: str | None) -> str | None:
        if value:
            try:
                split_address(value)
            except ValueError as error:
                raise ValueError(f"scheduler {error}") from None
        return value or None

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is not None:
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
    pool: Literal["process", "thread"] = Field("process", description="kind of pool for the pool bit")
    pool_width: int | None = Field(None, ge=1, le=512, description="pool size; None -> CPU count")

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
