"""Warm pools figures for benchmarks/RESULTS.md (never fails on a number).

A trivial app, made at run time in a temporary apps folder: one slot reads a 10,000-row CSV and
writes it as parquet. Each pool-mode run used to start a fresh process pool per slot (about half
a second); the pools now stay warm between runs (:mod:`agi_jupyter.core.pools`).

(a) a benchmark of the CPU modes 0-7 after a first one (target <= 0.5 s);
(b) a warm pool-mode run (mode 1) vs the same run without a pool (mode 0) (target <= 2x).

Without ``--quick`` both are then measured again with warm pools off (``AGI_WARM_POOLS=0``, a
fresh local worker process and Dask cluster): what every run paid before.

Run: ``.venv/bin/python benchmarks/pools.py [--quick]``. Medians of 5 (``--quick``: of 2),
measured within one run; everything under a temporary root.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from _common import median_seconds, temporary_roots

ROWS = 10_000

FILES = {
    "pyproject.toml": """
[project]
name = "csvpq"
version = "0.1.0"
description = "Benchmark app: one CSV to parquet."
requires-python = ">=3.11"
dependencies = []
""",
    "src/app_settings.toml": """
[args]
rows = 10000

[cluster]
pool = true
cython = true
cluster_enabled = true
rapids = false
scheduler = ""
workers = {"127.0.0.1" = 1}
pool_width = 2
verbose = 0
""",
    "src/csvpq/__init__.py": '"""Manager side of the benchmark app."""\n',
    "src/csvpq/app_args.py": '''"""Arguments of the benchmark app."""

from pydantic import BaseModel, Field


class CsvpqArgs(BaseModel):
    rows: int = Field(10_000, ge=1)
    data_in: str = "csvpq/in"
    data_out: str = "csvpq/out"
''',
    "src/csvpq/csvpq.py": '''"""Manager of the benchmark app: one CSV, made once, one chunk."""

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots


class Csvpq(BaseManager):
    def build_distribution(self, workers):
        folder = self.data_path(self.args.data_in)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"rows{self.args.rows}.csv"
        if not path.exists():
            lines = ["id,value,name"] + [f"{n},{n * 0.5},row{n}" for n in range(self.args.rows)]
            path.write_text("\\n".join(lines) + "\\n")
        return WorkPlan.balanced([Chunk("table", 1.0, [str(path)])], len(worker_slots(workers)))
''',
    "src/csvpq_worker/__init__.py": '"""Worker side of the benchmark app."""\n',
    "src/csvpq_worker/csvpq_worker.py": '''"""Worker of the benchmark app: the CSV as one frame, written as parquet."""

import pandas as pd

from agi_jupyter.worker import PandasWorker


class CsvpqWorker(PandasWorker):
    def work_pool(self, item):
        return pd.read_csv(item)
''',
}


def make_app(apps: Path) -> Path:
    """The benchmark app's folder under ``apps``."""
    root = apps / "csvpq_project"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n"))
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/pools.py")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (medians of 2)")
    options = parser.parse_args(argv)
    runs = 2 if options.quick else 5
    root = temporary_roots("agi-bench-pools-")
    os.environ["AGI_ENV_FILE"] = str(root / "agilab.env")
    from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
    from agi_jupyter.core.local import close_local_workers
    from agi_jupyter.core.modes import find_c_compiler

    apps = root / "apps"
    make_app(apps)
    try:
        env = AgiEnv("csvpq", apps_path=apps)
        cython = find_c_compiler() is not None
        modes = list(range(8)) if cython else [m for m in range(8) if not m & Mode.CYTHON]
        started = time.perf_counter()
        asyncio.run(AGI.install(env, modes_enabled=Mode.POOL | Mode.DASK | (Mode.CYTHON if cython else Mode(0))))
        install = time.perf_counter() - started

        def benchmark() -> dict[str, Any]:
            table = asyncio.run(AGI.run(env, RunRequest(benchmark=True, modes=modes)))
            assert isinstance(table, dict)
            return table

        def run(mode: int) -> None:
            asyncio.run(AGI.run(env, RunRequest(mode=mode)))

        # (a) every CPU mode, after a first benchmark that starts the local worker, cluster and pools
        started = time.perf_counter()
        benchmark()
        first = time.perf_counter() - started
        warm = median_seconds(benchmark, runs)
        label = "0-7" if cython else "0, 1, 4, 5 (no C compiler: no cython modes)"
        print(
            f"(a) benchmark of modes {label}, 10,000-row CSV -> parquet, one slot: {warm:.3f} s "
            f"(median of {runs} after a first benchmark of {first:.3f} s; target <= 0.5 s)"
        )

        # (b) a warm pool-mode run vs the same run without a pool, interleaved
        pooled: list[float] = []
        plain: list[float] = []
        for _ in range(runs):
            for mode, samples in ((Mode.POOL, pooled), (Mode(0), plain)):
                start = time.perf_counter()
                run(int(mode))
                samples.append(time.perf_counter() - start)
        pool_s, plain_s = statistics.median(pooled), statistics.median(plain)
        print(
            f"(b) warm pool-mode run {pool_s * 1000:.0f} ms vs the same run without a pool {plain_s * 1000:.0f} ms: "
            f"{pool_s / plain_s:.2f}x (median of {runs}; target <= 2x)"
        )
        print(f"    (install {install:.1f} s, not part of any figure)")
        if not options.quick:  # the same figures with warm pools off (AGI_WARM_POOLS=0), as before them
            AGI.close()
            close_local_workers()  # the local worker process and the Dask workers read the switch at start
            os.environ["AGI_WARM_POOLS"] = "0"
            benchmark()
            cold = median_seconds(benchmark, runs)
            print(f"(a) without warm pools (AGI_WARM_POOLS=0): {cold:.3f} s; warm pools save {cold / warm:.1f}x")
            cold_pool = median_seconds(lambda: run(int(Mode.POOL)), runs)
            print(
                f"(b) without warm pools: pool-mode run {cold_pool * 1000:.0f} ms, "
                f"{cold_pool / plain_s:.1f}x the plain run"
            )
    finally:
        AGI.close()
        close_local_workers()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
