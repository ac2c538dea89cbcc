"""Plan validation that teaches (issue 14 item 3).

A wrong return from ``build_distribution`` is refused with a message naming what came back (its
type and a short repr), where (the manager class and its file), what is wrong with it, and the
two shapes it may take with an example of each (``PLAN_SHAPES``). The examples themselves run
here, and so do the doctests of the plan module (``balance`` shows its input and output).
"""

from __future__ import annotations

import asyncio
import doctest
import shutil
from pathlib import Path
from typing import Any

import pytest

import agi_jupyter.core.plan
from agi_jupyter import AGI, AgiEnv
from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots
from agi_jupyter.core.errors import PlanError
from agi_jupyter.core.plan import EXAMPLE_TUPLE, EXAMPLE_WORKPLAN, PLAN_SHAPES

APPS = Path(__file__).parent / "apps"
WORKERS = {"127.0.0.1": 2}


class Broken(BaseManager):
    """A manager that returns whatever the test gives it."""

    def build_distribution(self, workers: dict[str, int]) -> Any:
        return self.args["returned"]


def refusal(returned: Any) -> str:
    with pytest.raises(PlanError) as caught:
        Broken({"returned": returned}).distribution(WORKERS)
    message = str(caught.value)
    assert f"Broken.build_distribution ({__file__})" in message, message
    assert PLAN_SHAPES in message, message
    return message


GOOD_PLAN = [[["a.csv"]], [["b.csv"]]]
GOOD_METADATA = [[("a.csv", 2.0)], [("b.csv", 1.0)]]


@pytest.mark.parametrize(
    ("returned", "named", "problem"),
    [
        (None, "returned None", "no plan (a missing return statement?)"),
        ("plan", "returned a str 'plan'", "a WorkPlan or a 5-tuple"),
        ([["a.csv"], ["b.csv"]], "returned a list of 2", "balance() gives the items of each slot"),
        ((GOOD_PLAN, GOOD_METADATA, "file", "size"), "returned a tuple of 4", "5 parts"),
        ((None, GOOD_METADATA, "file", "size", "KB"), "tuple of 5", "plan (part 1) is None"),
        ((GOOD_PLAN, GOOD_METADATA, 1, "size", "KB"), "tuple of 5", "partition_key (part 3) is 1, not a str"),
        (([["a.csv"], ["b.csv"]], GOOD_METADATA, "f", "s", "u"), "tuple of 5", "plan slot 0, chunk 0 is 'a.csv'"),
        ((GOOD_PLAN, [["a.csv"], ["b.csv"]], "f", "s", "u"), "tuple of 5", "metadata slot 0, entry 0 is 'a.csv'"),
        ((GOOD_PLAN, [[2.0], [1.0]], "f", "s", "u"), "tuple of 5", "(label, weight) pair"),
        ((GOOD_PLAN, [[("a", "big")], [("b", 1)]], "f", "s", "u"), "tuple of 5", "weight 'big' is not a number"),
        ((GOOD_PLAN, [[("a", -1.0)], [("b", 1)]], "f", "s", "u"), "tuple of 5", "weight -1.0: weights are finite"),
        ((GOOD_PLAN, GOOD_METADATA[:1], "f", "s", "u"), "tuple of 5", "plan has 2 slots but metadata has 1"),
        (([[["a"], ["b"]], []], [[("a", 1)], []], "f", "s", "u"), "tuple of 5", "slot 0: 2 chunks but 1 metadata"),
        (
            WorkPlan(slots=[[["a.csv"]], []]),
            "returned a WorkPlan of 2 slots",
            "slot 0, chunk 0 is ['a.csv'], not a Chunk",
        ),
        (WorkPlan(slots=[["a.csv", "b.csv"]]), "returned a WorkPlan of 1 slot", "not a Chunk"),
        (WorkPlan(slots=[[Chunk("a", float("nan"), ["a"])], []]), "WorkPlan of 2 slots", "weight nan"),
        (WorkPlan(slots=[[Chunk("a", 1.0, "a.csv")], []]), "WorkPlan of 2 slots", "items 'a.csv' are not a list"),
    ],
    ids=lambda value: None,
)
def test_each_wrong_shape_is_named_with_the_manager_and_the_expected_forms(
    returned: Any, named: str, problem: str
) -> None:
    message = refusal(returned)
    assert named in message and problem in message, message


