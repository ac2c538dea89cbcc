"""Manager of the data paths test app: one chunk per text file of data_in, read as self.args gives it."""

from pathlib import Path

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots


class Datapaths(BaseManager):
    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        files = sorted(Path(self.args.data_in).glob("*.txt"))
        chunks = [Chunk(path.stem, float(path.stat().st_size), [path.name]) for path in files]
        return WorkPlan.balanced(chunks, len(worker_slots(workers)))
