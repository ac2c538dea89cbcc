"""This app: a DAG plan, and the whole DAG run by one worker with correct results (run: pytest)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pytest
from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args

if TYPE_CHECKING:  # the engine imports the model from src/ itself; this name is for type checkers
    from app_template.app_args import AppTemplateArgs

APP = Path(__file__).resolve().parents[1]
REGIONS = ["north", "south", "east"]
SMALL: dict[str, Any] = {"regions": REGIONS, "days": 30}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgiEnv:
    """The app with its data and logs in a temporary folder."""
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    monkeypatch.setenv("AGI_LOG_DIR", str(tmp_path / "log"))
    return AgiEnv(APP)


def app_args(env: AgiEnv, overrides: dict[str, Any] | None = None) -> AppTemplateArgs:
    """The validated arguments: ``[args]`` of the settings, then ``overrides``."""
    return cast("AppTemplateArgs", load_args(env, overrides))


def test_plan_is_a_dag_of_steps_over_the_slots(env: AgiEnv) -> None:
    args = app_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 2})
    assert plan.dag is not None and len(plan.dag) == 2 * len(REGIONS) + 4
    assert plan.dag["combine"] == ["clean_north", "clean_south", "clean_east"]
    assert plan.dag["report"] == ["totals", "daily"]
    order = plan.step_order()
    assert order.index("clean_east") > order.index("generate_east") and order[-1] == "report"


def test_one_worker_runs_the_whole_dag_correctly(env: AgiEnv) -> None:
    args = app_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 1})
    items = [chunk.items[0] for chunk in reversed(plan.slots[0])]  # the worker puts them in order
    worker = env.worker_class_object()(args, share_dir=env.share_dir)
    worker.run([("dag", items)])
    expected = {}
    for region in args.regions:
        raw = worker.results[f"generate_{region}"]
        valid = raw[raw["amount"] >= 0]
        assert 0 < len(valid) < len(raw) == args.days
        expected[region] = round(float(valid["amount"].sum()), 6)
    report = pd.read_parquet(env.data_path(args.data_out) / "report.parquet")
    assert {row.region: round(row.total, 6) for row in report.itertuples()} == expected
    assert report["share"].sum() == pytest.approx(1.0)
