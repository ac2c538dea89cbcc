"""CHECK DISTRIBUTE: build the work plan, save it with what it was built from, reuse or rebuild.

The saved file (``distribution.json``, schema ``agi.distribution.v1``) holds the plan and its
inputs: the arguments, the workers, a fingerprint of the planner's code and of the input files.
A run dispatches exactly the saved plan (including chunks moved in the Workplan editor) while
those inputs are unchanged; otherwise it builds a fresh plan and says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from .env import AgiEnv
from .errors import PlanError
from .files import write_json_atomic
from .logs import moment
from .plan import WorkPlan

logger = logging.getLogger(__name__)

DISTRIBUTION_SCHEMA = "agi.distribution.v1"


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

    def to_dict(self) -> dict[str, Any]:
        return {"schema": DISTRIBUTION_SCHEMA, "built": self.built, "edited": self.edited, "args": self.args,
                "workers": self.workers, "fingerprint": {"planner": self.planner, "inputs": self.inputs},
                "plan": self.plan.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Distribution:
        if data.get("schema") != DISTRIBUTION_SCHEMA:
            raise PlanError(f"distribution schema {data.get('schema')!r} is not {DISTRIBUTION_SCHEMA!r}")
        return cls(plan=WorkPlan.from_dict(data["plan"]), args=data["args"], workers=data["workers"],
                   planner=data["fingerprint"]["planner"], inputs=data["fingerprint"]["inputs"],
                   built=data["built"], edited=bool(data.get("edited")))


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
        raise PlanError(f"{env.target_class}.build_distribution ({env.manager_path}) failed: "
                        f"{type(error).__name__}: {error}") from error
    distribution = Distribution(plan=plan, args=args.model_dump(mode="json"), workers=dict(workers),
                                planner=planner_fingerprint(env), inputs=inputs_fingerprint(env, args),
                                built=moment(), reason=reason)
    save(env, distribution)
    return distribution


def save(env: AgiEnv, distribution: Distribution) -> Path:
    path = env.plan_path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, distribution.to_dict(), indent=1)
    return path


def load(env: AgiEnv) -> Distribution | None:
    """The saved distribution, or None when there is none or it cannot be read."""
    try:
        return Distribution.from_dict(json.loads(env.plan_path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, PlanError):
        logger.debug("cannot read the saved distribution %s", env.plan_path, exc_info=True)
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
    saved = load(env)
    if saved is None:
        return build(env, args, workers, "no saved plan: built a new one")
    reason = stale_reason(env, saved, args, workers)
    if reason:
        return build(env, args, workers, f"saved plan replaced ({reason})")
    saved.reason = "saved plan reused" + (" (edited in the Workplan editor)" if saved.edited else "")
    return saved


def reassign(env: AgiEnv, moves: list[tuple[int, int, int]], built: str | None = None) -> Distribution:
    """Apply ``(from_slot, chunk_index, to_slot)`` moves, in order, to the saved plan and save it as edited.

    ``built`` is the stamp of the plan the moves were chosen on (the Workplan editor passes it): if
    the saved plan was rebuilt since, nothing is moved and the error says so.
    """
    saved = load(env)
    if saved is None:
        raise PlanError(f"no saved plan for {env.app}: run CHECK DISTRIBUTE (AGI.get_distrib) first")
    if built is not None and saved.built != built:
        raise PlanError(f"the saved plan was rebuilt ({saved.built}) since the one edited here ({built}): "
                        "nothing was moved; CHECK DISTRIBUTE and edit again")
    for from_slot, chunk_index, to_slot in moves:
        saved.plan = saved.plan.move(from_slot, chunk_index, to_slot)
    saved.edited = True
    saved.reason = "; ".join(f"chunk {index} of slot {source} moved to slot {target}"
                             for source, index, target in moves) or "saved unchanged"
    save(env, saved)
    return saved
