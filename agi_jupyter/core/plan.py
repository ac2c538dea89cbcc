"""Work plans: weighted chunks per worker slot, balancing, DAG steps, JSON form, reassignment.

A plan lists, for each worker slot (in the order :func:`worker_slots` gives for the
``{host: slots}`` setting), the chunks that slot runs; a chunk is a labelled, weighted list of
JSON-safe work items. DAG apps plan one chunk per step and keep the step dependencies beside it.

Output names. A chunk's outputs are named after its label by :func:`output_stem`: every run of
characters other than letters, digits, ``.``, ``-`` and ``_`` becomes one ``_``, leading and
trailing dots and underscores go, and an empty result is ``chunk``. Labels that give the same stem
(``2024/01``, ``2024 01`` and ``2024_01``; two chunks labelled ``12 files``; ``North`` and
``north``, compared without case so a plan behaves the same on case-insensitive disks) would write
the same file, so a plan holding two of them is refused with a PlanError naming both chunks
(:meth:`WorkPlan.check_output_names`, run on every plan an app builds and before every run).
Code that needs several outputs per label (e.g. one per service task) passes a ``unique`` part:
``output_stem(label, unique)`` is ``<stem>~<unique stem>``; ``~`` never occurs in a plain stem, so
such names meet neither a plain stem nor each other while the unique parts differ.
"""

from __future__ import annotations

import graphlib
import heapq
import json
import logging
import math
import numbers
import os
import re
import reprlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import PlanError

logger = logging.getLogger(__name__)

Item = TypeVar("Item")

PLAN_SCHEMA = "agi.plan.v1"
EXACT_ITEM_LIMIT = 16  # up to this many items, balance searches for the optimum
EXACT_NODE_BUDGET = 200_000  # ...within this many search nodes; beyond, the greedy result stands
UNIQUE_SEPARATOR = "~"  # joins a stem and its unique part; the stem rule never produces it


EXAMPLE_WORKPLAN = """\
chunks = [Chunk("a.csv", 4.0, ["a.csv"]), Chunk("b.csv", 3.0, ["b.csv"]), Chunk("c.csv", 1.0, ["c.csv"])]
return WorkPlan.balanced(chunks, len(worker_slots(workers)), partition_key="file", weights_key="size")"""
"""Shape 1 of a plan, as code: chunks (label, weight, work items) spread over the slots by weight."""

EXAMPLE_TUPLE = """\
plan = [[["a.csv"]], [["b.csv"], ["c.csv"]]]  # per slot its chunks; a chunk is a list of work items
metadata = [[("a.csv", 4.0)], [("b.csv", 3.0), ("c.csv", 1.0)]]  # per slot, a (label, weight) per chunk
return plan, metadata, "file", "size", "KB"  # ..., partition_key, weights_key, weights_unit"""
"""Shape 2 of a plan, as code, for two slots: the 5-tuple."""


def _indented(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.splitlines())


PLAN_SHAPES = (
    "build_distribution(workers) returns one list of chunks per worker slot, in worker_slots(workers)\n"
    'order ({"127.0.0.1": 2} is 2 slots), in one of two shapes:\n'
    "1. a WorkPlan, e.g. weighted chunks balanced over the slots (names from agi_jupyter.app):\n"
    f"{_indented(EXAMPLE_WORKPLAN)}"
    "2. the 5-tuple (plan, metadata, partition_key, weights_key, weights_unit), e.g. for 2 slots:\n"
    f"{_indented(EXAMPLE_TUPLE)}"
)
"""What a refused plan's message teaches: the two shapes, each with an example that works."""


