"""Worker of the mandelbrot app, in Cython's typed pure-Python mode.

Run as plain Python the annotations are ignored; compiled by the cython mode they become C
types and the inner loop runs at C speed. Keep it valid for both.
"""

from __future__ import annotations

from typing import Any

import cython
import pandas as pd

from agi_jupyter.worker import PandasWorker


@cython.ccall
@cython.cdivision(True)
def row_statistics(
    y: cython.double, x_min: cython.double, step: cython.double, width: cython.int, max_iter: cython.int
) -> tuple[int, int]:
    """(pixels inside the set, total iterations) for one row of the image."""
    inside: cython.int = 0
    total: cython.longlong = 0
    column: cython.int
    count: cython.int
    x: cython.double
    zr: cython.double
    zi: cython.double
    zr2: cython.double
    zi2: cython.double
    for column in range(width):
        x = x_min + (column + 0.5) * step
        zr = 0.0
        zi = 0.0
        zr2 = 0.0
        zi2 = 0.0
        count = 0
        while count < max_iter and zr2 + zi2 <= 4.0:
            zi = 2.0 * zr * zi + y
            zr = zr2 - zi2 + x
            zr2 = zr * zr
            zi2 = zi * zi
            count += 1
        total += count
        if count == max_iter:
            inside += 1
    return inside, total


def compiled() -> bool:
    """True when this module runs as the Cython extension."""
    return cython.compiled


class MandelbrotWorker(PandasWorker):
    """Computes per-row statistics of one band of rows per work item."""

    def work_pool(self, item: dict[str, Any]) -> pd.DataFrame:
        a = self.args
        step_x = (a.x_max - a.x_min) / a.width
        step_y = (a.y_max - a.y_min) / a.height
        rows = []
        for row in range(item["row_start"], item["row_stop"]):
            y = a.y_min + (row + 0.5) * step_y
            inside, total = row_statistics(y, a.x_min, step_x, a.width, a.max_iter)
            rows.append({"row": row, "inside": inside, "iterations": total, "mean_iterations": total / a.width})
        return pd.DataFrame(rows)
