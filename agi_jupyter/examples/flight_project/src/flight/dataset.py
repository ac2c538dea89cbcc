"""Deterministic flight logs: great-circle tracks between real airports, one CSV per flight.

Routes differ in length, so files differ in size: that is what the planner balances on.

The generator never deletes or rewrites a file it did not write. It writes only into a folder
that is empty (hidden files such as ``.DS_Store`` aside) or does not exist yet, or one it owns.
It owns a folder when the folder holds its manifest, ``manifest.json``, with
``"generator": "agi-jupyter flight example"`` and the list of the files it wrote there (a
version-1 manifest of earlier releases, without that list, owns ``flight_0000.csv`` up to the
number of flights it records). In its own folder it removes
or replaces only the files its manifest lists; a user's file standing where a generated one
should go is an error, never overwritten. Any other folder holds the user's data: its visible
``.csv`` files are the flight logs, used as they are (``flights`` and ``seed`` then do not
apply), and nothing in it is written.

Generation survives being killed: the manifest lists every file it may write before it writes
one (marked incomplete), each file appears whole through a rename, and the manifest is marked
complete at the end, so a later call finishes the job in a folder it still owns.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from agi_jupyter.core.errors import PlanError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

AIRPORTS = {
    "LFPG": (49.0097, 2.5479),
    "EGLL": (51.4700, -0.4543),
    "EDDF": (50.0379, 8.5622),
    "LEMD": (40.4983, -3.5676),
    "LIRF": (41.8003, 12.2389),
    "EHAM": (52.3105, 4.7683),
    "LSZH": (47.4582, 8.5555),
    "LOWW": (48.1103, 16.5697),
    "EKCH": (55.6180, 12.6508),
    "LPPT": (38.7813, -9.1359),
    "EIDW": (53.4264, -6.2499),
    "LGAV": (37.9364, 23.9445),
}
SAMPLE_SECONDS = 10
MANIFEST = "manifest.json"
GENERATED = re.compile(r"flight_\d{4}\.csv")  # the only names the generator writes (see _name)
GENERATOR = "agi-jupyter flight example"
MANIFEST_VERSION = 2


class DatasetError(PlanError):
    """The logs folder cannot be used or filled without touching a user's file; names the file or folder."""


def ensure_dataset(folder: Path, flights: int, seed: int) -> list[Path]:
    """The flight logs to summarise: the user's own, or generated ones (written only if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    if manifest is None and not _is_empty(folder):
        return user_logs(folder)
    return _generated(folder, flights, seed, manifest or {"files": [], "complete": True})


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The generator's manifest in ``folder`` (normalised to version 2), or None when it has none."""
    path = folder / MANIFEST
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.debug("%s is not a manifest of the flight generator", path, exc_info=True)
        return None
    if not isinstance(content, dict):
        return None
    if content.get("generator") == GENERATOR and isinstance(content.get("files"), list):
        if not all(isinstance(name, str) and GENERATED.fullmatch(name) for name in content["files"]):
            logger.warning("%s lists files the generator never writes; the folder is not treated as its own", path)
            return None  # a copied or edited manifest must not make the generator delete other files
        return content
    if set(content) == {"flights", "seed", "version"} and content["version"] == 1:  # written by release 1
        names = [_name(number) for number in range(int(content["flights"]))]
        return {"flights": content["flights"], "seed": content["seed"], "files": names, "complete": True}
    return None


def user_logs(folder: Path) -> list[Path]:
    """The visible .csv files of a folder the generator does not own: the user's flight logs."""
    logs = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() == ".csv" and not path.name.startswith(".") and path.is_file()
    )
    if not logs:
        raise DatasetError(
            f"{folder} is not empty and holds no .csv flight logs, and the generator writes only "
            "into an empty folder or one it owns: add your logs there, empty it, or set data_in "
            "to a new folder"
        )
    logger.info(
        "%s: using the %d .csv files found there as they are (flights and seed do not apply)", folder, len(logs)
    )
    return logs


