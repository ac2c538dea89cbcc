"""Worker of the flight app: summarises one flight log per work item."""

from __future__ import annotations

import numpy as np
import pandas as pd

from agi_jupyter.worker import PandasWorker

EARTH_RADIUS_KM = 6371.0


class FlightWorker(PandasWorker):
    """Reads a flight log and returns one row: route, airborne time, distance, peak altitude."""

    def work_pool(self, item: str) -> pd.DataFrame:
        log = pd.read_csv(item)
        airborne = log[log["speed_kt"] >= self.args.min_speed_kt]
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
