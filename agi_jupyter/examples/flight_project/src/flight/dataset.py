"""Deterministic flight logs: great-circle tracks between real airports, one CSV per flight.

Routes differ in length, so files differ in size: that is what the planner balances on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

AIRPORTS = {
    "LFPG": (49.0097, 2.5479), "EGLL": (51.4700, -0.4543), "EDDF": (50.0379, 8.5622),
    "LEMD": (40.4983, -3.5676), "LIRF": (41.8003, 12.2389), "EHAM": (52.3105, 4.7683),
    "LSZH": (47.4582, 8.5555), "LOWW": (48.1103, 16.5697), "EKCH": (55.6180, 12.6508),
    "LPPT": (38.7813, -9.1359), "EIDW": (53.4264, -6.2499), "LGAV": (37.9364, 23.9445),
}
SAMPLE_SECONDS = 10
MANIFEST = "manifest.json"


def ensure_dataset(folder: Path, flights: int, seed: int) -> list[Path]:
    """Write the logs unless a manifest says the same set is already there; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST
    wanted = {"flights": flights, "seed": seed, "version": 1}
    files = [folder / f"flight_{number:04d}.csv" for number in range(flights)]
    if manifest.is_file() and json.loads(manifest.read_text()) == wanted and all(f.is_file() for f in files):
        return files
    for old in folder.glob("flight_*.csv"):
        old.unlink()
    for number, path in enumerate(files):
        flight_log(number, seed).to_csv(path, index=False, float_format="%.6f")
    manifest.write_text(json.dumps(wanted))
    return files


def flight_log(number: int, seed: int) -> pd.DataFrame:
    """One flight: taxi, climb, cruise and descent sampled every 10 s, with GPS noise."""
    rng = np.random.default_rng([seed, number])
    codes = list(AIRPORTS)
    origin, destination = rng.choice(len(codes), size=2, replace=False)
    (lat1, lon1), (lat2, lon2) = AIRPORTS[codes[origin]], AIRPORTS[codes[destination]]
    distance_km = haversine_km(lat1, lon1, lat2, lon2)
    cruise_kt = rng.uniform(420, 480)
    airborne = int(distance_km / (cruise_kt * 1.852) * 3600 / SAMPLE_SECONDS) + 30
    taxi = int(rng.integers(30, 90))
    fraction = np.concatenate([np.zeros(taxi), np.linspace(0, 1, airborne), np.ones(taxi)])
    lat, lon = _interpolate(lat1, lon1, lat2, lon2, fraction)
    phase = np.minimum(np.linspace(0, 1, airborne) * 6, 1) * np.minimum((1 - np.linspace(0, 1, airborne)) * 6, 1)
    altitude = np.concatenate([np.zeros(taxi), phase * rng.uniform(33000, 39000), np.zeros(taxi)])
    speed = np.concatenate([np.full(taxi, 12.0), 150 + phase * (cruise_kt - 150), np.full(taxi, 12.0)])
    count = len(fraction)
    start = pd.Timestamp("2026-06-01") + pd.Timedelta(minutes=int(rng.integers(0, 60 * 24 * 30)))
    return pd.DataFrame({
        "time": pd.date_range(start, periods=count, freq=f"{SAMPLE_SECONDS}s").strftime("%Y-%m-%dT%H:%M:%S"),
        "flight": f"AGI{number:04d}",
        "origin": codes[origin],
        "destination": codes[destination],
        "lat": lat + rng.normal(0, 1e-4, count),
        "lon": lon + rng.normal(0, 1e-4, count),
        "alt_ft": np.round(altitude + rng.normal(0, 20, count) * (altitude > 0)),
        "speed_kt": np.round(speed + rng.normal(0, 2, count), 1),
    })


def haversine_km(lat1, lon1, lat2, lon2):  # noqa: ANN001, ANN201 - scalars or arrays alike
    """Great-circle distance in km."""
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def _interpolate(lat1: float, lon1: float, lat2: float, lon2: float, fraction: np.ndarray):  # noqa: ANN202
    """Points along the great circle at the given fractions of the way."""
    p1, l1, p2, l2 = map(np.radians, (lat1, lon1, lat2, lon2))
    delta = 2 * np.arcsin(np.sqrt(np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2))
    a = np.sin((1 - fraction) * delta) / np.sin(delta)
    b = np.sin(fraction * delta) / np.sin(delta)
    x = a * np.cos(p1) * np.cos(l1) + b * np.cos(p2) * np.cos(l2)
    y = a * np.cos(p1) * np.sin(l1) + b * np.cos(p2) * np.sin(l2)
    z = a * np.sin(p1) + b * np.sin(p2)
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))
