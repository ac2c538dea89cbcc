"""Benchmark all modes: every allowed mode on the same plan, ranked, in ``benchmark.json``.

The file keeps one row per mode with its latest timing: a benchmark rewrites the rows of the
modes it ran, and a single RUN updates its own mode's row (marked ``single_run``), so the
Benchmark results always show the latest figure of every mode that ran.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable
from typing import Any

from .env import AgiEnv
from .files import write_json_atomic
from .logs import moment
from .modes import Capabilities, Mode, available_modes
from .run import RunResult
from .settings import AppSettings

logger = logging.getLogger(__name__)

BENCHMARK_SCHEMA = "agi.benchmark.v1"


def allowed_modes(env: AgiEnv, capabilities: Capabilities | None = None) -> list[Mode]:
    """Every mode the settings' toggles allow that this machine can run (0 always included)."""
    return available_modes(AppSettings.load(env.settings_path).cluster.mode, capabilities)


def human_seconds(seconds: float) -> str:
    """``0.042 s``, ``12.3 s``, ``2 min 05 s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:04.1f} s"


def row_of(result: RunResult, single_run: bool) -> dict[str, Any]:
    return {"mode": result.mode, "token": result.token, "label": result.label, "variant": result.variant,
            "nodes": result.nodes, "seconds": result.seconds, "timing": human_seconds(result.seconds),
            "status": "ok", "error": "", "single_run": single_run, "when": moment(), "where": platform.node()}


def failed_row(mode: Mode, error: BaseException, variant: str) -> dict[str, Any]:
    return {"mode": int(mode), "token": mode.token, "label": mode.label, "variant": variant, "nodes": 0,
            "seconds": None, "timing": "failed", "status": "failed", "error": str(error).splitlines()[0][:500],
            "single_run": False, "when": moment(), "where": platform.node()}


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order 1 = fastest successful mode; delta and delta % against it; failed rows last."""
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: (r["seconds"], r["mode"]))
    fastest = ok[0]["seconds"] if ok else None
    for order, row in enumerate(ok, start=1):
        row["order"] = order
        row["delta"] = round(row["seconds"] - fastest, 6)
        row["delta_percent"] = round(100 * row["delta"] / fastest, 1) if fastest else 0.0
    failed = sorted((r for r in rows if r["status"] != "ok"), key=lambda r: r["mode"])
    for row in failed:
        row.update(order=None, delta=None, delta_percent=None)
    return ok + failed


def load_table(env: AgiEnv) -> dict[str, Any] | None:
    """The app's benchmark.json, or None."""
    try:
        data = json.loads(env.benchmark_path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.debug("cannot read %s", env.benchmark_path, exc_info=True)
        return None
    return data if data.get("schema") == BENCHMARK_SCHEMA else None


def record(env: AgiEnv, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge ``rows`` (by mode) into benchmark.json, re-rank, write atomically, return the table."""
    previous = load_table(env)
    by_mode = {row["mode"]: row for row in (previous or {}).get("rows", [])}
    by_mode.update({row["mode"]: row for row in rows})
    table = {"schema": BENCHMARK_SCHEMA, "app": env.app, "target": env.target, "updated": moment(),
             "host": platform.node(), "python": platform.python_version(), "rows": rank(list(by_mode.values()))}
    env.benchmark_path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(env.benchmark_path, table, indent=1)
    return table


def benchmark(env: AgiEnv, modes: list[Mode], run_one: Callable[[Mode], RunResult],
              on_line: Callable[[str], None] | None = None,
              cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Run each mode with ``run_one``; a failing mode is recorded as failed and the others still run.

    A cancel ends the benchmark: the modes that finished are recorded, the rest keep their rows.
    """
    rows = []
    for number, mode in enumerate(modes, start=1):
        if cancelled():
            break
        if on_line:
            on_line(f"benchmark {number}/{len(modes)}: mode {mode.label}")
        try:
            rows.append(row_of(run_one(mode), single_run=False))
        except Exception as error:  # any failure is recorded; the other modes still run
            logger.debug("benchmark: mode %s failed", mode.label, exc_info=True)
            if cancelled():
                break
            rows.append(failed_row(mode, error, "cluster" if mode & Mode.DASK else "local"))
            if on_line:
                on_line(f"mode {mode.label} failed: {error}")
    return record(env, rows)
