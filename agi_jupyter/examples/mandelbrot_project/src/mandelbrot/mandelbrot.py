"""Manager of the mandelbrot app: bands of rows, weighted by a coarse estimate of their cost.

Rows through the set cost up to ``max_iter`` iterations per pixel, rows far from it almost
nothing, so equal-height bands have very unequal costs: the planner samples each band on a
coarse grid and balances those estimates.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots

if TYPE_CHECKING:
    from .app_args import MandelbrotArgs

SAMPLES_PER_ROW = 24
SAMPLE_ITER = 64


class Mandelbrot(BaseManager):
    """Cuts the image into bands and balances their estimated iteration counts."""

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        a: MandelbrotArgs = self.args
        edges = [round(band * a.height / a.bands) for band in range(a.bands + 1)]
        chunks = []
        for start, stop in itertools.pairwise(edges):
            cost = self.estimate(start, stop)
            chunks.append(
                Chunk(f"rows_{start:05d}_{stop:05d}", round(cost, 1), [{"row_start": start, "row_stop": stop}])
            )
        return WorkPlan.balanced(
            chunks,
            len(worker_slots(workers)),
            partition_key="band",
            weights_key="estimated iterations",
            weights_unit="k",
        )

    def estimate(self, start: int, stop: int) -> float:
        """Thousands of iterations the band should take, from a coarse sample of its middle row."""
        a: MandelbrotArgs = self.args
        y = a.y_min + (start + stop) / 2 * (a.y_max - a.y_min) / a.height
        total = 0
        for column in range(SAMPLES_PER_ROW):
            x = a.x_min + (column + 0.5) * (a.x_max - a.x_min) / SAMPLES_PER_ROW
            total += _escape(complex(x, y), SAMPLE_ITER)
        fraction = total / (SAMPLES_PER_ROW * SAMPLE_ITER)
        return max(fraction, 0.01) * a.max_iter * a.width * (stop - start) / 1e3


def _escape(c: complex, limit: int) -> int:
    z = 0j
    for count in range(limit):
        z = z * z + c
        if z.real * z.real + z.imag * z.imag > 4.0:
            return count
    return limit
