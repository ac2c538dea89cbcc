"""The worker hooks and the order they run in.

For one run, a worker slot calls ``start()`` once, then ``work_init()``, ``pool_init(vars)``
once per pool process (once in-process without a pool), ``work_pool(item)`` per work item,
``work_done(frame)`` per chunk with the concatenated item results, and ``stop()`` once.

A pool is kept warm between runs: its processes (and their workers, as ``pool_init`` left them)
serve the slot's next runs as long as the install, the arguments, the ``pool_vars`` and the pool
settings stay the same; any change starts a new pool, whose members call ``pool_init`` again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ..core.env import resolve_data_args, resolve_data_path, root_path

if TYPE_CHECKING:
    import pandas

logger = logging.getLogger(__name__)


def resolve_args(args: Any) -> Any:
    """Arguments as attributes: a pydantic model stays as it is, a mapping becomes a namespace."""
    if isinstance(args, Mapping):
        return SimpleNamespace(**args)
    return args


class BaseWorker:
    """Does the work of one worker slot.

    Parameters
    ----------
    args:
        The app's validated arguments (its pydantic model, or a mapping of the same values);
        available as ``self.args``, with ``data_in``, ``data_out`` and every field declared
        :data:`~agi_jupyter.DataPath` resolved under ``share_dir`` (absolute values unchanged).
    worker_id, worker_count:
        This slot's position among all slots of the run, for apps that shard by slot.
    share_dir:
        Root for relative data paths; default ``${AGI_SHARE_DIR}``. The engine passes the share
        dir the run was started with (every host sees the data at the same path).
    verbose:
        0 quiet, 1 normal, 2+ chatty.
    """

    def __init__(
        self,
        args: Any,
        *,
        worker_id: int = 0,
        worker_count: int = 1,
        share_dir: str | os.PathLike[str] | None = None,
        verbose: int = 1,
    ) -> None:
        self.share_dir = Path(share_dir).expanduser() if share_dir is not None else root_path("AGI_SHARE_DIR")
        self.args = resolve_data_args(resolve_args(args), self.share_dir)
        self.worker_id = worker_id
        self.worker_count = worker_count
        self.verbose = verbose
        self.chunk_label = ""
        self.outputs: list[Path] = []

    # ----- hooks an app overrides -------------------------------------------------------
    def start(self) -> None:
        """Once per run, before anything else: open connections, load reference data."""

    def work_init(self) -> None:
        """Once per run after ``start``: prepare shared state for the work items."""

    def pool_vars(self) -> dict[str, Any]:
        """What ``pool_init`` receives in each pool process (must be picklable)."""
        return {}

    def pool_init(self, vars: dict[str, Any]) -> None:  # noqa: A002 - the hook's public name
        """Once per pool process (or once in-process without a pool)."""

    def work_pool(self, item: Any) -> pandas.DataFrame | None:
        """Process one work item and return its results as a DataFrame, or None."""
        raise NotImplementedError(f"{type(self).__name__} must implement work_pool(item)")

    def work_done(self, frame: pandas.DataFrame | None) -> None:
        """Once per chunk with the concatenated results of its items."""

    def stop(self) -> None:
        """Once per run, at the end, even after a failure: release what ``start`` took."""

    # ----- helpers ----------------------------------------------------------------------
    def data_path(self, value: str | os.PathLike[str]) -> Path:
        """Any other path as a data path: relative under the share dir, absolute unchanged.

        ``self.args``' data paths are already resolved; calling this on them changes nothing.
        """
        return resolve_data_path(value, self.share_dir)

    def log(self, message: str, level: int = 1) -> None:
        """Print when ``verbose >= level``; the engine forwards worker output to the notebook."""
        if self.verbose >= level:
            print(f"[{type(self).__name__} {self.worker_id}] {message}", flush=True)

    # ----- driving ----------------------------------------------------------------------
    def process_chunk(
        self, items: Sequence[Any], label: str = "", map_items: Callable[[list[Any]], list[Any]] | None = None
    ) -> pandas.DataFrame | None:
        """Run ``work_pool`` on every item of one chunk, then ``work_done`` once with the results.

        ``map_items`` lets the engine send the items through a pool; results keep item order.
        """
        self.chunk_label = label or f"worker{self.worker_id}"
        ordered = self.order_items(items)
        frames = map_items(ordered) if map_items else [self.work_pool(item) for item in ordered]
        for item, result in zip(ordered, frames):
            self.check_result(item, result)
        frame = concat_frames(frames)
        self.work_done(frame)
        return frame

    def check_result(self, item: Any, result: Any) -> None:
        """Refuse a ``work_pool`` result this worker cannot use, naming the item (accepts all here)."""

    def order_items(self, items: Sequence[Any]) -> list[Any]:
        """The order a chunk's items run in; DAG workers sort by dependencies."""
        return list(items)

    def run(self, chunks: Sequence[tuple[str, Sequence[Any]]]) -> list[Path]:
        """Every hook in order over ``(label, items)`` chunks, in-process; returns output files.

        The engine adds pools, Cython and Dask around the same hooks; this is the plain path an
        app's own tests can call directly.
        """
        self.start()
        try:
            self.work_init()
            self.pool_init(self.pool_vars())
            for label, items in chunks:
                self.process_chunk(items, label)
        finally:
            self.stop()
        return list(self.outputs)


def concat_frames(frames: Sequence[Any]) -> Any:
    """Concatenate the non-empty DataFrames of a chunk; None when there are none."""
    present = [frame for frame in frames if frame is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    import pandas

    return pandas.concat(present, ignore_index=True)
