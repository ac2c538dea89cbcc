"""CHECK DISTRIBUTE: build the work plan, save it with what it was built from, reuse or rebuild.

The saved file (``distribution.json``, schema ``agi.distribution.v1``) holds the plan and its
inputs: the arguments, the workers, a fingerprint of the planner's code and of the input files.
A run dispatches exactly the saved plan (including chunks moved in the Workplan editor) while
those inputs are unchanged; otherwise it builds a fresh plan and says why.

The file is read and written through :class:`DistributionRecord`, so a malformed file is a
PlanError naming the file and the field (``plan.slots.0.1.weight``); a run then builds a fresh
plan and says why, and a Workplan edit refuses to touch it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, FiniteFloat, NonNegativeInt, ValidationError

from .env import AgiEnv
from .errors import PlanError
from .logs import moment
from .plan import Chunk, WorkPlan
from .records import FileRecord, field_problems, read_record, write_record

logger = logging.getLogger(__name__)

DISTRIBUTION_SCHEMA = "agi.distribution.v1"
REBUILD_HINT = "run CHECK DISTRIBUTE (AGI.get_distrib) to build a new plan"


class SavedChunk(FileRecord):
    """One chunk of the saved plan: label, weight (for balancing and the chart), work items."""

    label: str
    weight: FiniteFloat
    items: list[Any]


class SavedPlan(FileRecord):
    """The work plan as saved (schema ``agi.plan.v1``): one list of chunks per worker slot."""

    schema_name: Literal["agi.plan.v1"] = Field("agi.plan.v1", alias="schema")
    partition_key: str
    weights_key: str
    weights_unit: str
    dag: dict[str, list[str]] | None = None
    slots: list[list[SavedChunk]]

    @classmethod
    def of(cls, plan: WorkPlan) -> SavedPlan:
        """The saved form of ``plan`` (PlanError if an item is not JSON).

        Validated from the plan's JSON text: for a plan of 100,000 items that is a third of the
        time of validating its Python objects, and the text is made anyway to check the items.
        """
        return cls.model_validate_json(plan.to_json(), strict=False)

    def to_plan(self) -> WorkPlan:
        """The plan, built from the validated chunks (not from a dump of them: a tenth of the time on big plans)."""
        slots = [[Chunk(chunk.label, chunk.weight, list(chunk.items)) for chunk in chunks] for chunks in self.slots]
        dag = None if self.dag is None else {step: list(deps) for step, deps in self.dag.items()}
        return WorkPlan(slots, self.partition_key, self.weights_key, self.weights_unit, dag)


class PlanFingerprint(FileRecord):
    """Digests of what the plan was built from: the planner's code and the input files."""

    planner: str
    inputs: str


class DistributionRecord(FileRecord):
    """``distribution.json``: the plan, the arguments and workers it was built for, and its fingerprint."""

    schema_name: Literal["agi.distribution.v1"] = Field("agi.distribution.v1", alias="schema")
    built: str
    edited: bool = False  # moved in the Workplan editor
    args: dict[str, Any]
    workers: dict[str, NonNegativeInt]
    fingerprint: PlanFingerprint
    plan: SavedPlan


