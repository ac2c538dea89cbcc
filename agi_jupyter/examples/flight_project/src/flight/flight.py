"""Manager of the flight app: one chunk per flight log, weighted by file size."""

from __future__ import annotations

from pathlib import Path

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots

from .dataset import ensure_dataset


class Flight(BaseManager):
    """Plans the summary of every flight log, balancing file sizes over the worker slots."""

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        folder = Path(self.args.data_in)  # already absolute: a relative data_in is taken under the share dir
        files = ensure_dataset(folder, self.args.flights, self.args.seed)
        chunks = [Chunk(path.stem, round(path.stat().st_size / 1024, 1), [str(path)]) for path in files]
        return WorkPlan.balanced(
            chunks, len(worker_slots(workers)), partition_key="file", weights_key="size", weights_unit="KB"
        )
