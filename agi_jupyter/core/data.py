"""The app's outputs: group them by run, load a whole run, preview a file, export chosen columns to CSV.

This is what LOAD DATA and EXPORT of the Data tab call, and what a notebook cell can call
directly. Outputs are the files workers wrote under the app's ``data_out``; an export goes to
``${AGILAB_EXPORT_ABS}/<target>/export.csv`` by default and is written atomically, so a failed
export never damages the one saved before.

A run writes one file per chunk, so "the data of the last run" is every file it wrote:
:func:`list_runs` groups the outputs by run and :func:`load_run` reads one run's files into one
frame (with a ``source_file`` column when there are several), up to a row limit. The engine
keeps no list of a run's outputs on disk, but each RUN writes ``run_<start>.log`` in the app's
log dir, named after the second it started and last modified when it ended (after its outputs):
an output belongs to the run whose window holds its modification time. Outputs no run log
accounts for (a service task's, a run whose log was removed) are grouped by time instead.
A later run that rewrites the same file names takes those files over, so an earlier run shows
only the files no later run replaced.

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
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .env import AgiEnv, root_path
from .errors import AgiError
from .files import place_new, write_text_atomic

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import BaseModel

logger = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".parquet", ".csv", ".json")
ROW_LIMIT = 10_000
"""Rows :func:`load_run` reads by default: enough to look at, small enough for a kernel."""
SOURCE_COLUMN = "source_file"
RUN_GAP_SECONDS = 60.0
"""Outputs without a run log are one group while each follows the previous within this gap."""
RUN_LOG = re.compile(r"run_(?P<stamp>\d{8}-\d{6})(?:_\d+)?\.log")
RUN_DONE = re.compile(r"RUN done in [\d.]+ s: (?P<count>\d+) output file")
LOG_TAIL_BYTES = 4096


class DataError(AgiError):
    """An output cannot be found, read or exported; the message names the file or folder."""


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
class OutputFile:
    """One output file and its modification time (seconds since the epoch)."""

    path: Path
    modified: float


@dataclass(frozen=True)
class OutputRun:
    """The output files of one run that are still there, oldest run first within :func:`list_runs`' answer.

    ``key`` names the run for :func:`load_run` (its log file's name, or ``files-<time>`` for a
    group of outputs without a log); ``expected`` is how many files the run said it wrote
    (``None`` when its log does not say: a run that failed, or a group without a log).
    """

    key: str
    started: float
    finished: float
    files: tuple[OutputFile, ...]
    log: Path | None = None
    mode: str = ""
    expected: int | None = None

    @property
    def label(self) -> str:
        """How a person picks this run: when, which mode, how many of its files are left."""
        when = datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M:%S")
        count = len(self.files)
        files = f"{count} file{'s' if count != 1 else ''}"
        if self.expected is not None and self.expected > count:
            files = f"{count} of {self.expected} files (the others rewritten or removed since)"
        what = self.mode or ("run" if self.log is not None else "files without a RUN log")
        return f"{when} · {what} · {files}"

    @property
    def newest(self) -> Path:
        return max(self.files, key=lambda item: item.modified).path


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


# ----- finding outputs --------------------------------------------------------------------------
def output_folder(env: AgiEnv, args: BaseModel | Mapping[str, Any] | None = None) -> Path:
    """The folder holding the app's outputs: its ``data_out``, else ``${AGI_SHARE_DIR}/<target>``.

    ``args`` is the validated args model, or overrides of the saved ``[args]``; ``None`` uses the
    saved ones. An app without a ``data_out`` argument (or with unreadable args) falls back to
    the share folder named after its target.
    """
    data_out = None
    try:
        if args is None or isinstance(args, Mapping):
            from .args import load_args

            args = load_args(env, dict(args or {}))
        data_out = getattr(args, "data_out", None)
    except AgiError:
        data_out = None
    return env.data_path(data_out) if data_out else env.share_dir / env.target


def _visible(name: str) -> bool:
    """Hidden, temporary and partial files are other writers' work in progress."""
    return not (name.startswith((".", "~")) or name.endswith(("~", ".tmp", ".part", ".partial")))


def newest_output(
    env: AgiEnv, args: BaseModel | Mapping[str, Any] | None = None, *, required: bool = False
) -> Path | None:
    """The most recently modified .parquet/.csv/.json file under the app's output folder.

    Returns None when there is none yet; with ``required=True`` raises :class:`DataError`
    naming the folder searched instead.
    """
    folder = output_folder(env, args)
    newest: tuple[float, Path] | None = None
    for root, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if _visible(name)]
        for name in files:
            if not _visible(name) or not name.lower().endswith(OUTPUT_SUFFIXES):
                continue
            path = Path(root) / name
            try:
                stamp = path.stat().st_mtime
            except OSError:  # removed while we looked
                continue
            if newest is None or stamp > newest[0]:
                newest = (stamp, path)
    if newest is None and required:
        raise DataError(
            f"no output of {env.app} yet: no .parquet, .csv or .json file under {folder}; "
            "RUN the app first, then LOAD DATA"
        )
    return newest[1] if newest else None


