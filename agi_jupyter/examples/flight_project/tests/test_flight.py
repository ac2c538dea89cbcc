"""The flight app: deterministic logs, a size-balanced plan, and correct per-flight summaries."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args
from agi_jupyter.core.plan import lower_bound

if TYPE_CHECKING:  # app_args.py as mypy names it; the engine imports it from src/ as flight.app_args
    from agi_jupyter.examples.flight_project.src.flight.app_args import FlightArgs

APP = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgiEnv:
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    return AgiEnv(APP)


def flight_args(env: AgiEnv, overrides: dict[str, Any] | None = None) -> FlightArgs:
    """``load_args`` typed as the app's own model: exactly the class the engine loaded from src/."""
    args = load_args(env, overrides)
    assert type(args) is env.args_model() and type(args).__name__ == "FlightArgs"
    return cast("FlightArgs", args)


def test_plan_covers_every_log_once_weighted_by_size(env: AgiEnv) -> None:
    args = flight_args(env, {"flights": 30})
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 2, "localhost": 1})
    files = sorted(env.data_path(args.data_in).glob("flight_*.csv"))
    assert len(files) == 30 and len(plan.slots) == 3
    chunks = [chunk for slot in plan.slots for chunk in slot]
    assert sorted(item for chunk in chunks for item in chunk.items) == sorted(map(str, files))
    for chunk in chunks:
        assert chunk.weight == pytest.approx(Path(chunk.items[0]).stat().st_size / 1024, abs=0.05)
    assert (plan.partition_key, plan.weights_key, plan.weights_unit) == ("file", "size", "KB")
    assert max(plan.loads) <= 1.05 * lower_bound([c.weight for c in chunks], 3)


def test_generated_logs_are_deterministic(tmp_path: Path) -> None:
    ensure_dataset = AgiEnv(APP).import_module("flight.dataset").ensure_dataset
    first = ensure_dataset(tmp_path / "a", 3, seed=11)
    second = ensure_dataset(tmp_path / "b", 3, seed=11)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert first[0].read_bytes() != ensure_dataset(tmp_path / "c", 1, seed=12)[0].read_bytes()


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def test_worker_summarises_one_chunk_correctly(env: AgiEnv) -> None:
    args = flight_args(env, {"flights": 6, "output_format": "csv"})
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 2})
    chunk = plan.slots[0][0]
    worker = env.worker_class_object()(args, share_dir=env.share_dir)
    outputs = worker.run([(chunk.label, chunk.items)])
    assert outputs == [env.data_path(args.data_out) / f"{chunk.label}.csv"]
    summary = pd.read_csv(outputs[0])
    log = pd.read_csv(chunk.items[0])
    airborne = log[log["speed_kt"] >= args.min_speed_kt].reset_index(drop=True)
    expected = sum(
        haversine_km(airborne.lat[i], airborne.lon[i], airborne.lat[i + 1], airborne.lon[i + 1])
        for i in range(len(airborne) - 1)
    )
    row = summary.iloc[0]
    assert row["flight"] == log["flight"][0] and row["samples"] == len(log)
    assert row["distance_km"] == pytest.approx(expected, rel=1e-9)
    from flight.dataset import AIRPORTS

    route = haversine_km(*AIRPORTS[row["origin"]], *AIRPORTS[row["destination"]])
    assert row["distance_km"] == pytest.approx(route, rel=0.01)
    assert row["max_alt_ft"] == airborne["alt_ft"].max() > 30000
