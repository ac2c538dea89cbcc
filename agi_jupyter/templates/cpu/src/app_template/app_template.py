"""Manager of this app: equal ranges of numbers, weighted by their estimated cost.

Testing ``n`` by trial division costs up to ``sqrt(n)`` steps, so equal ranges cost more the
higher they go: each block is weighted by that estimate and the balancer evens the slots out.
"""

from __future__ import annotations

import itertools
import math

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots


def edges(start: int, stop: int, count: int) -> list[int]:
    """``count + 1`` increasing bounds cutting ``[start, stop)`` into near-equal ranges."""
    return [start + round(part * (stop - start) / count) for part in range(count + 1)]


class AppTemplate(BaseManager):
    """Cuts ``[0, limit)`` into blocks (chunks) of parts (work items)."""

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        chunks = []
        for start, stop in itertools.pairwise(edges(0, self.args.limit, self.args.blocks)):
            items = [{"start": a, "stop": b} for a, b in itertools.pairwise(edges(start, stop, self.args.parts))]
            cost = (stop - start) * math.sqrt((start + stop) / 2) / 1e6
            chunks.append(Chunk(f"numbers_{start:012d}_{stop:012d}", round(cost, 3), items))
        slots = len(worker_slots(workers))
        return WorkPlan.balanced(
            chunks, slots, partition_key="block", weights_key="estimated divisions", weights_unit="M"
        )
