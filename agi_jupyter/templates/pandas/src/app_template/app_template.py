"""Manager of the app_template app: plans one chunk per input file, weighted by its size.

The engine builds it with the validated arguments (``self.args``, where a relative ``data_in``
or ``data_out`` is already resolved under the share dir) and calls :meth:`build_distribution`
with the worker slots of the settings (CHECK DISTRIBUTE, RUN).
"""

from __future__ import annotations

from pathlib import Path

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots

from .inputs import input_files


class AppTemplate(BaseManager):
    """One chunk per input file; the balancer spreads the file sizes evenly over the slots."""

    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        folder = Path(self.args.data_in)
        files = input_files(folder, self.args.files, self.args.rows, self.args.seed)
        chunks = [Chunk(path.stem, round(path.stat().st_size / 1024, 1), [str(path)]) for path in files]
        return WorkPlan.balanced(
            chunks, len(worker_slots(workers)), partition_key="file", weights_key="size", weights_unit="KB"
        )
