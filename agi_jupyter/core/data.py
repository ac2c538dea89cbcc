"""The app's outputs as data: load a whole run, preview a file, export chosen columns to CSV.

This is what LOAD DATA and EXPORT of the Data tab call, and what a notebook cell can call
directly. Which files a run wrote is :mod:`agi_jupyter.core.outputs`; :func:`load_run` reads
one run's files into one frame (with a ``source_file`` column when there are several), up to a
row limit. An export goes to ``${AGILAB_EXPORT_ABS}/<target>/export.csv`` by default and is
written atomically, so a failed export never damages the one saved before.

An export is confined and non-destructive: its target must lie inside the app's export dir
(after ``..`` and symbolic links are resolved), must not lie in the app's output folder (an
export there would overwrite an output, or pass for one on the next LOAD DATA), and never
replaces an existing file unless the caller says ``overwrite=True`` (the Data tab's
"overwrite" box). The no-overwrite write is a hard link of the finished temporary file, which
fails if the name appeared meanwhile, so two exports racing for one name cannot both win.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .env import AgiEnv, root_path
from .files import place_new, write_text_atomic
from .outputs import OUTPUT_SUFFIXES, DataError, OutputFile, OutputRun, find_run, output_folder

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import BaseModel

logger = logging.getLogger(__name__)

ROW_LIMIT = 10_000
"""Rows :func:`load_run` reads by default: enough to look at, small enough for a kernel."""
SOURCE_COLUMN = "source_file"


@dataclass(frozen=True)
class Preview:
    """The first rows of one output file, with its shape and column types."""

    path: Path
    shape: tuple[int, int]
    dtypes: dict[str, str]
    head: pd.DataFrame = field(repr=False)
    modified: datetime

    @property
    def columns(self) -> list[str]:
        return list(self.dtypes)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: where, how many rows, which columns (in file order)."""

    path: Path
    rows: int
    columns: list[str]


@dataclass(frozen=True)
class LoadedRun:
    """The rows of one run's output files, as one frame, and how much of the run it holds.

    ``frame`` has at most ``limit`` rows (every row when ``limit`` is None), read from the files
    in name order, plus a ``source_file`` column (the file's path under the output folder) when
    the run has several files. ``total_rows`` counts every row of every file read; ``skipped``
    names the files that could not be read, and why.
    """

    run: OutputRun
    folder: Path
    frame: pd.DataFrame = field(repr=False)
    total_rows: int
    limit: int | None
    skipped: tuple[tuple[Path, str], ...] = ()

    @property
    def path(self) -> Path:
        """The run's newest file (what the tab names as the run's output)."""
        return self.run.newest

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.frame.shape[0]), int(self.frame.shape[1]))

    @property
    def columns(self) -> list[str]:
        return [str(column) for column in self.frame.columns]

    @property
    def dtypes(self) -> dict[str, str]:
        return {str(name): str(kind) for name, kind in self.frame.dtypes.items()}

    @property
    def modified(self) -> datetime:
        return datetime.fromtimestamp(self.run.finished)

    @property
    def truncated(self) -> bool:
        return len(self.frame) < self.total_rows

    @property
    def note(self) -> str:
        """``showing 10,000 of 48,312 rows`` when the limit cut the run short, else ``""``."""
        if not self.truncated:
            return ""
        return f"showing {len(self.frame):,} of {self.total_rows:,} rows (row limit {self.limit or 0:,})"


# ----- loading a run ------------------------------------------------------------------------------
def load_run(
    env: AgiEnv,
    run: OutputRun | str | None = None,
    *,
    limit: int | None = ROW_LIMIT,
    source_column: bool = True,
    args: BaseModel | Mapping[str, Any] | None = None,
) -> LoadedRun:
    """Every output file of one run as one frame: the latest run, or ``run`` (a run or its key).

    At most ``limit`` rows are kept (``None``: all), but every file is counted, so the result
    says how many rows the run has. ``source_column`` adds ``source_file`` (the file's path
    under the output folder), always by default, so a frame has the same columns whether the
    run wrote one file or many. A file that cannot be read is skipped and named in
    ``skipped``; when none can be read, :class:`DataError` names them.
    """
    chosen = run if isinstance(run, OutputRun) else find_run(env, run, args)
    folder = output_folder(env, args)
    return read_files(
        [item.path for item in chosen.files],
        run=chosen,
        folder=folder,
        limit=limit,
        source_column=source_column,
    )


