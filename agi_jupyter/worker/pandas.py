"""A worker whose chunks produce DataFrames written to ``data_out`` as parquet or csv.

A chunk's file is ``<data_out>/<output_stem(label)>.<format>`` (the naming rule is in
:mod:`agi_jupyter.core.plan`). Plans never give two chunks the same name, and a worker also
refuses to write a file twice in one run (an app writing a fixed name from every chunk), so no
output silently replaces another.
"""

from __future__ import annotations

import logging
import os
import reprlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.plan import output_stem
from .base import BaseWorker

if TYPE_CHECKING:
    import pandas

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("parquet", "csv")


class OutputCollision(RuntimeError):
    """A write would replace a file this worker already wrote in the same run."""


def safe_name(label: str) -> str:
    """A chunk label as a file name (kept for apps that call it; see :func:`output_stem`)."""
    return output_stem(label)


class PandasWorker(BaseWorker):
    """Writes each chunk's concatenated frame to ``<data_out>/<chunk label>.<format>``.

    ``data_out`` and ``output_format`` come from the app's args when it has them, else from the
    class attributes below.
    """

    data_out: str = "results"
    output_format: str = "parquet"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written_by: dict[Path, str] = {}  # output -> label of the chunk that wrote it

    @property
    def output_dir(self) -> Path:
        return self.data_path(getattr(self.args, "data_out", self.data_out))

    @property
    def format(self) -> str:
        value = str(getattr(self.args, "output_format", self.output_format))
        if value not in OUTPUT_FORMATS:
            raise ValueError(f"output_format {value!r} must be one of {', '.join(OUTPUT_FORMATS)}")
        return value

    def check_result(self, item: Any, result: Any) -> None:
        """Refuse a ``work_pool`` result that is not a DataFrame or None, naming the item.

        Otherwise a dict (say) failed later in pandas with a message naming neither.
        """
        if result is None or _is_frame(result):
            return
        raise TypeError(
            f"{type(self).__name__}.work_pool returned a {type(result).__name__} for item {reprlib.repr(item)}: "
            "a PandasWorker's work_pool returns a DataFrame or None"
        )

    def work_done(self, frame: pandas.DataFrame | None) -> None:
        if frame is None or frame.empty:
            return
        self.outputs.append(self.write_frame(frame, output_stem(self.chunk_label)))

    def write_frame(self, frame: pandas.DataFrame, name: str) -> Path:
        """Write ``frame`` as ``<data_out>/<name>.<format>`` atomically and return the path."""
        folder = self.output_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.{self.format}"
        if path in self.outputs:  # ``outputs`` is reset per run (and per service task)
            raise OutputCollision(
                f"chunk {self.chunk_label!r} would overwrite {path}, written earlier in this "
                f"run by chunk {self.written_by.get(path, '?')!r}: give each chunk its own "
                "output name (see agi_jupyter.core.plan.output_stem)"
            )
        self.written_by[path] = self.chunk_label
        temporary = folder / f".{name}.{os.getpid()}.tmp"
        writer: Any = frame.to_parquet if self.format == "parquet" else frame.to_csv
        writer(temporary, index=False)
        os.replace(temporary, path)
        return path

    def read_frame(self, name: str) -> pandas.DataFrame:
        """Read back ``<data_out>/<name>.<format>``."""
        import pandas

        path = self.output_dir / f"{name}.{self.format}"
        return pandas.read_parquet(path) if self.format == "parquet" else pandas.read_csv(path)


def _is_frame(value: Any) -> bool:
    import pandas

    return isinstance(value, pandas.DataFrame)
