"""The sensors app: a DAG plan, and the whole DAG run by one worker with correct results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args

if TYPE_CHECKING:  # app_args.py as mypy names it; the engine imports it from src/ as sensors.app_args
    from agi_jupyter.examples.sensors_project.src.sensors.app_args import SensorsArgs

APP = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgiEnv:
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    return AgiEnv(APP)


def sensors_args(env: AgiEnv, overrides: dict[str, Any] | None = None) -> SensorsArgs:
    """``load_args`` typed as the app's own model: exactly the class the engine loaded from src/."""
    args = load_args(env, overrides)
    assert type(args) is env.args_model() and type(args).__name__ == "SensorsArgs"
    return cast("SensorsArgs", args)


def test_plan_is_a_dag_of_steps_spread_over_slots(env: AgiEnv) -> None:
    args = sensors_args(env, {"stations": ["n", "s", "e"]})
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 2})
    assert plan.dag is not None and len(plan.dag) == 3 * 2 + 4
    assert plan.dag["merge"] == ["clean_n", "clean_s", "clean_e"] and plan.dag["report"] == ["daily", "anomalies"]
    order = plan.step_order()
    assert order.index("clean_s") > order.index("ingest_s") and order[-1] == "report"
    ingest_slots = {slot for slot, chunks in enumerate(plan.slots) for c in chunks if c.label.startswith("ingest")}
    assert ingest_slots == {0, 1}


def test_worker_runs_the_whole_dag_and_finds_the_injected_events(env: AgiEnv) -> None:
    args = sensors_args(env, {"stations": ["north", "south"], "days": 40})
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 1})
    [chunks] = plan.slots
    items = [chunk.items[0] for chunk in reversed(chunks)]  # the worker must reorder them
    worker = env.worker_class_object()(args, share_dir=env.share_dir)
    worker.run([("dag", items)])

    from sensors_worker.sensors_worker import ERROR_CODE, readings

    for station in args.stations:
        raw = worker.results[f"ingest_{station}"]
        assert raw["temperature"].isna().any() and (raw["temperature"] == ERROR_CODE).any()
        clean = worker.results[f"clean_{station}"]
        assert not clean["temperature"].isna().any() and clean["temperature"].max() < 60

    anomalies = worker.results["anomalies"]
    for station in args.stations:
        events = set(readings(station, args.days, args.seed)[1])
        found = set(pd.to_datetime(anomalies.loc[anomalies["station"] == station, "time"]))
        assert events <= found
        assert len(found - events) <= 2
    report = pd.read_parquet(env.data_path(args.data_out) / "report.parquet")
    assert sorted(report["station"]) == ["north", "south"]
    assert (report["days"] == args.days).all()
    assert report.set_index("station")["anomalies"].to_dict() == anomalies.groupby("station").size().to_dict()
