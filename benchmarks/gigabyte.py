"""Gigabyte-input figures for benchmarks/RESULTS.md (never fails on a number).

The flight example on about 1 GB of generated logs (``--quick``: about 50 MB):

(a) python mode (``AGI.run`` mode 0, one process) vs a hand-written pandas loop over the same
    files in one process doing the same per-file work (read the CSV, the flight worker's
    summary, one parquet file per log): ratio, target <= 1.2;
(b) dask mode (mode 4) on the engine's local cluster of 2 workers vs python mode: speed-up
    (2 cores: the ideal is 2x).

The logs are the flight example's own generator (``flight.dataset``) sampled every second
instead of every 10 s (its module constant ``SAMPLE_SECONDS``; its args set only how many
flights), so a log is about 500 KB and 2,000 flights make about 1 GB. They are written once per
invocation, with both cores, into the run's temporary root (or ``--cache DIR``, kept and reused
by later invocations), and every run reads them from the page cache.

Run: ``.venv/bin/python benchmarks/gigabyte.py``. Medians of 3 (``--runs``), the three ways
interleaved; each way is warmed first on a small dataset. ``--quick``: 90 flights, one run each.
Each figure is printed on a line starting with its letter.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import seconds, temporary_roots

REPO = Path(__file__).resolve().parents[1]
FLIGHT_SRC = REPO / "agi_jupyter" / "examples" / "flight_project" / "src"
SEED = 2026
SAMPLE_SECONDS = 1
FULL_FLIGHTS, QUICK_FLIGHTS = 2000, 100
EARTH_RADIUS_KM = 6371.0
MIN_SPEED_KT = 30.0  # the app's default


# ----- data ---------------------------------------------------------------------------------------
def _generator() -> Any:
    if str(FLIGHT_SRC) not in sys.path:
        sys.path.insert(0, str(FLIGHT_SRC))
    from flight import dataset

    dataset.SAMPLE_SECONDS = SAMPLE_SECONDS  # read by flight_log() at each call
    return dataset


def _write_one(folder: str, number: int) -> int:
    dataset = _generator()
    path = Path(folder) / dataset._name(number)
    dataset._write_log(path, dataset.flight_log(number, SEED))
    return path.stat().st_size


def generate(folder: Path, flights: int) -> tuple[int, float]:
    """The generator's folder of ``flights`` logs (its manifest included); (bytes, seconds)."""
    dataset = _generator()
    folder.mkdir(parents=True, exist_ok=True)
    names = [dataset._name(number) for number in range(flights)]
    manifest = dataset.read_manifest(folder)
    complete = manifest and manifest.get("complete") and (manifest["flights"], manifest["seed"]) == (flights, SEED)
    if complete and all((folder / name).is_file() for name in names):
        return sum((folder / name).stat().st_size for name in names), 0.0
    if manifest is None and any(not path.name.startswith(".") for path in folder.iterdir()):
        raise SystemExit(f"{folder} holds files the flight generator did not write: give an empty folder")
    started = time.perf_counter()
    dataset._write_manifest(folder, names, flights, SEED, complete=False)
    if flights <= 16:  # the warm-up logs: not worth a pool
        sizes = [_write_one(str(folder), number) for number in range(flights)]
    else:
        with ProcessPoolExecutor(max_workers=2) as pool:
            sizes = list(pool.map(_write_one, [str(folder)] * flights, range(flights), chunksize=8))
    dataset._write_manifest(folder, names, flights, SEED, complete=True)
    return sum(sizes), time.perf_counter() - started


# ----- the hand-written baseline ------------------------------------------------------------------
def summary(log: pd.DataFrame) -> pd.DataFrame:
    """The flight worker's summary of one log, written out by hand."""
    airborne = log[log["speed_kt"] >= MIN_SPEED_KT]
    lat, lon = np.radians(airborne["lat"].to_numpy()), np.radians(airborne["lon"].to_numpy())
    step = np.sin(np.diff(lat) / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(np.diff(lon) / 2) ** 2
    times = pd.to_datetime(airborne["time"])
    return pd.DataFrame(
        [
            {
                "flight": log["flight"].iat[0],
                "origin": log["origin"].iat[0],
                "destination": log["destination"].iat[0],
                "samples": len(log),
                "airborne_s": (times.iat[-1] - times.iat[0]).total_seconds() if len(times) else 0.0,
                "distance_km": float(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(step)).sum()),
                "max_alt_ft": float(airborne["alt_ft"].max()) if len(airborne) else 0.0,
                "mean_speed_kt": float(airborne["speed_kt"].mean()) if len(airborne) else 0.0,
            }
        ]
    )