def output_files(env: AgiEnv, args: BaseModel | Mapping[str, Any] | None = None) -> list[OutputFile]:
    """Every .parquet/.csv/.json file under the app's output folder (hidden and partial ones left out)."""
    found = []
    for root, folders, files in os.walk(output_folder(env, args)):
        folders[:] = [name for name in folders if _visible(name)]
        for name in files:
            if not _visible(name) or not name.lower().endswith(OUTPUT_SUFFIXES):
                continue
            path = Path(root) / name
            try:
                found.append(OutputFile(path, path.stat().st_mtime))
            except OSError:  # removed while we looked
                continue
    return found


@dataclass(frozen=True)
class _RunLog:
    path: Path
    started: float
    finished: float
    mode: str
    expected: int | None


def _run_logs(env: AgiEnv) -> list[_RunLog]:
    """The RUN logs of the app: when each run started (its name) and ended (its last write)."""
    try:
        names = os.listdir(env.log_dir)
    except OSError:  # no run yet
        return []
    logs = []
    for name in names:
        match = RUN_LOG.fullmatch(name)
        if match is None:
            continue
        path = env.log_dir / name
        try:
            started = time.mktime(time.strptime(match["stamp"], "%Y%m%d-%H%M%S"))
            finished = path.stat().st_mtime
            head, tail = _log_ends(path)
        except (OSError, ValueError, OverflowError):
            logger.debug("skipping the run log %s", path, exc_info=True)
            continue
        done = RUN_DONE.search(tail)
        mode = head.split(" in mode ", 1)[1].strip() if " in mode " in head else ""
        logs.append(
            _RunLog(path, started, finished, f"mode {mode}" if mode else "", int(done["count"]) if done else None)
        )
    return logs


def _log_ends(path: Path) -> tuple[str, str]:
    """The first line of a log and its last few kilobytes (logs of long runs can be large)."""
    with path.open("rb") as stream:
        head = stream.readline(512).decode("utf-8", "replace")
        stream.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
        tail = stream.read().decode("utf-8", "replace")
    return head, tail


def list_runs(env: AgiEnv, args: BaseModel | Mapping[str, Any] | None = None) -> list[OutputRun]:
    """The runs whose outputs are still in the output folder, newest first.

    An output belongs to the run log whose window (start second to last write) holds its
    modification time; of several windows, the one that closed first (a run starting in the
    second the previous one ended must not take that one's last files). The other outputs are
    grouped by time (:data:`RUN_GAP_SECONDS`).
    """
    logs = sorted(_run_logs(env), key=lambda log: (log.finished, log.started))
    owned: dict[Path, list[OutputFile]] = {}
    orphans: list[OutputFile] = []
    for item in output_files(env, args):
        owner = next((log for log in logs if log.started <= item.modified <= log.finished), None)
        if owner is None:
            orphans.append(item)
        else:
            owned.setdefault(owner.path, []).append(item)
    runs = [
        OutputRun(
            key=log.path.name,
            started=log.started,
            finished=log.finished,
            files=_in_name_order(owned[log.path]),
            log=log.path,
            mode=log.mode,
            expected=log.expected,
        )
        for log in logs
        if log.path in owned
    ]
    runs += _groups(orphans)
    return sorted(runs, key=lambda run: (max(item.modified for item in run.files), run.started), reverse=True)


def _groups(files: list[OutputFile]) -> list[OutputRun]:
    groups: list[list[OutputFile]] = []
    for item in sorted(files, key=lambda item: item.modified):
        if groups and item.modified - groups[-1][-1].modified <= RUN_GAP_SECONDS:
            groups[-1].append(item)
        else:
            groups.append([item])
    return [
        OutputRun(
            key=f"files-{group[0].modified:.6f}",
            started=group[0].modified,
            finished=group[-1].modified,
            files=_in_name_order(group),
        )
        for group in groups
    ]


def _in_name_order(files: list[OutputFile]) -> tuple[OutputFile, ...]:
    return tuple(sorted(files, key=lambda item: str(item.path)))


def find_run(env: AgiEnv, key: str | None = None, args: BaseModel | Mapping[str, Any] | None = None) -> OutputRun:
    """The run named ``key`` (an :attr:`OutputRun.key`), or the latest one when ``key`` is None.

    :class:`DataError` when there is no output at all, or when that run has none left.
    """
    runs = list_runs(env, args)
    if not runs:
        raise DataError(
            f"no output of {env.app} yet: no .parquet, .csv or .json file under {output_folder(env, args)}; "
            "RUN the app first, then LOAD DATA"
        )
    if key is None:
        return runs[0]
    for run in runs:
        if run.key == key:
            return run
    raise DataError(f"run {key} has no output files left (rewritten by a later run, or removed): LOAD DATA again")


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
