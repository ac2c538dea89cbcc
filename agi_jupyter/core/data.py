"""The app's outputs: find the newest one, preview it cheaply, export chosen columns to CSV.

This is what LOAD DATA and EXPORT of the Data tab call, and what a notebook cell can call
directly. Outputs are the files workers wrote under the app's ``data_out``; an export goes to
``${AGILAB_EXPORT_ABS}/<target>/export.csv`` by default and is written atomically, so a failed
export never damages the one saved before.

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
from collections.abc import Mapping
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
