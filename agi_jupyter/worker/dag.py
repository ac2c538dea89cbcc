"""A worker whose work items are named steps with dependencies.

Each item is ``{"step": name, "deps": [...], **params}``. A step gets the frames of the steps it
depends on; its own frame is kept in memory and written to ``data_out`` so that a step running
on another worker (or later) can read it. Within a chunk, steps run in dependency order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..core.plan import topological_order
from .pandas import PandasWorker, safe_name

if TYPE_CHECKING:
    import pandas

logger = logging.getLogger(__name__)


class DagWorker(PandasWorker):
    """Runs DAG steps; apps implement :meth:`run_step`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.results: dict[str, pandas.DataFrame] = {}

    def run_step(
        self, step: str, inputs: dict[str, pandas.DataFrame], params: dict[str, Any]
    ) -> pandas.DataFrame | None:
        """Compute one step from the frames of its dependencies."""
        raise NotImplementedError(f"{type(self).__name__} must implement run_step(step, inputs, params)")

    def process_chunk(self, items: Sequence[Any], label: str = "", map_items: Any = None) -> None:
        """Run the chunk's steps; a step's output counts even when a pool member wrote it."""
        super().process_chunk(items, label, map_items)
        for item in items:
            path = self.output_dir / f"{safe_name(item['step'])}.{self.format}"
            if path.is_file() and path not in self.outputs:
                self.outputs.append(path)

    def order_items(self, items: Sequence[Any]) -> list[Any]:
        by_step = {item["step"]: item for item in items}
        local = {name: [d for d in item.get("deps", []) if d in by_step] for name, item in by_step.items()}
        return [by_step[name] for name in topological_order(local)]

    def work_pool(self, item: dict[str, Any]) -> None:
        name = item["step"]
        params = {key: value for key, value in item.items() if key not in ("step", "deps")}
        inputs = {dep: self.step_result(dep) for dep in item.get("deps", [])}
        frame = self.run_step(name, inputs, params)
        if frame is not None:
            self.results[name] = frame
            self.outputs.append(self.write_frame(frame, safe_name(name)))
        return None

    def step_result(self, name: str) -> pandas.DataFrame:
        """A finished step's frame: from memory, else from the file its worker wrote."""
        if name not in self.results:
            try:
                self.results[name] = self.read_frame(safe_name(name))
            except FileNotFoundError:
                raise RuntimeError(
                    f"step {name!r} has not produced its output yet (looked in {self.output_dir})"
                ) from None
        return self.results[name]