@dataclass
class Distribution:
    """A plan and the inputs it was built from."""

    plan: WorkPlan
    args: dict[str, Any]
    workers: dict[str, int]
    planner: str
    inputs: str
    built: str
    edited: bool = False
    reason: str = ""  # why this plan was (re)built, or "saved plan reused"

    def record(self) -> DistributionRecord:
        """What is saved of this distribution (everything but ``reason``)."""
        return DistributionRecord(
            built=self.built,
            edited=self.edited,
            args=self.args,
            workers=self.workers,
            fingerprint=PlanFingerprint(planner=self.planner, inputs=self.inputs),
            plan=SavedPlan.of(self.plan),
        )

    @classmethod
    def of(cls, record: DistributionRecord) -> Distribution:
        return cls(
            plan=record.plan.to_plan(),
            args=dict(record.args),
            workers=dict(record.workers),
            planner=record.fingerprint.planner,
            inputs=record.fingerprint.inputs,
            built=record.built,
            edited=record.edited,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.record().wire()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Distribution:
        """A distribution from its JSON object; PlanError naming the field if it does not fit."""
        try:
            return cls.of(DistributionRecord.model_validate(data, strict=False))
        except ValidationError as error:
            raise PlanError(f"malformed distribution ({field_problems(error)})") from None


def planner_fingerprint(env: AgiEnv) -> str:
    """Digest of the manager package's code: a changed planner invalidates saved plans."""
    digest = hashlib.sha256()
    for path in sorted((env.src_path / env.target).rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def inputs_fingerprint(env: AgiEnv, args: BaseModel) -> str:
    """Digest of the input files' names, sizes and times under ``data_in`` (empty when none)."""
    data_in = getattr(args, "data_in", None)
    digest = hashlib.sha256()
    if data_in:
        folder = env.data_path(data_in)
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    stat = path.stat()
                    digest.update(f"{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def build(env: AgiEnv, args: BaseModel, workers: dict[str, int], reason: str = "built") -> Distribution:
    """Run the app's planner, and save the result."""
    manager = env.manager_class()(args, env)
    try:
        plan = manager.distribution(workers)
    except PlanError:
        raise
    except Exception as error:  # the app's planner failed: name it and its file
        raise PlanError(
            f"{env.target_class}.build_distribution ({env.manager_path}) failed: {type(error).__name__}: {error}"
        ) from error
    distribution = Distribution(
        plan=plan,
        args=args.model_dump(mode="json"),
        workers=dict(workers),
        planner=planner_fingerprint(env),
        inputs=inputs_fingerprint(env, args),
        built=moment(),
        reason=reason,
    )
    save(env, distribution)
    return distribution


def save(env: AgiEnv, distribution: Distribution) -> Path:
    write_record(env.plan_path, distribution.record(), indent=1)
    return env.plan_path


def read(env: AgiEnv) -> Distribution | None:
    """The saved distribution, None when there is none; PlanError naming the file and field if malformed."""
    record = read_record(env.plan_path, DistributionRecord, PlanError, REBUILD_HINT)
    return None if record is None else Distribution.of(record)


def load(env: AgiEnv) -> Distribution | None:
    """The saved distribution, or None when there is none or it is malformed (logged with the field).

    For callers that only show the saved plan; running and editing use :func:`read`.
    """
    try:
        return read(env)
    except PlanError as error:
        logger.warning("ignoring the saved distribution: %s", error)
        return None


def stale_reason(env: AgiEnv, saved: Distribution, args: BaseModel, workers: dict[str, int]) -> str:
    """Why ``saved`` cannot be reused for these inputs ("" when it can)."""
    current = args.model_dump(mode="json")
    if saved.args != current:
        changed = sorted(k for k in set(saved.args) | set(current) if saved.args.get(k) != current.get(k))
        return "arguments changed: " + ", ".join(f"{k} {saved.args.get(k)!r} -> {current.get(k)!r}" for k in changed)
    if saved.workers != dict(workers):
        return f"workers changed: {saved.workers} -> {dict(workers)}"
    if saved.planner != planner_fingerprint(env):
        return "the app's planner code changed"
    if saved.inputs != inputs_fingerprint(env, args):
        return "the input files changed"
    return ""


def reuse_or_build(env: AgiEnv, args: BaseModel, workers: dict[str, int]) -> Distribution:
    """The saved plan when still valid (``reason`` says so), else a fresh one (``reason`` says why)."""
    try:
        saved = read(env)
    except PlanError as error:  # a malformed file is replaced, and the reason names what was wrong
        return build(env, args, workers, f"saved plan unreadable, built a new one ({error})")
    if saved is None:
        return build(env, args, workers, "no saved plan: built a new one")
    reason = stale_reason(env, saved, args, workers)
    if reason:
        return build(env, args, workers, f"saved plan replaced ({reason})")
    saved.reason = "saved plan reused" + (" (edited in the Workplan editor)" if saved.edited else "")
    return saved


def empty_plan_warning(env: AgiEnv, args: BaseModel, chunks: int) -> str:
    """A warning line for a plan of no chunk ("" otherwise), naming ``data_in`` when missing or empty.

    Such a plan runs "successfully" and writes nothing, so a typo in ``data_in`` went unnoticed.
    """
    if chunks:
        return ""
    data_in = getattr(args, "data_in", None)
    if not data_in:
        return "warning: the plan has 0 chunks: the run will do nothing; check the app's arguments"
    folder = env.data_path(data_in)
    if not folder.is_dir():
        why = f"data_in {folder} does not exist"
    elif not any(folder.iterdir()):
        why = f"data_in {folder} is empty"
    else:
        why = f"the planner found nothing to do in data_in {folder}"
    return f"warning: the plan has 0 chunks: {why}; the run will write nothing"


def reassign(env: AgiEnv, moves: list[tuple[int, int, int]], built: str | None = None) -> Distribution:
    """Apply ``(from_slot, chunk_index, to_slot)`` moves, in order, to the saved plan and save it as edited.

    ``built`` is the stamp of the plan the moves were chosen on (the Workplan editor passes it): if
    the saved plan was rebuilt since, nothing is moved and the error says so.
    """
    saved = read(env)
    if saved is None:
        raise PlanError(f"no saved plan for {env.app}: run CHECK DISTRIBUTE (AGI.get_distrib) first")
    if built is not None and saved.built != built:
        raise PlanError(
            f"the saved plan was rebuilt ({saved.built}) since the one edited here ({built}): "
            "nothing was moved; CHECK DISTRIBUTE and edit again"
        )
    for from_slot, chunk_index, to_slot in moves:
        saved.plan = saved.plan.move(from_slot, chunk_index, to_slot)
    saved.edited = True
    saved.reason = (
        "; ".join(f"chunk {index} of slot {source} moved to slot {target}" for source, index, target in moves)
        or "saved unchanged"
    )
    save(env, saved)
    return saved
