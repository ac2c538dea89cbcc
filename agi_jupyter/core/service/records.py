"""The service's records on disk, typed: heartbeats, tasks, results and the health snapshot.

Each file the service writes is one of these models; each one it reads goes through them, so a
malformed file is an error naming the file and the field, never a ``KeyError`` three calls later.
The wire format (schema names and keys) is the one monitors and other processes already read:
``schema`` is the JSON key (``schema_name`` in Python, where ``schema`` is pydantic's own).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    NonNegativeInt,
    PositiveFloat,
    StrictStr,
    ValidationError,
)

from ..jobs import WorkerSpec
from ..records import FileRecord, field_problems

HEARTBEAT_SCHEMA = "agi.service.heartbeat.v1"
TASK_SCHEMA = "agi.service.task.v1"
RESULT_SCHEMA = "agi.service.result.v1"
HEALTH_SCHEMA = "agi.service.health.v1"


class Record(FileRecord):
    """The engine's file record (:class:`~agi_jupyter.core.records.FileRecord`), except that unknown
    keys are kept: a loop's result carries its own figures, and a newer writer may add fields."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True, strict=True)


class HeartbeatRecord(Record):
    """``heartbeats/<worker>~<incarnation>.json``: one loop says it is alive and what it does."""

    schema_name: StrictStr = Field(HEARTBEAT_SCHEMA, alias="schema")
    worker: StrictStr
    state: StrictStr
    pid: int
    incarnation: StrictStr
    slot: int
    timestamp: FiniteFloat
    timeout: FiniteFloat | None = None
    task: StrictStr | None = None
    task_started: FiniteFloat | None = None
    time_limit: FiniteFloat | None = None


class TaskRecord(Record):
    """``pending/<id>.json`` (and its claims): work items and argument overrides for a loop."""

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True, strict=True)

    schema_name: StrictStr = Field(TASK_SCHEMA, alias="schema")
    id: StrictStr
    label: StrictStr
    items: list[Any]
    params: dict[StrictStr, Any]
    attempts: NonNegativeInt = 0
    submitted: FiniteFloat | None = None
    time_limit: PositiveFloat | None = None


class ClaimedTask(TaskRecord):
    """A task as :meth:`~.queue.TaskQueue.claim` hands it to a loop: the record, and the name of the
    claim in ``running/`` that publishing it needs. ``claim`` is never written: the file is the task."""

    claim: StrictStr = Field(exclude=True)

    def record(self) -> TaskRecord:
        """The task as its file holds it (without the claim)."""
        return TaskRecord.model_validate(self.wire())


class TaskOutcome(Record):
    """What a loop (or a recovery) says about a task it publishes: its figures, each one optional.

    Only the figures given are written, after the result's own keys, in this order; any other
    key is kept too (extra keys of a newer loop).
    """

    worker: StrictStr | None = None
    claimer: StrictStr | None = None
    started: FiniteFloat | None = None
    finished: FiniteFloat | None = None
    seconds: FiniteFloat | None = None
    outputs: list[StrictStr] | None = None
    rows: NonNegativeInt | None = None
    error: StrictStr | None = None
    traceback: StrictStr | None = None

    def figures(self) -> dict[str, Any]:
        """The figures given, as JSON values (what a result file carries besides its own keys)."""
        return self.model_dump(mode="json", exclude_unset=True)


class ResultRecord(Record):
    """``done/``, ``failed/`` or ``duplicates/<id>...json``: what became of a task (or of an entry
    that was not one). The loop's figures (worker, seconds, outputs, rows, error, traceback...)
    ride along as extra keys."""

    schema_name: StrictStr = Field(RESULT_SCHEMA, alias="schema")
    id: StrictStr
    status: Literal["done", "failed", "duplicate"]
    task: TaskRecord | None = None
    error: StrictStr | None = None

    @classmethod
    def of(cls, task_id: str, status: str, task: TaskRecord | None, outcome: TaskOutcome, **more: Any) -> ResultRecord:
        """The result of ``task`` (``status``) with the outcome's figures, then ``more`` keys."""
        return cls.model_validate(
            {"schema": RESULT_SCHEMA, "id": task_id, "status": status, "task": task, **outcome.figures(), **more}
        )


