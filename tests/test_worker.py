"""Worker families: hook order, failure handling, pandas outputs, DAG steps across workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from agi_jupyter.worker import BaseWorker, DagWorker, PandasWorker


class Recording(PandasWorker):
    def __init__(self, *args: Any, fail_on: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []
        self.fail_on = fail_on

    def start(self) -> None:
        self.calls.append("start")

    def work_init(self) -> None:
        self.calls.append("work_init")

    def pool_vars(self) -> dict[str, Any]:
        return {"factor": 10}

    def pool_init(self, vars: dict[str, Any]) -> None:  # noqa: A002
        self.calls.append(f"pool_init({vars['factor']})")
        self.factor = vars["factor"]

    def work_pool(self, item: int) -> pd.DataFrame | None:
        self.calls.append(f"work_pool({item})")
        if item == self.fail_on:
            raise ValueError(f"bad item {item}")
        return None if item < 0 else pd.DataFrame({"value": [item * self.factor]})

    def work_done(self, frame: pd.DataFrame | None) -> None:
        self.calls.append(f"work_done({None if frame is None else frame['value'].tolist()})")
        super().work_done(frame)

    def stop(self) -> None:
        self.calls.append("stop")


def test_hooks_run_in_the_documented_order(tmp_path: Path) -> None:
    worker = Recording({"data_out": str(tmp_path / "out"), "output_format": "csv"})
    outputs = worker.run([("first", [1, 2]), ("second", [-1, 3])])
    assert worker.calls == [
        "start",
        "work_init",
        "pool_init(10)",
        "work_pool(1)",
        "work_pool(2)",
        "work_done([10, 20])",
        "work_pool(-1)",
        "work_pool(3)",
        "work_done([30])",
        "stop",
    ]
    assert [path.name for path in outputs] == ["first.csv", "second.csv"]
    assert pd.read_csv(outputs[0])["value"].tolist() == [10, 20]


def test_stop_runs_after_a_failure(tmp_path: Path) -> None:
    worker = Recording({"data_out": str(tmp_path)}, fail_on=2)
    with pytest.raises(ValueError, match="bad item 2"):
        worker.run([("only", [1, 2, 3])])
    assert worker.calls[-1] == "stop" and "work_pool(3)" not in worker.calls


def test_relative_data_out_resolves_under_the_share_dir(tmp_path: Path) -> None:
    worker = Recording({"data_out": "app/out"}, share_dir=tmp_path)
    assert worker.output_dir == tmp_path / "app" / "out"
    worker.run([("a/b c", [4])])
    assert (tmp_path / "app" / "out" / "a_b_c.parquet").is_file()  # labels become safe names


def test_unknown_output_format_is_explained(tmp_path: Path) -> None:
    worker = Recording({"data_out": str(tmp_path), "output_format": "xlsx"})
    with pytest.raises(ValueError, match="xlsx"):
        worker.run([("a", [1])])


def test_base_worker_requires_work_pool() -> None:
    with pytest.raises(NotImplementedError, match="work_pool"):
        BaseWorker({}).process_chunk([1])


class Chain(DagWorker):
    def run_step(self, step: str, inputs: dict[str, pd.DataFrame], params: dict[str, Any]) -> pd.DataFrame:
        total = sum(int(frame["value"].sum()) for frame in inputs.values())
        return pd.DataFrame({"value": [total + params.get("add", 0)]})


def test_dag_steps_run_in_dependency_order_whatever_the_item_order(tmp_path: Path) -> None:
    worker = Chain({"data_out": str(tmp_path)})
    items = [
        {"step": "c", "deps": ["a", "b"]},
        {"step": "b", "deps": ["a"], "add": 2},
        {"step": "a", "deps": [], "add": 1},
    ]
    worker.run([("all", items)])
    assert worker.results["c"]["value"].tolist() == [1 + 3]
    assert sorted(path.name for path in worker.outputs) == ["a.parquet", "b.parquet", "c.parquet"]


def test_dag_step_reads_a_dependency_written_by_another_worker(tmp_path: Path) -> None:
    Chain({"data_out": str(tmp_path)}).run([("a", [{"step": "a", "deps": [], "add": 5}])])
    second = Chain({"data_out": str(tmp_path)})
    second.run([("b", [{"step": "b", "deps": ["a"], "add": 1}])])
    assert second.results["b"]["value"].tolist() == [6]


def test_missing_dependency_output_is_explained(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="step 'a' has not produced its output"):
        Chain({"data_out": str(tmp_path)}).run([("b", [{"step": "b", "deps": ["a"]}])])


class ReturnsDict(PandasWorker):
    def work_pool(self, item: str) -> Any:
        return {"value": [1]}


def test_a_work_pool_returning_something_else_than_a_frame_names_the_item_and_the_rule(tmp_path: Path) -> None:
    worker = ReturnsDict({"data_out": str(tmp_path)})
    with pytest.raises(TypeError) as caught:
        worker.run([("docs", ["doc3"])])
    message = str(caught.value)
    assert "ReturnsDict.work_pool returned a dict for item 'doc3'" in message, message
    assert "a PandasWorker's work_pool returns a DataFrame or None" in message, message
