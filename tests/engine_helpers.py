"""Helpers shared by the engine tests: small arguments per example app, output snapshots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args

SMALL: dict[str, dict[str, Any]] = {
    "flight": {"flights": 6},
    "mandelbrot": {"width": 48, "height": 32, "bands": 8, "max_iter": 48},
    "sensors": {"stations": ["north", "south"], "days": 6},
}


def output_dir(env: AgiEnv, params: dict[str, Any]) -> Path:
    return env.data_path(load_args(env, params).data_out)


def snapshot(folder: Path) -> dict[str, list[tuple]]:
    """Every output file's rows, sorted, as plain tuples: equal snapshots mean equal outputs."""
    result = {}
    for path in sorted(folder.glob("*.parquet")) + sorted(folder.glob("*.csv")):
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        rows = [tuple(_plain(value) for value in row) for row in frame.itertuples(index=False)]
        result[path.name] = sorted(rows, key=repr)
    return result


def _plain(value: Any) -> Any:
    """Floats rounded (modes may sum in another order) and NaN made comparable."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else round(value, 9)
    return value


def clear(folder: Path) -> None:
    for path in folder.glob("*"):
        if path.is_file():
            path.unlink()
