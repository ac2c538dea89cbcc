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


def break_flight_worker(env: AgiEnv, log_name: str, error: str) -> None:
    """Edit the flight worker so that the work item ``log_name`` raises ``error`` (e.g. "ValueError('x')")."""
    worker = env.worker_path
    worker.write_text(
        worker.read_text().replace(
            "        log = pd.read_csv(item)",
            f"        if item.endswith({log_name!r}):\n            raise {error}\n        log = pd.read_csv(item)",
        )
    )


def _plain(value: Any) -> Any:
    """Floats rounded (modes may sum in another order) and NaN made comparable."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else round(value, 9)
    return value


def clear(folder: Path) -> None:
    for path in folder.glob("*"):
        if path.is_file():
            path.unlink()


BIG_MANDELBROT = {"width": 400, "height": 4000, "bands": 400, "max_iter": 400}


def cancel_midway(env: AgiEnv, **fields: Any) -> tuple[bool | None, float, list[BaseException], list[int]]:
    """Start a long run in a thread, cancel it after its first chunk.

    Returns what ``cancel()`` said, how long the run took to end after it, what the run raised
    and the progress it reported.
    """
    import asyncio
    import threading
    import time

    from agi_jupyter import AGI
    from agi_jupyter.core.run import RunControl

    control = RunControl()
    progress: list[int] = []
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(AGI.run(env, control=control, on_progress=lambda done, total: progress.append(done), **fields))
        except BaseException as error:  # noqa: BLE001 - returned to the test
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while not progress or progress[-1] < 1:
        assert time.monotonic() < deadline and thread.is_alive(), "the run never made progress"
        time.sleep(0.05)
    started = time.monotonic()
    confirmed = control.cancel()
    thread.join(10)
    assert not thread.is_alive(), "the run did not end after cancel"
    return confirmed, time.monotonic() - started, outcome, progress
