"""What the Distribute tab draws, as plain data: the DAG laid out by depth, the workload stacks,
each slot's share of the load and the slots left without work.

No widget is built here, so tests check the pictures' content without rendering them, and the
tab stays a thin view: it hands these values to bqplot and ipytree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..core.plan import WorkPlan

STACK_LIMIT = 50  # chunk segments per slot in the workload chart; the lighter rest is one "other" segment
# light tints (category20's pale half) so a step's name stays readable on its node
SLOT_COLORS = (
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#dbdb8d",
    "#9edae5",
    "#c7c7c7",
)

# the same hues at full strength (category10) for the bars, which carry no text
SLOT_BAR_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#7f7f7f",
)


def slot_color(slot: int | None) -> str:
    """The colour of worker slot ``slot`` in the DAG and its legend (white for a step no slot runs)."""
    return "#ffffff" if slot is None else SLOT_COLORS[slot % len(SLOT_COLORS)]


def slot_bar_color(slot: int) -> str:
    """The colour of worker slot ``slot``'s bar: the hue of :func:`slot_color`, stronger."""
    return SLOT_BAR_COLORS[slot % len(SLOT_BAR_COLORS)]


# ----- the DAG ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphNode:
    """One step: where it is drawn (``depth`` across, ``row`` down) and which slot runs it."""

    name: str
    depth: int  # 0 for a step that needs nothing, else one more than its deepest dependency
    row: int  # index among the steps of the same depth, in the order the app declared them
    slot: int | None  # None when no slot of the plan holds the step
    slot_name: str
    weight: float
    needs: tuple[str, ...]

    @property
    def color(self) -> str:
        return slot_color(self.slot)


@dataclass(frozen=True)
class DagGraph:
    """Nodes in declaration order and links ``(dependency index, step index)``."""

    nodes: list[GraphNode]
    links: list[tuple[int, int]]
    slot_names: list[str]

    @property
    def depths(self) -> int:
        return 1 + max((node.depth for node in self.nodes), default=-1)

    @property
    def widest(self) -> int:
        """The most steps at one depth (the picture's height in rows)."""
        return 1 + max((node.row for node in self.nodes), default=-1)


def dag_graph(plan: WorkPlan, names: list[str]) -> DagGraph:
    """The DAG of ``plan`` laid out by dependency depth: deterministic, no physics.

    PlanError (from :func:`~agi_jupyter.core.plan.topological_order`) for a plan without a DAG,
    with a cycle or with an unknown dependency.
    """
    order = plan.step_order()
    needs = plan.dag or {}
    depth: dict[str, int] = {}
    for step in order:  # dependencies come first
        depth[step] = 1 + max((depth[dep] for dep in needs[step]), default=-1)
    placed: dict[str, tuple[int, float]] = {
        chunk.label: (number, chunk.weight) for number, chunks in enumerate(plan.slots) for chunk in chunks
    }
    rows: dict[int, int] = {}
    nodes = []
    for step in needs:  # the app's declaration order decides the rows
        row = rows.get(depth[step], 0)
        rows[depth[step]] = row + 1
        slot, weight = placed.get(step, (None, math.nan))
        slot_name = "" if slot is None else names[slot]
        nodes.append(GraphNode(step, depth[step], row, slot, slot_name, weight, tuple(needs[step])))
    index = {node.name: position for position, node in enumerate(nodes)}
    links = [(index[dep], index[node.name]) for node in nodes for dep in node.needs]
    return DagGraph(nodes, links, list(names))


# ----- the workload stacks ------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """One piece of a slot's bar: a chunk, or the ``other`` chunks merged."""

    label: str
    weight: float
    chunks: int = 1

    @property
    def other(self) -> bool:
        return self.chunks != 1


@dataclass(frozen=True)
class Stack:
    """One slot's bar: its heaviest chunks bottom up, then at most one ``other N chunks`` segment."""

    slot: str
    total: float
    share: float  # % of the plan's load
    segments: list[Segment] = field(default_factory=list)

    @property
    def chunk_count(self) -> int:
        return sum(segment.chunks for segment in self.segments)


def stacks(plan: WorkPlan, names: list[str], limit: int = STACK_LIMIT) -> list[Stack]:
    """Per slot, its chunks' weights heaviest first; beyond ``limit`` chunks the rest is one segment.

    A bar is then drawn with at most ``limit + 1`` segments whatever the plan's size, and its
    total is still the slot's load.
    """
    shares = load_shares(plan)
    result = []
    for name, chunks, total, share in zip(names, plan.slots, plan.loads, shares):
        heaviest = sorted(chunks, key=lambda chunk: -chunk.weight)  # stable: ties keep the plan's order
        segments = [Segment(chunk.label, chunk.weight) for chunk in heaviest[:limit]]
        rest = heaviest[limit:]
        if rest:
            segments.append(Segment(f"other {len(rest)} chunks", math.fsum(c.weight for c in rest), len(rest)))
        result.append(Stack(name, total, share, segments))
    return result


def stack_rows(bars: list[Stack], limit: int = STACK_LIMIT) -> list[list[float]]:
    """The ``y`` of a stacked bqplot ``Bars``: one row per stack level, one column per slot.

    Row ``k < limit`` holds each slot's ``k``-th heaviest chunk (0 where the slot has fewer);
    the row ``limit``, present only when a slot has one, holds the ``other`` segments, so they
    can be told apart by their level alone.
    """
    levels = max((len([s for s in bar.segments if not s.other]) for bar in bars), default=0)
    has_other = any(segment.other for bar in bars for segment in bar.segments)
    rows = [[0.0] * len(bars) for _ in range(levels + (1 if has_other else 0))]
    for column, bar in enumerate(bars):
        level = 0
        for segment in bar.segments:
            if segment.other:
                rows[-1][column] = segment.weight
            else:
                rows[level][column] = segment.weight
                level += 1
    return rows


# ----- shares and idle slots ----------------------------------------------------------------
def load_shares(plan: WorkPlan) -> list[float]:
    """Each slot's load as a percentage of the plan's (all 0 when nothing weighs anything)."""
    loads = plan.loads
    total = math.fsum(loads)
    return [100.0 * load / total if total > 0 else 0.0 for load in loads]


def idle_slots(plan: WorkPlan, names: list[str]) -> list[str]:
    """The names of the slots the plan gives no chunk."""
    return [name for name, chunks in zip(names, plan.slots) if not chunks]


def idle_warning(plan: WorkPlan, names: list[str]) -> str:
    """A sentence naming the idle slots and why they are idle; ``""`` when every slot has work."""
    idle = idle_slots(plan, names)
    if not idle:
        return ""
    count, slots = plan.chunk_count, len(plan.slots)
    noun = "steps" if plan.dag is not None else "chunks"
    if count < slots:
        why = f"fewer {noun} ({count}) than slots ({slots})"
    elif plan.dag is not None:
        why = f"the dependencies between the {count} steps keep them on {slots - len(idle)} of {slots} slots"
    else:
        why = "the plan gives them no chunk: move chunks to them below, or use fewer slots"
    return f"{', '.join(idle)} received no work: {why}"