def pandas_loop(logs: list[Path], out: Path) -> None:
    """Read each CSV, summarise it, write ``<out>/<stem>.parquet``: one process, nothing else."""
    out.mkdir(parents=True, exist_ok=True)
    for path in logs:
        summary(pd.read_csv(path)).to_parquet(out / f"{path.stem}.parquet", index=False)


def read_all(folder: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))]
    return pd.concat(frames, ignore_index=True).sort_values("flight", ignore_index=True)


# ----- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FLIGHTS} flights (~50 MB), one run each")
    parser.add_argument("--flights", type=int, help=f"flight logs to generate (default {FULL_FLIGHTS})")
    parser.add_argument("--runs", type=int, help="runs of each way (default 3, 1 with --quick)")
    parser.add_argument("--cache", type=Path, help="keep the logs in this folder and reuse them next time")
    options = parser.parse_args()
    flights = options.flights or (QUICK_FLIGHTS if options.quick else FULL_FLIGHTS)
    runs = options.runs or (1 if options.quick else 3)

    root = temporary_roots("agi-bench-gigabyte-")
    from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
    from agi_jupyter.core.env import EXAMPLES_PATH

    try:
        logs_dir = options.cache.resolve() if options.cache else root / "logs"
        size, generating = generate(logs_dir, flights)
        made = f"generated in {generating:.1f} s" if generating else "reused"
        print(f"data: {flights} flight logs, {size / 1e6:.0f} MB ({made}) in {logs_dir}")
        logs = [logs_dir / f"flight_{number:04d}.csv" for number in range(flights)]

        apps = root / "apps"
        shutil.copytree(EXAMPLES_PATH, apps, ignore=shutil.ignore_patterns("__pycache__", "tests"))
        env = AgiEnv("flight", apps_path=apps)
        asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
        engine_out = {Mode(0): root / "out-python", Mode.DASK: root / "out-dask"}
        big = {"flights": flights, "seed": SEED, "data_in": str(logs_dir)}

        def run(mode: Mode, **params: object) -> None:
            asyncio.run(AGI.run(env, RunRequest(mode=mode, params=params)))

        warm = root / "warm"
        pandas_loop(generate_small(warm), root / "out-warm")  # imports and first calls
        for mode in engine_out:  # the warm worker process, the local Dask cluster
            run(mode, flights=4, seed=SEED, data_in=str(warm), data_out=str(root / "out-warm" / str(int(mode))))

        samples: dict[str, list[float]] = {"loop": [], "python": [], "dask": []}
        for _ in range(runs):
            samples["loop"].append(seconds(lambda: pandas_loop(logs, root / "out-loop")))
            samples["python"].append(seconds(lambda: run(Mode(0), **big, data_out=str(engine_out[Mode(0)]))))
            samples["dask"].append(seconds(lambda: run(Mode.DASK, **big, data_out=str(engine_out[Mode.DASK]))))
        loop, python, dask = (statistics.median(samples[way]) for way in ("loop", "python", "dask"))

        expected = read_all(root / "out-loop")
        same = all(read_all(folder).equals(expected) for folder in engine_out.values())
        note = f"median of {runs}" if runs > 1 else "1 run each"
        print(
            f"(a) {flights} logs, {size / 1e6:.0f} MB: python mode {python:.2f} s, hand-written pandas loop "
            f"{loop:.2f} s, ratio {python / loop:.2f} (target <= 1.2; {note})"
        )
        print(
            f"(b) dask mode on 2 local workers {dask:.2f} s vs python mode {python:.2f} s: "
            f"speed-up {python / dask:.2f}x (ideal 2x on 2 cores; {note})"
        )
        print(f"outputs: {len(expected)} summaries, python mode, dask mode and the loop identical: {same}")
        print("samples (s): " + ", ".join(f"{way} {[round(s, 2) for s in values]}" for way, values in samples.items()))
    finally:
        AGI.close()
        shutil.rmtree(root, ignore_errors=True)


def generate_small(folder: Path) -> list[Path]:
    """Four short logs for the warm-up runs."""
    generate(folder, 4)
    return [folder / f"flight_{number:04d}.csv" for number in range(4)]


if __name__ == "__main__":
    main()