def test_a_wrong_number_of_slots_names_the_workers_and_both_counts() -> None:
    chunks = [Chunk(name, 1.0, [name]) for name in ("a", "b", "c")]
    message = refusal(WorkPlan.balanced(chunks, 3))
    assert "returned a WorkPlan of 3 slots" in message
    assert "3 slots for workers {'127.0.0.1': 2}, which have 2" in message


def test_a_long_return_value_is_shown_short() -> None:
    message = refusal([["item"] * 1000] * 2)
    assert len(message.split("\n", 1)[0]) < 400, message.split("\n", 1)[0]


@pytest.mark.parametrize("example", [EXAMPLE_WORKPLAN, EXAMPLE_TUPLE], ids=["workplan", "tuple"])
def test_the_examples_in_the_message_are_valid_plans(example: str) -> None:
    source = "def build_distribution(self, workers):\n" + "".join(f"    {line}\n" for line in example.splitlines())
    namespace: dict[str, Any] = {"Chunk": Chunk, "WorkPlan": WorkPlan, "worker_slots": worker_slots}
    exec(source, namespace)  # noqa: S102 - our own constant: the example must be code that works
    manager = type("Example", (BaseManager,), {"build_distribution": namespace["build_distribution"]})({})
    plan = manager.distribution(WORKERS)
    assert len(plan.slots) == 2 and plan.chunk_count == 3 and plan.loads == [4.0, 4.0]


def test_the_plan_module_doctests_pass() -> None:
    outcome = doctest.testmod(agi_jupyter.core.plan)
    assert outcome.attempted >= 3 and outcome.failed == 0


def test_balance_docstring_shows_items_in_and_groups_of_items_out() -> None:
    text = agi_jupyter.core.plan.balance.__doc__ or ""
    assert "[(item, weight), ...]" in text and "[[item, ...], ...]" in text


def test_the_engine_names_the_app_manager_file(tmp_path: Path) -> None:
    shutil.copytree(APPS / "datapaths_project", tmp_path / "apps" / "datapaths_project")
    env = AgiEnv("datapaths", apps_path=tmp_path / "apps")
    env.manager_path.write_text(env.manager_path.read_text().replace("return WorkPlan.balanced(", "WorkPlan.balanced("))
    with pytest.raises(PlanError) as caught:
        asyncio.run(AGI.get_distrib(env))
    message = str(caught.value)
    assert f"Datapaths.build_distribution ({env.manager_path}) returned None" in message
    assert PLAN_SHAPES in message


def test_a_non_json_work_item_names_the_manager_the_chunk_and_the_fix() -> None:
    plan = WorkPlan(slots=[[Chunk("doc3", 1.0, [Path("doc3.txt")])], []])
    with pytest.raises(PlanError) as caught:
        Broken({"returned": plan}).distribution(WORKERS)
    message = str(caught.value)
    assert f"Broken.build_distribution ({__file__})" in message, message
    assert "chunk 'doc3' (slot 0) item 0 is a PosixPath: use str(path)" in message, message


def test_a_non_json_value_inside_an_item_is_found_too() -> None:
    plan = WorkPlan(slots=[[Chunk("a", 1.0, ["ok", {"when": {1, 2}}])]])
    with pytest.raises(PlanError, match=r"chunk 'a' \(slot 0\) item 1 holds a set"):
        plan.to_json()


@pytest.mark.parametrize("slots", [1, 2, 5, 7])
def test_returning_balance_directly_gets_the_balance_hint_whatever_the_slot_count(slots: int) -> None:
    groups = agi_jupyter.core.plan.balance([(f"{n}.csv", float(n)) for n in range(8)], slots)
    with pytest.raises(PlanError) as caught:
        Broken({"returned": groups}).distribution({"127.0.0.1": slots})
    message = str(caught.value)
    assert "as balance() gives the items of each slot, is not a plan yet" in message, message
    assert "partition_key" not in message.split("\n", 1)[0], message


def test_a_one_element_list_is_not_called_elements() -> None:
    message = refusal([["a.csv"]])
    assert "returned a list of 1 element " in message, message
