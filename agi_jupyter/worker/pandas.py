"""A worker whose chunks produce DataFrames written to ``data_out`` as parquet or csv."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import BaseWorker

if TYPE_CHECKING:
    import pandas

OUTPUT_FORMATS = ("parquet", "csv")


def safe_name(label: str) -> str:
    """A chunk label as a file name: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "chunk"


class PandasWorker(BaseWorker):
    """Writes each chunk's concatenated frame to ``<data_out>/<chunk label>.<format>``.

    ``data_out`` and ``output_format`` come from the app's args when it has them, else from the
    class attributes below.
    """

    data_out: str = "results"
    output_format: str = "parquet"

    @property
    def output_dir(self) -> Path:
        return self.data_path(getattr(self.args, "data_out", self.data_out))

    @property
    def format(self) -> str:
        value = str(getattr(self.args, "output_format", self.output_format))
        if value not in OUTPUT_FORMATS:
            raise ValueError(f"output_format {value!r} must be one of {', '.join(OUTPUT_FORMATS)}")
        return value

    def work_done(self, frame: pandas.DataFrame | None) -> None:
        if frame is None or frame.empty:
            return
        self.outputs.append(self.write_frame(frame, safe_name(self.chunk_label)))

    def write_frame(self, frame: pandas.DataFrame, name: str) -> Path:
        """Write ``frame`` as ``<data_out>/<name>.<format>`` atomically and return the path."""
        folder = self.output_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.{self.format}"
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
