"""Worker of the sensors app: each DAG step is a method ``step_<kind>``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from agi_jupyter.worker import DagWorker

ERROR_CODE = 999.0  # what a faulty sensor reports


def readings(station: str, days: int, seed: int) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Hourly temperatures with a daily cycle, gaps, error codes and a few real heat events.

    Returns the raw frame and the times of the injected heat events (what ``anomalies`` must find).
    """
    rng = np.random.default_rng([seed, sum(map(ord, station))])
    hours = days * 24
    time = pd.date_range("2026-01-01", periods=hours, freq="h")
    base = rng.uniform(5, 15) + 6 * np.sin((time.hour.to_numpy() - 9) / 24 * 2 * np.pi)
    temperature = base + rng.normal(0, 0.8, hours)
    events = np.sort(rng.choice(np.arange(48, hours - 48), size=max(1, days // 20), replace=False))
    temperature[events] += 15.0
    gaps = rng.choice(hours, size=hours // 50, replace=False)
    gaps = gaps[~np.isin(gaps, events)]
    temperature[gaps] = np.nan
    errors = rng.choice(
        np.setdiff1d(np.arange(hours), np.concatenate([events, gaps])), size=hours // 100, replace=False
    )
    temperature[errors] = ERROR_CODE
    frame = pd.DataFrame({"time": time, "station": station, "temperature": temperature})
    return frame, list(time[events])


class SensorsWorker(DagWorker):
    """Runs ingest, clean, merge, daily, anomalies and report steps."""

    def run_step(self, step: str, inputs: dict[str, pd.DataFrame], params: dict[str, Any]) -> pd.DataFrame:
        kind = step.split("_", 1)[0]
        method = getattr(self, f"step_{kind}", None)
        if method is None:
            raise ValueError(f"unknown step {step!r}")
        return method(inputs, **params)

    def step_ingest(self, inputs: dict[str, pd.DataFrame], station: str) -> pd.DataFrame:
        return readings(station, self.args.days, self.args.seed)[0]

    def step_clean(self, inputs: dict[str, pd.DataFrame], station: str) -> pd.DataFrame:
        frame = inputs[f"ingest_{station}"].copy()
        frame.loc[frame["temperature"] >= ERROR_CODE, "temperature"] = np.nan
        frame["temperature"] = frame["temperature"].interpolate(limit_direction="both")
        return frame

    def step_merge(self, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(inputs.values(), ignore_index=True).sort_values(["station", "time"], ignore_index=True)

    def step_daily(self, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
        frame = inputs["merge"].assign(day=lambda f: pd.to_datetime(f["time"]).dt.normalize())
        return frame.groupby(["station", "day"])["temperature"].agg(["mean", "min", "max"]).reset_index()

    def step_anomalies(self, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
        frame = inputs["merge"].copy()
        hour = pd.to_datetime(frame["time"]).dt.hour
        # residual from each station's typical value at that hour, scaled by a robust spread
        typical = frame.groupby([frame["station"], hour])["temperature"].transform("median")
        residual = frame["temperature"] - typical
        spread = residual.groupby(frame["station"]).transform(lambda r: 1.4826 * (r - r.median()).abs().median())
        frame["z"] = residual / spread
        return frame[frame["z"].abs() > self.args.z_threshold].reset_index(drop=True)

    def step_report(self, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
        daily, anomalies = inputs["daily"], inputs["anomalies"]
        report = daily.groupby("station").agg(
            days=("day", "nunique"), mean_temperature=("mean", "mean"), coldest=("min", "min"), hottest=("max", "max")
        )
        report["anomalies"] = anomalies.groupby("station").size().reindex(report.index, fill_value=0)
        return report.reset_index()