def read_files(
    paths: Sequence[Path],
    *,
    run: OutputRun | None = None,
    folder: Path | None = None,
    limit: int | None = ROW_LIMIT,
    source_column: bool = True,
) -> LoadedRun:
    """Concatenate output files (parquet, csv, json) into one frame of at most ``limit`` rows."""
    import pandas as pd

    if limit is not None and limit < 0:
        raise DataError(f"row limit {limit} is negative: give 0 or more rows (or no limit)")
    if not paths:
        raise DataError("no output files to read")
    if run is None:
        files = tuple(OutputFile(Path(path), _modified(Path(path))) for path in paths)
        run = OutputRun(
            key="files", started=min(i.modified for i in files), finished=max(i.modified for i in files), files=files
        )
    base = folder or Path(os.path.commonpath([str(Path(path).parent) for path in paths]))
    parts: list[pd.DataFrame] = []
    skipped: list[tuple[Path, str]] = []
    total = 0
    for path in paths:
        path = Path(path)
        budget = None if limit is None else max(0, limit - sum(len(part) for part in parts))
        try:
            part, count = _read_part(path, budget)
        except DataError as error:
            skipped.append((path, str(error)))
            continue
        total += count
        if source_column:
            part.insert(0, _free_name(SOURCE_COLUMN, part.columns), _relative(path, base))
        parts.append(part)
    if not parts:
        problems = "; ".join(reason for _, reason in skipped)
        raise DataError(f"none of the {len(paths)} output file(s) of this run can be read: {problems}")
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    return LoadedRun(run=run, folder=base, frame=frame, total_rows=total, limit=limit, skipped=tuple(skipped))


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0  # reading it names the problem


def _relative(path: Path, folder: Path) -> str:
    try:
        return path.relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def _free_name(name: str, taken: Any) -> str:
    """``name``, or ``name_2``... when the data already has a column of that name."""
    existing = {str(column) for column in taken}
    candidate, number = name, 1
    while candidate in existing:
        number += 1
        candidate = f"{name}_{number}"
    return candidate


def _read_part(path: Path, budget: int | None) -> tuple[pd.DataFrame, int]:
    """At most ``budget`` rows of one file (all when None), and how many rows the file has."""
    suffix = _suffix(path)
    try:
        if suffix == ".parquet":
            return _parquet_part(path, budget)
        if suffix == ".csv":
            return _csv_part(path, budget)
        frame = _read_json(path)
        return (frame if budget is None else frame.head(budget)), len(frame)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist (was it removed?): LOAD DATA again") from None
    except (OSError, ValueError, ImportError) as error:
        raise DataError(f"{path}: cannot be read as {suffix[1:]} ({type(error).__name__}: {error})") from None