class WorkerHealth(Record):
    """One row of the health table: a loop's verdict and what it works on."""

    worker: StrictStr
    healthy: bool
    reason: StrictStr
    future_state: StrictStr | None
    heartbeat_state: StrictStr | None
    heartbeat_age_sec: float | None
    task: StrictStr | None = None
    task_seconds: float | None = None


class QueueCounts(Record):
    pending: NonNegativeInt = 0
    running: NonNegativeInt = 0
    done: NonNegativeInt = 0
    failed: NonNegativeInt = 0


class HealthSnapshot(Record):
    """``service/<target>/health.json`` (schema ``agi.service.health.v1``): what monitors read."""

    schema_name: StrictStr = Field(HEALTH_SCHEMA, alias="schema")
    timestamp: float
    app: StrictStr
    target: StrictStr
    status: StrictStr
    workers_running: list[StrictStr]
    workers_pending: list[StrictStr]
    workers_restarted: list[StrictStr]
    workers_healthy: list[StrictStr]
    workers_unhealthy: list[StrictStr]
    workers_running_count: NonNegativeInt
    workers_pending_count: NonNegativeInt
    workers_restarted_count: NonNegativeInt
    workers_healthy_count: NonNegativeInt
    workers_unhealthy_count: NonNegativeInt
    queue: QueueCounts
    client_status: StrictStr | None = None
    heartbeat_timeout_sec: float | None = None
    queue_dir: StrictStr | None = None
    cleanup: dict[StrictStr, int] = Field(default_factory=dict)
    restart_reasons: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    worker_health: list[WorkerHealth] = Field(default_factory=list)
    path: StrictStr | None = None


class LoopConfig(BaseModel):
    """What a service loop is started with, besides its worker spec and slot (pickled to its Dask
    worker): where the queue is, who it is, the Dask events it watches, and its time limits."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    queue_dir: StrictStr
    incarnation: StrictStr
    stop_event: StrictStr
    wake_event: StrictStr
    heartbeat_timeout: PositiveFloat
    task_timeout: PositiveFloat | None = None


class LoopSummary(BaseModel):
    """What a loop returns when it stops (its Dask future's result): how many tasks it served."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    worker: StrictStr
    incarnation: StrictStr
    done: NonNegativeInt
    failed: NonNegativeInt


class LoopEntry(BaseModel):
    """One loop in the service's record on the scheduler."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    slot: NonNegativeInt
    worker: StrictStr
    incarnation: StrictStr
    key: StrictStr
    started: float


class ServiceEntry(BaseModel):
    """The service's record in the scheduler's metadata (``["agi-service", <target>]``): what another
    process on the scheduler needs to adopt, show and stop the loops. Stored as its :meth:`wire`
    form (plain values: the scheduler may not have agi_jupyter installed)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    workers: dict[StrictStr, int]
    spec: WorkerSpec
    timeout: float
    slot_count: int
    task_timeout: float | None = None
    loops: list[LoopEntry] = Field(default_factory=list)

    def wire(self) -> dict[str, Any]:
        """The record as plain values, as the scheduler keeps it."""
        return self.model_dump(mode="json")


class StoppedSnapshot(HealthSnapshot):
    """The snapshot STOP writes and answers: which loops it stopped, which tasks still ran then."""

    stopped: list[StrictStr]
    still_running: list[StrictStr]


class UnseenSnapshot(HealthSnapshot):
    """What a process that cannot reach the running service answers: the recorded snapshot, re-judged
    by the heartbeats, with status ``unknown`` and the status it recorded."""

    recorded_status: StrictStr


RecordT = TypeVar("RecordT", bound="Record")


def read_record(model: type[RecordT], path: Path) -> RecordT:
    """Read ``path`` as ``model``; ``ValueError`` names the file and every bad field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"{path}: not a readable {model.__name__} ({error})") from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ValueError(f"{path}: not a valid {model.__name__}: {field_problems(error)}") from None
