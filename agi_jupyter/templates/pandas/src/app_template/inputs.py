"""The input files: the user's own ``.csv`` files in ``data_in``, or sample files written there.

Sample files are written only into a folder without any ``.csv`` file, each one whole through a
rename, so a user's file is never overwritten. Replace :func:`sample_orders` with your own data,
or just put your files in ``data_in``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

CATEGORIES = ("books", "games", "music", "tools", "toys")
COLUMNS = ("order_id", "category", "quantity", "unit_price")


def input_files(folder: Path, files: int, rows: int, seed: int) -> list[Path]:
    """The ``.csv`` files of ``folder``, sorted; sample files are written first when it has none."""
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(path for path in folder.glob("*.csv") if path.is_file())
    if found:
        return found
    logger.info("%s has no .csv file: writing %d sample files", folder, files)
    written = []
    for number in range(files):
        path = folder / f"orders_{number:04d}.csv"
        temporary = folder / f".{path.name}.{os.getpid()}.tmp"
        sample_orders(number, rows, seed).to_csv(temporary, index=False)
        os.replace(temporary, path)
        written.append(path)
    return written


def sample_orders(number: int, rows: int, seed: int) -> pd.DataFrame:
    """One sample file of orders; files differ in length, so the planner has sizes to balance."""
    rng = np.random.default_rng([seed, number])
    count = int(rng.integers(rows // 2, rows * 2))
    return pd.DataFrame(
        {
            "order_id": np.arange(count) + number * 10_000_000,
            "category": rng.choice(CATEGORIES, size=count),
            "quantity": rng.integers(1, 10, size=count),
            "unit_price": np.round(rng.uniform(1.0, 100.0, size=count), 2),
        }
    )