def _is_empty(folder: Path) -> bool:
    return not any(not path.name.startswith(".") for path in folder.iterdir())


def _name(number: int) -> str:
    return f"flight_{number:04d}.csv"


def _generated(folder: Path, flights: int, seed: int, manifest: dict[str, Any]) -> list[Path]:
    """Bring the generator's own folder to ``flights`` logs of ``seed``, touching only its files."""
    owned = set(manifest["files"])
    wanted = [_name(number) for number in range(flights)]
    files = [folder / name for name in wanted]
    same = (manifest.get("flights"), manifest.get("seed")) == (flights, seed) and manifest.get("complete")
    if same and all(path.is_file() for path in files):
        return files
    in_the_way = [str(folder / name) for name in wanted if name not in owned and (folder / name).exists()]
    if in_the_way:
        raise DatasetError(
            f"{', '.join(in_the_way)}: not written by the flight generator, which needs that name "
            f"for {flights} flights; move the file away or set data_in to another folder"
        )
    _write_manifest(folder, sorted(owned | set(wanted)), flights, seed, complete=False)
    for name in sorted(owned - set(wanted)):
        (folder / name).unlink(missing_ok=True)
    for number, path in enumerate(files):
        _write_log(path, flight_log(number, seed))
    _write_manifest(folder, wanted, flights, seed, complete=True)
    return files


def _write_manifest(folder: Path, files: list[str], flights: int, seed: int, *, complete: bool) -> None:
    content = {
        "generator": GENERATOR,
        "version": MANIFEST_VERSION,
        "flights": flights,
        "seed": seed,
        "complete": complete,
        "files": files,
    }
    _replace(folder / MANIFEST, lambda stream: json.dump(content, stream, indent=1))


def _write_log(path: Path, log: pd.DataFrame) -> None:
    _replace(path, lambda stream: log.to_csv(stream, index=False, float_format="%.6f"))


def _replace(path: Path, write: Any) -> None:
    """Write through a temporary file and a rename, so ``path`` is never seen half written."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            write(stream)
        os.chmod(temporary, 0o644)  # readable by workers of other users, like a plain write would be
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


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
    return pd.DataFrame(
        {
            "time": pd.date_range(start, periods=count, freq=f"{SAMPLE_SECONDS}s").strftime("%Y-%m-%dT%H:%M:%S"),
            "flight": f"AGI{number:04d}",
            "origin": codes[origin],
            "destination": codes[destination],
            "lat": lat + rng.normal(0, 1e-4, count),
            "lon": lon + rng.normal(0, 1e-4, count),
            "alt_ft": np.round(altitude + rng.normal(0, 20, count) * (altitude > 0)),
            "speed_kt": np.round(speed + rng.normal(0, 2, count), 1),
        }
    )


@overload
def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float: ...
@overload
def haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray: ...
def haversine_km(
    lat1: float | FloatArray, lon1: float | FloatArray, lat2: float | FloatArray, lon2: float | FloatArray
) -> float | FloatArray:
    """Great-circle distance in km, between scalars or arrays alike."""
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    distance: float | FloatArray = 2 * 6371.0 * np.arcsin(np.sqrt(a))  # numpy types the mixed case as Any
    return distance


def _interpolate(
    lat1: float, lon1: float, lat2: float, lon2: float, fraction: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Points along the great circle at the given fractions of the way."""
    p1, l1, p2, l2 = map(np.radians, (lat1, lon1, lat2, lon2))
    delta = 2 * np.arcsin(np.sqrt(np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2))
    a = np.sin((1 - fraction) * delta) / np.sin(delta)
    b = np.sin(fraction * delta) / np.sin(delta)
    x = a * np.cos(p1) * np.cos(l1) + b * np.cos(p2) * np.cos(l2)
    y = a * np.cos(p1) * np.sin(l1) + b * np.cos(p2) * np.sin(l2)
    z = a * np.sin(p1) + b * np.sin(p2)
    return np.degrees(np.arctan2(z, np.hypot(x, y))), np.degrees(np.arctan2(y, x))
