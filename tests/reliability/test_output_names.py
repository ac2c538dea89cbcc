"""No output overwrites another: colliding chunk output names are refused, every write is listed.

Issue 9 item 11: chunks labelled ``2024/01``, ``2024 01`` and ``2024_01`` all sanitise to
``2024_01`` and silently overwrote each other (3 chunks, 1 file in the result).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest
from engine_helpers import output_dir

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.app import BaseManager, Chunk, WorkPlan
from agi_jupyter.core.errors import PlanError, RunError
from agi_jupyter.core.plan import output_stem
from agi_jupyter.worker import PandasWorker

COLLIDING = ("2024/01", "2024 01", "2024_01")


class LabelledManager(BaseManager):
    """A planner that labels its chunks with the labels given in ``args['labels']``."""

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        chunks = [Chunk(label, 1.0, [number]) for number, label in enumerate(self.args["labels"])]
        return WorkPlan.balanced(chunks, sum(workers.values()))


@pytest.mark.parametrize("labels", [list(COLLIDING), ["12 files", "12 files"], ["North", "north"]])
def test_plan_validation_refuses_colliding_output_names_naming_both_chunks(labels: list[str]) -> None:
    with pytest.raises(PlanError) as caught:
        LabelledManager({"labels": ["first", *labels]}).distribution({"127.0.0.1": 2})
    message = str(caught.value)
    assert sum(message.count(repr(label)) for label in set(labels)) >= 2, message  # both chunks named
    assert "slot" in message and output_stem(labels[0]) in message


def test_distinct_output_names_pass_and_stems_follow_the_documented_rule() -> None:
    plan = LabelledManager({"labels": ["2024/01", "2024/02", "a b"]}).distribution({"127.0.0.1": 2})
    assert plan.chunk_count == 3
    assert output_stem("2024/01") == "2024_01" and output_stem("...") == "chunk"
    assert output_stem("2024/01", "task 7") == "2024_01~task_7"  # a suffix never meets a plain stem
    assert "~" not in output_stem("a~b")


def test_a_worker_refuses_to_overwrite_an_output_it_wrote_in_the_same_run(tmp_path: Path) -> None:
    class FixedName(PandasWorker):
        output_format = "csv"

        def work_pool(self, item: int) -> pd.DataFrame:
            return pd.DataFrame({"value": [item]})

        def work_done(self, frame: pd.DataFrame | None) -> None:
            self.outputs.append(self.write_frame(frame, "summary"))

    worker = FixedName({"data_out": "out"}, share_dir=tmp_path)
    with pytest.raises(RuntimeError, match=r"chunk 'second'.*summary\.csv.*chunk 'first'"):
        worker.run([("first", [1]), ("second", [2])])
    assert pd.read_csv(tmp_path / "out" / "summary.csv")["value"].tolist() == [1]


def relabel_flight_chunks(env: AgiEnv) -> None:
    """Make the flight planner label chunks with names that sanitise to one file name."""
    manager = env.manager_path
    manager.write_text(
        manager.read_text().replace(
            "chunks = [Chunk(path.stem,", f"chunks = [Chunk({COLLIDING!r}[int(path.stem[-1]) % 3],"
        )
    )


def test_a_run_over_colliding_labels_fails_before_writing_anything(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    relabel_flight_chunks(env)
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    with pytest.raises(PlanError, match="both write"):
        asyncio.run(AGI.run(env, mode=0, params={"flights": 3}))
    folder = output_dir(env, {"flights": 3})
    assert not folder.exists() or not list(folder.iterdir())


def test_the_result_lists_every_file_written_and_refuses_a_file_two_slots_wrote(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    worker = env.worker_path
    worker.write_text(
        worker.read_text()
        + ("\n    def work_done(self, frame):\n        self.outputs.append(self.write_frame(frame, 'summary'))\n")
    )
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    with pytest.raises(RunError) as caught:
        asyncio.run(AGI.run(env, mode=0, params={"flights": 2}))
    message = str(caught.value)
    assert "summary.parquet" in message and "127.0.0.1#0" in message and "127.0.0.1#1" in message