def _parquet_part(path: Path, budget: int | None) -> tuple[pd.DataFrame, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as handle:
        count = handle.metadata.num_rows
        if budget is None or budget >= count:
            return handle.read().to_pandas(), count
        batches, rows = [], 0
        for batch in handle.iter_batches(batch_size=max(1, min(budget, 65_536))):
            if rows >= budget:
                break
            batches.append(batch)
            rows += batch.num_rows
        table = (
            pa.Table.from_batches(batches, schema=handle.schema_arrow) if batches else handle.schema_arrow.empty_table()
        )
        return table.slice(0, budget).to_pandas(), count


def _csv_part(path: Path, budget: int | None) -> tuple[pd.DataFrame, int]:
    import pandas as pd

    if budget is None:
        frame = pd.read_csv(path)
        return frame, len(frame)
    frame = pd.read_csv(path, nrows=budget)
    if len(frame) < budget:  # the whole file fitted
        return frame, len(frame)
    count = sum(len(chunk) for chunk in pd.read_csv(path, usecols=[0], chunksize=200_000)) if len(frame.columns) else 0
    return frame, count


# ----- reading ------------------------------------------------------------------------------------
def load_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a whole output file (parquet, csv, json records or json lines) as a DataFrame."""
    import pandas as pd

    path = Path(path)
    suffix = _suffix(path)
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
        return _read_json(path)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist (was it removed?): LOAD DATA again") from None
    except (OSError, ValueError, ImportError) as error:
        raise DataError(f"{path}: cannot be read as {suffix[1:]} ({type(error).__name__}: {error})") from None


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise DataError(
            f"{path}: unsupported file type {path.suffix or '(none)'}; expected one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    return suffix


def _read_json(path: Path) -> pd.DataFrame:
    import pandas as pd

    with path.open("r", encoding="utf-8") as stream:
        start = stream.read(4096).lstrip()[:1]
    if start == "[":  # a list of records
        return pd.read_json(path, orient="records")
    try:  # one object per line
        return pd.read_json(path, lines=True)
    except ValueError:  # a single object: columns -> values
        return pd.read_json(path)


def preview(path: Path | str, rows: int = 10) -> Preview:
    """Shape, column types and the first ``rows`` rows, reading no more than needed.

    Parquet answers shape and types from its footer and reads only the first batch; a CSV is
    counted in chunks of one column (its types are those pandas infers from the first rows);
    JSON has no cheap path and is read whole.
    """
    path = Path(path)
    suffix = _suffix(path)
    try:
        modified = datetime.fromtimestamp(path.stat().st_mtime)
        if suffix == ".parquet":
            head, count, width, dtypes = _parquet_head(path, rows)
        elif suffix == ".csv":
            head, count, width, dtypes = _csv_head(path, rows)
        else:
            frame = load_frame(path)
            head, (count, width), dtypes = frame.head(rows), frame.shape, frame.dtypes
    except FileNotFoundError:
        raise DataError(f"{path} does not exist (was it removed?): LOAD DATA again") from None
    except (OSError, ValueError, ImportError) as error:
        raise DataError(f"{path}: cannot be read as {suffix[1:]} ({type(error).__name__}: {error})") from None
    return Preview(
        path=path,
        shape=(int(count), int(width)),
        dtypes={str(name): str(kind) for name, kind in dtypes.items()},
        head=head,
        modified=modified,
    )


def _parquet_head(path: Path, rows: int) -> tuple[pd.DataFrame, int, int, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as handle:
        schema = handle.schema_arrow
        batch = next(handle.iter_batches(batch_size=max(1, rows)), None)
        table = pa.Table.from_batches([batch], schema=schema) if batch is not None else schema.empty_table()
        head = table.slice(0, rows).to_pandas()
        return head, handle.metadata.num_rows, len(head.columns), head.dtypes


def _csv_head(path: Path, rows: int) -> tuple[pd.DataFrame, int, int, Any]:
    import pandas as pd

    head = pd.read_csv(path, nrows=max(1, rows))
    count = 0
    if len(head.columns):
        count = sum(len(chunk) for chunk in pd.read_csv(path, usecols=[0], chunksize=200_000))
    return head.head(rows), count, len(head.columns), head.dtypes


# ----- export -------------------------------------------------------------------------------------
def export_target(
    target: Path | str | None = None,
    env: AgiEnv | None = None,
    *,
    overwrite: bool = False,
    source: str | os.PathLike[str] | None = None,
) -> Path:
    """Where an export goes, checked before anything is read or written; the resolved path.

    ``None`` -> ``env.export_path``; a relative path resolves under ``env.export_dir``. The
    target must stay inside that export dir (without an app, ``${AGILAB_EXPORT_ABS}``), must
    not be in the app's output folder nor be ``source`` (the file being exported), must name
    a .csv file whose folder can be created, and must not exist yet unless ``overwrite``.
    """
    requested = _requested(target, env)
    folder = export_folder(env)
    path = requested.resolve()
    shown = _shown(target, path)
    if path == folder or not path.is_relative_to(folder):
        raise DataError(
            f"export target {shown} is outside the export dir {folder}: "
            "give a file name such as export.csv, or a path inside that folder"
        )
    _check_file_name(path, shown)
    _check_not_an_output(path, shown, env, source)
    _check_writable(path, shown)
    if not overwrite and (path.exists() or requested.is_symlink()):
        raise DataError(
            f'export target {shown} already exists: tick "overwrite" (or pass overwrite=True) '
            "to replace it, or choose another name"
        )
    return path


def export_folder(env: AgiEnv | None = None) -> Path:
    """The folder exports must stay in: the app's export dir, or the export root without an app."""
    folder = env.export_dir if env is not None else root_path("AGILAB_EXPORT_ABS")
    return folder.resolve()


def _requested(target: Path | str | None, env: AgiEnv | None) -> Path:
    if target is None or not str(target).strip():
        if env is None:
            raise DataError("no export target: give a .csv path or an app environment")
        return env.export_path
    path = Path(str(target).strip()).expanduser()
    return path if path.is_absolute() else export_folder(env) / path


def _shown(target: Path | str | None, path: Path) -> str:
    """The target as the user typed it, and where it leads when that differs."""
    typed = str(target).strip() if target is not None and str(target).strip() else ""
    return f"{path}" if not typed or typed == str(path) else f"{typed!r} ({path})"


def _check_file_name(path: Path, shown: str) -> None:
    if path.is_dir():
        raise DataError(f"export target {shown} is a folder: give a file path ending in .csv")
    if path.suffix.lower() != ".csv":
        raise DataError(f"export target {shown} is not a .csv file: give a path ending in .csv")


def _check_not_an_output(path: Path, shown: str, env: AgiEnv | None, source: str | os.PathLike[str] | None) -> None:
    """An export must not overwrite, or sit among, the files the app's runs write."""
    if source is not None and path == Path(source).resolve():
        raise DataError(f"export target {shown} is the file being exported (an app output): choose another name")
    if env is None:
        return
    outputs = output_folder(env).resolve()
    if path.is_relative_to(outputs):
        raise DataError(
            f"export target {shown} is inside the app output folder {outputs}: an export there "
            "would replace an app output or be taken for one; choose a path outside it"
        )


def _check_writable(path: Path, shown: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"export target {shown} cannot be written: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise DataError(f"export target {shown} cannot be written: no permission to write in {parent}")
            return


def export(
    frame_or_path: pd.DataFrame | Path | str,
    columns: list[str],
    target: Path | str | None = None,
    env: AgiEnv | None = None,
    *,
    overwrite: bool = False,
) -> ExportResult:
    """Write ``columns`` of a frame (or of an output file) to CSV, atomically and confined.

    The target is checked by :func:`export_target` (inside the export dir, not an app output,
    not an existing file unless ``overwrite``). The file appears whole or not at all: it is
    written to a temporary file beside the target and then moved (``overwrite``) or linked
    (otherwise) into place, so a failure leaves an existing export untouched.
    """
    wanted = list(dict.fromkeys(str(column) for column in columns))
    if not wanted:
        raise DataError("no columns selected: choose at least one column to export (or Select all)")
    if isinstance(frame_or_path, (str, os.PathLike)):
        path = export_target(target, env, overwrite=overwrite, source=frame_or_path)
        frame = load_frame(frame_or_path)
    else:
        path = export_target(target, env, overwrite=overwrite)
        frame = frame_or_path
    available = [str(column) for column in frame.columns]
    unknown = [column for column in wanted if column not in available]
    if unknown:
        raise DataError(f"unknown column(s) {', '.join(map(repr, unknown))}; the data has: {', '.join(available)}")
    selected = frame.loc[:, wanted]
    _write_csv(selected, path, overwrite)
    return ExportResult(path=path, rows=len(selected), columns=wanted)


def _write_csv(selected: pd.DataFrame, path: Path, overwrite: bool) -> None:
    def write(stream: Any) -> None:
        selected.to_csv(stream, index=False)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"export target {path} cannot be written ({error.strerror or error})") from None
    try:
        if overwrite:
            write_text_atomic(path, write)
            return
        placed = place_new(path, write)
    except OSError as error:
        raise DataError(
            f"export target {path} cannot be written ({error.strerror or error}); an existing export there is unchanged"
        ) from None
    if not placed:
        raise DataError(
            f"export target {path} already exists (written meanwhile by someone else): "
            'tick "overwrite" (or pass overwrite=True) to replace it'
        )
