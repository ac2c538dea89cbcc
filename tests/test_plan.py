"""Work plans: balancing (exact for few items, near the bound for many), DAGs, JSON, moves."""

from __future__ import annotations

import itertools
import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agi_jupyter.app import Chunk, Step, WorkPlan, balance, dag_plan, worker_slots
from agi_jupyter.core.errors import PlanError
from agi_jupyter.core.plan import lower_bound, schedule_dag, topological_order


def loads_of(groups: list[list[int]], weights: list[float]) -> list[float]:
    return [math.fsum(weights[i] for i in group) for group in groups]


def brute_force_optimum(weights: list[float], slots: int) -> float:
    best = math.inf
    for owners in itertools.product(range(slots), repeat=len(weights)):
        loads = [0.0] * slots
        for weight, owner in zip(weights, owners):
            loads[owner] += weight
        best = min(best, max(loads))
    return best


@settings(max_examples=150, deadline=None)
@given(weights=st.lists(st.integers(0, 50), min_size=0, max_size=7), slots=st.integers(1, 4))
def test_few_items_get_the_exact_optimum(weights: list[int], slots: int) -> None:
    groups = balance(list(zip(range(len(weights)), weights)), slots)
    got = max(loads_of(groups, weights), default=0.0)
    assert got == pytest.approx(brute_force_optimum(weights, slots) if weights else 0.0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    slots=st.integers(1, 64),
    per_slot=st.integers(20, 120),
    shape=st.sampled_from(["uniform", "lognormal", "pareto", "file sizes"]),
)
def test_many_random_items_are_within_five_percent_of_the_lower_bound(
    seed: int, slots: int, per_slot: int, shape: str
) -> None:
    rng = random.Random(seed)
    draw = {
        "uniform": lambda: rng.uniform(1, 100),
        "lognormal": lambda: rng.lognormvariate(3, 1),
        "pareto": lambda: rng.paretovariate(1.5),
        "file sizes": lambda: float(rng.randint(1, 4096)),
    }[shape]
    weights = [draw() for _ in range(slots * per_slot)]
    groups = balance(list(zip(range(len(weights)), weights)), slots)
    assert max(loads_of(groups, weights)) <= 1.05 * lower_bound(weights, slots)


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.floats(0, 1e6), min_size=0, max_size=200), slots=st.integers(1, 16))
def test_every_item_is_placed_once_and_the_greedy_bound_holds(weights: list[float], slots: int) -> None:
    groups = balance(list(zip(range(len(weights)), weights)), slots)
    assert len(groups) == slots
    assert sorted(itertools.chain.from_iterable(groups)) == list(range(len(weights)))
    assert all(group == sorted(group) for group in groups)  # input order kept inside a slot
    assert max(loads_of(groups, weights), default=0) <= lower_bound(weights, slots) + max(weights, default=0) + 1e-6


@pytest.mark.parametrize("slots", [0, -1, 1.5, True])
def test_bad_slot_counts_are_refused(slots: object) -> None:
    with pytest.raises(PlanError, match="positive number of slots"):
        balance([("a", 1.0)], slots)  # type: ignore[arg-type]


@pytest.mark.parametrize("weight", [-1.0, math.nan, math.inf])
def test_bad_weights_are_refused_with_the_item_named(weight: float) -> None:
    with pytest.raises(PlanError, match="'b'"):
        balance([("a", 1.0), ("b", weight)], 2)


def test_worker_slots_follow_the_settings_order() -> None:
    slots = worker_slots({"10.0.0.1": 2, "10.0.0.2": 1})
    assert [slot.name for slot in slots] == ["10.0.0.1#0", "10.0.0.1#1", "10.0.0.2#0"]


def sample_plan() -> WorkPlan:
    chunks = [Chunk(f"c{n}", float(n + 1), [f"item{n}a", f"item{n}b"]) for n in range(6)]
    return WorkPlan.balanced(chunks, 3, partition_key="file", weights_key="size", weights_unit="KB")


def test_tuple_form_round_trips() -> None:
    plan = sample_plan()
    again = WorkPlan.coerce(plan.to_tuple())
    assert again == plan
    assert again.loads == pytest.approx([7.0, 7.0, 7.0])
    assert (again.chunk_count, again.item_count) == (6, 12)


def test_malformed_tuples_are_explained() -> None:
    with pytest.raises(PlanError, match="5 parts"):
        WorkPlan.coerce(([], []))
    with pytest.raises(PlanError, match="slot 0: 2 chunks but 1 metadata"):
        WorkPlan.coerce(([[["a"], ["b"]]], [[("a", 1)]], "k", "w", "u"))
    with pytest.raises(PlanError, match="WorkPlan or a 5-tuple"):
        WorkPlan.coerce("plan")


def test_json_round_trip_and_json_safety() -> None:
    plan = sample_plan()
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["schema"] == "agi.plan.v1"
    assert WorkPlan.from_dict(data) == plan
    unsafe = WorkPlan([[Chunk("x", 1.0, [object()])]])
    with pytest.raises(PlanError, match="JSON-safe"):
        unsafe.to_dict()
    with pytest.raises(PlanError, match="schema"):
        WorkPlan.from_dict({**data, "schema": "other"})


def test_move_reassigns_one_chunk_and_updates_loads() -> None:
    plan = sample_plan()
    moved_label = plan.slots[0][0].label
    moved = plan.move(0, 0, 2)
    assert moved.slots[2][-1].label == moved_label
    assert moved.loads[0] == plan.loads[0] - plan.slots[0][0].weight
    assert plan.slots[0][0].label == moved_label  # the original is untouched
    with pytest.raises(PlanError, match="slot 5 does not exist"):
        plan.move(0, 0, 5)
    with pytest.raises(PlanError, match="has no chunk 9"):
        plan.move(0, 9, 1)


def test_cycles_are_named() -> None:
    with pytest.raises(PlanError) as caught:
        topological_order({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})
    message = str(caught.value)
    assert "cycle" in message
    path = message.split(": ", 1)[1].split(" -> ")
    assert path[0] == path[-1] and set(path) == {"a", "b", "c"}


def test_unknown_dependencies_are_named() -> None:
    with pytest.raises(PlanError, match="step 'b' depends on unknown step 'z'"):
        topological_order({"a": [], "b": ["z"]})


def test_dag_schedule_respects_dependencies_and_uses_parallel_slots() -> None:
    steps = [
        Step("a", [], 2.0),
        Step("b", [], 2.0),
        Step("c", ["a"], 1.0),
        Step("d", ["b"], 1.0),
        Step("e", ["c", "d"], 1.0),
    ]
    groups = schedule_dag(steps, 2)
    assert sorted(len(group) for group in groups) == [2, 3]
    position = {step.name: (slot, index) for slot, group in enumerate(groups) for index, step in enumerate(group)}
    for step in steps:
        for dep in step.deps:
            if position[dep][0] == position[step.name][0]:
                assert position[dep][1] < position[step.name][1]
    assert position["a"][0] != position["b"][0]  # the two roots run side by side
    plan = dag_plan(steps, 2)
    assert plan.dag == {"a": [], "b": [], "c": ["a"], "d": ["b"], "e": ["c", "d"]}
    assert plan.step_order().index("e") == 4
    assert plan.slots[position["e"][0]][position["e"][1]].items == [{"step": "e", "deps": ["c", "d"]}]