def output_stem(label: str, unique: str = "") -> str:
    """The file name (without extension) of the output of the chunk labelled ``label``.

    Labels are free text (paths, dates, sentences) but file names are not: the rule is in the
    module docstring. ``unique`` (e.g. a service task id) makes a name distinct from every plain
    stem and from the names of other unique parts.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(label)).strip("._") or "chunk"
    return f"{stem}{UNIQUE_SEPARATOR}{output_stem(unique)}" if unique else stem


@dataclass(frozen=True)
class Slot:
    """One worker slot: the ``index``-th of the slots configured for ``host``."""

    host: str
    index: int

    @property
    def name(self) -> str:
        return f"{self.host}#{self.index}"


def worker_slots(workers: Mapping[str, int]) -> list[Slot]:
    """Expand ``{host: slots}`` into the ordered list of slots a plan is indexed by."""
    return [Slot(host, index) for host, count in workers.items() for index in range(int(count))]


@dataclass
class Chunk:
    """A unit of dispatch: ``items`` processed by one worker slot, then ``work_done`` once."""

    label: str
    weight: float
    items: list[Any]


@dataclass
class WorkPlan:
    """What each worker slot does, plus the names used to display and balance it.

    Attributes
    ----------
    slots:
        One list of :class:`Chunk` per worker slot.
    partition_key, weights_key, weights_unit:
        How the app names a partition, its weight and the weight's unit (for tables and charts).
    dag:
        For DAG apps: step name -> names of the steps it depends on. Chunks are then steps.
    """

    slots: list[list[Chunk]]
    partition_key: str = "partition"
    weights_key: str = "weight"
    weights_unit: str = ""
    dag: dict[str, list[str]] | None = None

    # ----- construction -----------------------------------------------------------------
    @classmethod
    def balanced(cls, chunks: Sequence[Chunk], slot_count: int, **names: Any) -> WorkPlan:
        """Spread ``chunks`` over ``slot_count`` slots with :func:`balance` on their weights."""
        groups = balance([(chunk, chunk.weight) for chunk in chunks], slot_count)
        return cls(slots=groups, **names)

    @classmethod
    def from_tuple(cls, value: Sequence[Any]) -> WorkPlan:
        """Accept the 5-tuple ``(plan, metadata, partition_key, weights_key, weights_unit)``.

        ``plan`` is, per slot, a list of chunks (each a list of items); ``metadata`` has the
        same shape with a ``(label, weight)`` pair per chunk. A PlanError names the first part
        that is not so.
        """
        if len(value) != 5:
            raise PlanError(
                f"a plan tuple has 5 parts (plan, metadata, partition_key, weights_key, weights_unit), not {len(value)}"
            )
        plan, metadata, *names = value
        _require_list(plan, "plan (part 1)", "a list with one list of chunks per slot")
        _require_list(metadata, "metadata (part 2)", "a list with one list of (label, weight) pairs per slot")
        for number, (key, name) in enumerate(zip(("partition_key", "weights_key", "weights_unit"), names), 3):
            if not isinstance(name, str):
                raise PlanError(f"{key} (part {number}) is {_short(name)}, not a str")
        if len(plan) != len(metadata):
            raise PlanError(f"plan has {len(plan)} slots but metadata has {len(metadata)}")
        slots = []
        for number, (chunks, labels) in enumerate(zip(plan, metadata)):
            _require_list(chunks, f"plan slot {number}", "a list of chunks")
            _require_list(labels, f"metadata slot {number}", "a list of (label, weight) pairs")
            if len(chunks) != len(labels):
                raise PlanError(f"slot {number}: {len(chunks)} chunks but {len(labels)} metadata entries")
            slot = []
            for index, (items, entry) in enumerate(zip(chunks, labels)):
                _require_list(items, f"plan slot {number}, chunk {index}", "a list of work items")
                label, weight = _pair(entry, f"metadata slot {number}, entry {index}")
                slot.append(Chunk(str(label), weight, list(items)))
            slots.append(slot)
        return cls(slots, *names)

    @classmethod
    def coerce(cls, value: Any, where: str = "build_distribution") -> WorkPlan:
        """A WorkPlan from what ``build_distribution`` returned (a WorkPlan or the 5-tuple).

        Anything else is a PlanError saying what ``where`` returned, what is wrong with it and
        :data:`PLAN_SHAPES`.
        """
        if isinstance(value, (tuple, list)) and value and all(isinstance(part, list) for part in value):
            # balance()'s groups: a plan tuple's last three parts are str, so this is never one
            problem = BALANCE_HINT
            if isinstance(value, tuple):  # perhaps a plan tuple cut short: say both
                names = "partition_key, weights_key, weights_unit"
                problem = f"a plan tuple has 5 parts, the last three str ({names}); {problem}"
            raise shape_error(where, value, problem)
        try:
            if isinstance(value, WorkPlan):
                value.check_shape()
                return value
            if isinstance(value, (tuple, list)):
                return cls.from_tuple(value)
        except PlanError as error:
            raise shape_error(where, value, str(error)) from None
        if value is None:
            raise shape_error(where, value, "no plan (a missing return statement?)")
        raise shape_error(where, value, "build_distribution must return a WorkPlan or a 5-tuple")

    def check_shape(self) -> None:
        """Raise a PlanError naming the first slot or chunk that is not what a plan holds."""
        _require_list(self.slots, "slots", "a list with one list of chunks per slot")
        for number, chunks in enumerate(self.slots):
            _require_list(chunks, f"slot {number}", "a list of Chunk")
            for index, chunk in enumerate(chunks):
                where = f"slot {number}, chunk {index}"
                if not isinstance(chunk, Chunk):
                    raise PlanError(f"{where} is {_short(chunk)}, not a Chunk(label, weight, items)")
                _weight(chunk.weight, where)
                if not isinstance(chunk.items, (list, tuple)):
                    raise PlanError(f"{where}: items {_short(chunk.items)} are not a list of work items")

    # ----- reading ----------------------------------------------------------------------
    def to_tuple(self) -> tuple[list[list[list[Any]]], list[list[tuple[str, float]]], str, str, str]:
        plan = [[chunk.items for chunk in chunks] for chunks in self.slots]
        metadata = [[(chunk.label, chunk.weight) for chunk in chunks] for chunks in self.slots]
        return plan, metadata, self.partition_key, self.weights_key, self.weights_unit

    @property
    def loads(self) -> list[float]:
        """Total weight per slot."""
        return [math.fsum(chunk.weight for chunk in chunks) for chunks in self.slots]

    @property
    def chunk_count(self) -> int:
        return sum(len(chunks) for chunks in self.slots)

    @property
    def item_count(self) -> int:
        return sum(len(chunk.items) for chunks in self.slots for chunk in chunks)

    def step_order(self) -> list[str]:
        """DAG apps: the steps in an order that respects every dependency."""
        if self.dag is None:
            raise PlanError("this plan has no DAG")
        return topological_order(self.dag)

    def check_output_names(self) -> None:
        """Refuse two chunks whose outputs would have the same file name (see the module docstring).

        Without this, the second chunk silently overwrote the first one's file.
        """
        seen: dict[str, tuple[int, int, str]] = {}
        for slot_number, chunks in enumerate(self.slots):
            for index, chunk in enumerate(chunks):
                stem = output_stem(chunk.label)
                first = seen.setdefault(stem.casefold(), (slot_number, index, chunk.label))
                if first[:2] != (slot_number, index):
                    raise PlanError(
                        f"chunks {first[2]!r} (slot {first[0]}, chunk {first[1]}) and {chunk.label!r} "
                        f"(slot {slot_number}, chunk {index}) both write output {stem!r}: their labels "
                        "differ only in characters a file name cannot hold (or in case); give them labels "
                        "that differ in letters or digits"
                    )

    # ----- editing ----------------------------------------------------------------------
    def move(self, from_slot: int, chunk_index: int, to_slot: int) -> WorkPlan:
        """A copy with one chunk moved to the end of another slot (the Workplan editor)."""
        for number in (from_slot, to_slot):
            if not 0 <= number < len(self.slots):
                raise PlanError(f"slot {number} does not exist (the plan has {len(self.slots)} slots)")
        if not 0 <= chunk_index < len(self.slots[from_slot]):
            raise PlanError(f"slot {from_slot} has no chunk {chunk_index} (it has {len(self.slots[from_slot])})")
        slots = [list(chunks) for chunks in self.slots]
        slots[to_slot].append(slots[from_slot].pop(chunk_index))
        return WorkPlan(
            slots, self.partition_key, self.weights_key, self.weights_unit, None if self.dag is None else dict(self.dag)
        )

    # ----- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (schema ``agi.plan.v1``); raises PlanError if an item is not JSON."""
        data = self._data()
        self._encode(data)
        return data

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON text (one encoding: big plans are saved through it)."""
        return self._encode(self._data())

    def _encode(self, data: dict[str, Any]) -> str:
        """JSON text; on failure, name the first chunk and item that is not JSON (cheap when all is)."""
        try:
            return _json_text(data)
        except PlanError:
            try:
                self.check_items()
            except PlanError as error:
                raise PlanError(f"plan is not JSON-safe: {error}") from None
            raise

    def check_items(self) -> None:
        """Raise a PlanError naming the first work item that is not a JSON value, and the fix.

        Plans are saved as JSON and items travel to workers as JSON, so a ``Path`` or a set
        fails later, far from the planner that made it.
        """
        for number, chunks in enumerate(self.slots):
            for chunk in chunks:
                for index, item in enumerate(chunk.items):
                    bad = _non_json(item)
                    if bad is _FINE:
                        continue
                    where = f"chunk {chunk.label!r} (slot {number}) item {index}"
                    what = f"is {_a(bad)}" if bad is item else f"holds {_a(bad)}"
                    raise PlanError(f"{where} {what}: {_json_fix(bad)}")

    def _data(self) -> dict[str, Any]:
        return {
            "schema": PLAN_SCHEMA,
            "partition_key": self.partition_key,
            "weights_key": self.weights_key,
            "weights_unit": self.weights_unit,
            "dag": self.dag,
            "slots": [
                [{"label": c.label, "weight": c.weight, "items": c.items} for c in chunks] for chunks in self.slots
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkPlan:
        if data.get("schema") != PLAN_SCHEMA:
            raise PlanError(f"plan schema {data.get('schema')!r} is not {PLAN_SCHEMA!r}")
        slots = [[Chunk(c["label"], float(c["weight"]), list(c["items"])) for c in chunks] for chunks in data["slots"]]
        return cls(slots, data["partition_key"], data["weights_key"], data["weights_unit"], data.get("dag"))


BALANCE_HINT = (
    "a list of slots, as balance() gives the items of each slot, is not a plan yet: make each group "
    "a Chunk(label, weight, items) in a WorkPlan, or return WorkPlan.balanced(chunks, slot_count)"
)


def shape_error(where: str, value: Any, problem: str) -> PlanError:
    """The PlanError for a wrong return of ``where``: what it returned, what is wrong, the two shapes."""
    return PlanError(f"{where} returned {_returned(value)}: {problem}\n{PLAN_SHAPES}")


def _short(value: Any) -> str:
    """A repr short enough for one line of a message."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()  # its limits are attributes (Python 3.11 takes no arguments)
