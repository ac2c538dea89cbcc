"""What the engine sends to a worker process: the worker job spec, its slot parts, the local job.

These cross a process boundary: a local run writes a :class:`LocalJob` as one JSON line to the
warm worker process (:mod:`agi_jupyter.core.local`), a Dask run pickles a :class:`DaskSlotSpec`
and each slot's chunks into one task per slot, and the service pickles a :class:`WorkerSpec` to
each loop (and keeps it, as plain values, in its record on the scheduler). The worker process
(:mod:`agi_jupyter.core.runner`) validates what it receives through these models, so a job built
by another version or mangled on the way fails at once with the field named, not with a
``KeyError`` halfway through a run.

The wire format is the one the worker processes already read: the same keys, no ``schema`` (the
job never outlives the two processes that exchange it). Only pydantic is imported here, because
the worker environment imports this module too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from .errors import RunError
from .records import field_problems

logger = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)


class JobModel(BaseModel):
    """Base of the job models: immutable once built, strict types, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class WorkerSource(JobModel):
    """Where the app's worker class lives: enough to import it, and nothing else.

    A full :class:`WorkerSpec` holds these fields too (:meth:`WorkerSpec.source`), so
    :func:`agi_jupyter.core.runner.load_worker_class` takes either.
    """

    model_config = ConfigDict(extra="ignore")

    worker_module: str
    worker_package: str
    worker_class: str
    cython: bool = False
    paths: list[str] = []  # prepended to sys.path: the Cython build, the app's src folder


class WorkerSpec(JobModel):
    """What a worker process needs to build the app's worker (runs and service loops alike).

    ``pool`` is the kind of pool of the pool bit (None: no pool); ``dag`` says the plan is a
    DAG, whose steps wait for the steps they depend on; ``item_timeout`` fails the chunk of a
    work item that runs longer (see :mod:`agi_jupyter.core.runner`). The fields keep the order
    of the keys the spec always had (not a subclass of :class:`WorkerSource`, whose fields
    would come first).
    """

    worker_module: str
    worker_package: str
    worker_class: str
    args_module: str
    args_class: str
    args: dict[str, Any]
    share_dir: str
    verbose: NonNegativeInt
    cython: bool = False
    paths: list[str] = []
    pool: Literal["process", "thread"] | None = None
    pool_width: PositiveInt | None = None
    dag: bool = False
    item_timeout: PositiveFloat | None = None  # seconds one work item may run; None: no limit

    @model_serializer(mode="wrap")
    def _no_timeout_no_key(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Without a timeout the spec keeps exactly the keys it always had (older runners read it)."""
        data = handler(self)
        if isinstance(data, dict) and data.get("item_timeout") is None:
            data.pop("item_timeout", None)
        return data

    def source(self) -> WorkerSource:
        """Where this spec's worker class lives."""
        return WorkerSource(
            worker_module=self.worker_module,
            worker_package=self.worker_package,
            worker_class=self.worker_class,
            cython=self.cython,
            paths=self.paths,
        )

    def with_args(self, overrides: Mapping[str, Any]) -> WorkerSpec:
        """This spec with some argument values replaced (a service task's params)."""
        return self.model_copy(update={"args": {**self.args, **overrides}}) if overrides else self


class DaskSlotSpec(WorkerSpec):
    """A run's spec as its Dask slot tasks get it: plus where to report and what to watch for cancel."""

    topic: str  # the Dask worker-event topic that carries chunk and log events back
    cancel_event: str  # the Dask Event a cancel (or a failing slot) sets; DAG steps derive theirs from it


class ChunkPart(JobModel):
    """One chunk as a slot runs it: its label (which names its outputs) and its work items."""

    label: str
    items: list[Any]


class SlotPart(JobModel):
    """One non-empty worker slot of the plan and its chunks, in the order the slot runs them."""

    slot: NonNegativeInt
    chunks: list[ChunkPart]


class LocalJob(JobModel):
    """One local run as the warm worker process receives it (one JSON line on its stdin).

    ``order`` lists ``(slot, chunk index)`` pairs: every slot runs in the one process, chunks
    interleaved so a DAG step always runs after the steps it needs. ``end_mark`` is the line
    the process writes after the job's output (see :mod:`agi_jupyter.core.runner`).
    """

    spec: WorkerSpec
    slot_count: PositiveInt
    slots: list[SlotPart]
    order: list[tuple[NonNegativeInt, NonNegativeInt]]
    end_mark: str = ""

    @model_validator(mode="after")
    def _order_names_existing_chunks(self) -> LocalJob:
        chunk_counts = {part.slot: len(part.chunks) for part in self.slots}
        for position, (slot, index) in enumerate(self.order):
            if index >= chunk_counts.get(slot, 0):
                raise ValueError(f"order[{position}] is slot {slot}, chunk {index}: the job has no such chunk")
        return self

    def wire(self) -> dict[str, Any]:
        """The JSON object written to the worker process."""
        return self.model_dump(mode="json")


def spec_of(value: WorkerSpec | Mapping[str, Any]) -> WorkerSpec:
    """``value`` as a WorkerSpec; a mapping that does not fit is a RunError naming the field."""
    if isinstance(value, WorkerSpec):
        return value
    return _validated(WorkerSpec, value, "worker job spec")


def dask_spec_of(value: WorkerSpec | Mapping[str, Any]) -> DaskSlotSpec:
    """``value`` as a DaskSlotSpec; one without its topic or cancel event is a RunError naming it."""
    if isinstance(value, DaskSlotSpec):
        return value
    return _validated(DaskSlotSpec, value.model_dump() if isinstance(value, WorkerSpec) else value, "Dask slot spec")


def source_of(value: WorkerSource | WorkerSpec | Mapping[str, Any]) -> WorkerSource:
    """``value`` (a spec, or a mapping with at least the class location) as a WorkerSource."""
    if isinstance(value, WorkerSource):
        return value
    if isinstance(value, WorkerSpec):
        return value.source()
    return _validated(WorkerSource, value, "worker class location")


def chunks_of(values: Sequence[ChunkPart | Mapping[str, Any]]) -> list[ChunkPart]:
    """Chunks as ChunkParts; a mapping that does not fit is a RunError naming the field."""
    return [value if isinstance(value, ChunkPart) else _validated(ChunkPart, value, "chunk") for value in values]


def job_of(value: LocalJob | Mapping[str, Any] | str | bytes) -> LocalJob:
    """A local job from its model, its dict or its JSON line; RunError naming the field otherwise."""
    if isinstance(value, LocalJob):
        return value
    try:
        if isinstance(value, (str, bytes)):
            return LocalJob.model_validate_json(value)
        return LocalJob.model_validate(value, strict=False)
    except ValidationError as error:
        raise RunError(f"malformed local job ({field_problems(error)})") from None


def _validated(model: type[Model], value: Any, what: str) -> Model:
    try:
        return model.model_validate(value, strict=False)
    except ValidationError as error:
        raise RunError(f"malformed {what} ({field_problems(error)})") from None
