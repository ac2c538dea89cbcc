"""Manager of the probe test app: one chunk per item."""

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots


class Probe(BaseManager):
    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        chunks = [Chunk(f"item{n}", 1.0, [f"item{n}"]) for n in range(self.args.items)]
        return WorkPlan.balanced(chunks, len(worker_slots(workers)))