_REPR.maxlevel, _REPR.maxtuple, _REPR.maxlist, _REPR.maxdict = 5, 5, 4, 4
_REPR.maxstring, _REPR.maxother = 40, 60


def _returned(value: Any) -> str:
    """What a planner returned, for a message: its type, its size when it has one, a short repr."""
    if value is None:
        return "None"
    if isinstance(value, WorkPlan):
        count = len(value.slots) if isinstance(value.slots, (list, tuple)) else "?"
        return f"a WorkPlan of {count} slot{'' if count == 1 else 's'} {_short(value.slots)}"
    size = ""
    if isinstance(value, (list, tuple)):
        noun = "part" if isinstance(value, tuple) else "element"
        size = f" of {len(value)} {noun}{'' if len(value) == 1 else 's'}"
    return f"a {type(value).__name__}{size} {_short(value)}"


def _require_list(value: Any, what: str, expected: str) -> None:
    if not isinstance(value, (list, tuple)):
        raise PlanError(f"{what} is {_short(value)}, not {expected}")


def _pair(entry: Any, where: str) -> tuple[Any, float]:
    """A metadata entry as ``(label, weight)``; a PlanError naming the entry otherwise."""
    if not isinstance(entry, (list, tuple)) or len(entry) != 2:
        raise PlanError(f"{where} is {_short(entry)}, not a (label, weight) pair such as ('a.csv', 4.0)")
    label, weight = entry
    if not isinstance(label, (str, int)) or isinstance(label, bool):
        raise PlanError(f"{where}: label {_short(label)} is not a str")
    return label, _weight(weight, where)


def _weight(weight: Any, where: str) -> float:
    if not isinstance(weight, numbers.Real) or isinstance(weight, bool):
        raise PlanError(f"{where}: weight {_short(weight)} is not a number")
    if not math.isfinite(weight) or weight < 0:
        raise PlanError(f"{where}: weight {weight}: weights are finite and >= 0")
    return float(weight)


_FINE = object()  # _non_json's answer when the value is all JSON


def _non_json(value: Any) -> Any:
    """The first part of ``value`` JSON cannot hold (NaN and infinities included), else ``_FINE``."""
    if value is None or isinstance(value, (str, bool, int)):
        return _FINE
    if isinstance(value, float):
        return _FINE if math.isfinite(value) else value
    if isinstance(value, (list, tuple)):
        parts: Iterable[Any] = value
    elif isinstance(value, dict):
        keys = [key for key in value if not isinstance(key, (str, int, float, bool)) and key is not None]
        if keys:
            return keys[0]
        parts = value.values()
    else:
        return value
    for part in parts:
        bad = _non_json(part)
        if bad is not _FINE:
            return bad
    return _FINE


def _a(value: Any) -> str:
    """``value``'s type name with its article: "a PosixPath", "an object"."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _json_fix(bad: Any) -> str:
    """How to make ``bad`` a JSON value."""
    if isinstance(bad, os.PathLike):
        return "use str(path)"
    if isinstance(bad, float):
        return f"{bad} is not a JSON number: use None or a finite number"
    if isinstance(bad, (set, frozenset)):
        return "use a sorted list"
    return "work items must be JSON values (str, number, bool, None, lists and dicts of them)"


def _json_text(data: dict[str, Any]) -> str:
    try:
        return json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise PlanError(f"plan is not JSON-safe ({error}); work items must be JSON values") from None


# ----- balancing --------------------------------------------------------------------------
def balance(weighted_items: Iterable[tuple[Item, float]], slots: int) -> list[list[Item]]:
    """Split weighted items over ``slots`` so the heaviest slot is as light as possible.

    In: ``[(item, weight), ...]``. Out: one list per slot, ``[[item, ...], ...]``, holding the
    items alone (not the pairs), each item once, in their input order inside each slot:

    >>> balance([("a.csv", 4), ("b.csv", 3), ("c.csv", 2), ("d.csv", 1)], 2)
    [['a.csv', 'd.csv'], ['b.csv', 'c.csv']]
    >>> balance([("a.csv", 4), ("b.csv", 3)], 3)  # more slots than items: some stay empty
    [['a.csv'], ['b.csv'], []]

    To keep each weight, make it part of the item; a plan wants :class:`Chunk` objects, which
    :meth:`WorkPlan.balanced` spreads with this function:

    >>> balance([(("a.csv", 4), 4), (("b.csv", 3), 3), (("c.csv", 2), 2)], 2)
    [[('a.csv', 4)], [('b.csv', 3), ('c.csv', 2)]]

    Longest-processing-time-first gives the answer for many items (within a few percent of the
    lower bound ``max(total / slots, largest item)`` once items outnumber slots); for up to
    ``EXACT_ITEM_LIMIT`` items a branch-and-bound search then finds the optimum.
    """
    pairs = list(weighted_items)
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise PlanError(f"balance needs a positive number of slots, not {slots!r}")
    weights = [float(weight) for _, weight in pairs]
    for position, weight in enumerate(weights):
        if not math.isfinite(weight) or weight < 0:
            raise PlanError(
                f"item {position} ({pairs[position][0]!r}) has weight {weight}: weights must be finite and >= 0"
            )
    order = sorted(range(len(pairs)), key=lambda index: (-weights[index], index))
    owner = _longest_first(order, weights, slots)
    if len(pairs) <= EXACT_ITEM_LIMIT and slots > 1:
        owner = _branch_and_bound(order, weights, slots, owner)
    groups: list[list[Item]] = [[] for _ in range(slots)]
    for index, (item, _) in enumerate(pairs):
        groups[owner[index]].append(item)
    return groups


def makespan(groups: Sequence[Sequence[float]]) -> float:
    """The load of the heaviest group."""
    return max((math.fsum(group) for group in groups), default=0.0)


def lower_bound(weights: Sequence[float], slots: int) -> float:
    """No split of ``weights`` over ``slots`` can beat this makespan."""
    return max(math.fsum(weights) / slots, max(weights, default=0.0))


def _longest_first(order: list[int], weights: list[float], slots: int) -> list[int]:
    owner = [0] * len(weights)
    heap = [(0.0, slot) for slot in range(slots)]
    for index in order:
        load, slot = heapq.heappop(heap)
        owner[index] = slot
        heapq.heappush(heap, (load + weights[index], slot))
    return owner


def _branch_and_bound(order: list[int], weights: list[float], slots: int, owner: list[int]) -> list[int]:
    loads = [0.0] * slots
    for index, slot in enumerate(owner):
        loads[slot] += weights[index]
    best_peak, best_owner = max(loads), list(owner)
    bound = lower_bound(weights, slots)
    if best_peak <= bound * (1 + 1e-12):
        return owner
    suffix = [0.0] * (len(order) + 1)
    for position in range(len(order) - 1, -1, -1):
        suffix[position] = suffix[position + 1] + weights[order[position]]
    current = [0.0] * slots
    chosen = list(owner)
    budget = [EXACT_NODE_BUDGET]

    def search(position: int, peak: float) -> None:
        nonlocal best_peak, best_owner
        if budget[0] <= 0 or best_peak <= bound * (1 + 1e-12):
            return
        budget[0] -= 1
        if position == len(order):
            best_peak, best_owner = peak, list(chosen)
            return
        if max(peak, (math.fsum(current) + suffix[position]) / slots) >= best_peak:
            return
        index = order[position]
        tried: set[float] = set()
        for slot in sorted(range(slots), key=lambda s: current[s]):
            if current[slot] in tried:  # same load: an equivalent branch was already explored
                continue
            tried.add(current[slot])
            new_load = current[slot] + weights[index]
            if new_load >= best_peak:
                continue
            current[slot] = new_load
            chosen[index] = slot
            search(position + 1, max(peak, new_load))
            current[slot] -= weights[index]

    search(0, 0.0)
    return best_owner


# ----- DAG plans --------------------------------------------------------------------------
@dataclass
class Step:
    """One named step of a DAG app, with the steps it needs first."""

    name: str
    deps: list[str] = field(default_factory=list)
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


def topological_order(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """Steps in dependency order; a cycle or an unknown dependency is a PlanError naming it."""
    for name, deps in graph.items():
        for dep in deps:
            if dep not in graph:
                raise PlanError(f"step {name!r} depends on unknown step {dep!r}")
    sorter = graphlib.TopologicalSorter({name: list(deps) for name, deps in graph.items()})
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as error:
        cycle = error.args[1]
        raise PlanError(f"the steps form a cycle: {' -> '.join(map(str, reversed(cycle)))}") from None


def schedule_dag(steps: Sequence[Step], slot_count: int) -> list[list[Step]]:
    """Assign steps to slots: in dependency order, each to the slot where it can finish first."""
    by_name = {step.name: step for step in steps}
    if len(by_name) != len(steps):
        raise PlanError("step names must be unique")
    order = topological_order({step.name: step.deps for step in steps})
    free_at = [0.0] * slot_count
    finish: dict[Hashable, float] = {}
    groups: list[list[Step]] = [[] for _ in range(slot_count)]
    for name in order:
        step = by_name[name]
        ready = max((finish[dep] for dep in step.deps), default=0.0)
        slot = min(range(slot_count), key=lambda s: (max(free_at[s], ready), s))
        finish[name] = max(free_at[slot], ready) + step.weight
        free_at[slot] = finish[name]
        groups[slot].append(step)
    return groups


def dag_plan(steps: Sequence[Step], slot_count: int, *, weights_unit: str = "") -> WorkPlan:
    """A WorkPlan with one chunk per step, scheduled by :func:`schedule_dag`."""
    groups = schedule_dag(steps, slot_count)
    slots = [
        [Chunk(step.name, step.weight, [{"step": step.name, "deps": list(step.deps), **step.params}]) for step in group]
        for group in groups
    ]
    return WorkPlan(
        slots,
        partition_key="step",
        weights_key="cost",
        weights_unit=weights_unit,
        dag={step.name: list(step.deps) for step in steps},
    )
