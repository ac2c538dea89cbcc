"""Which files a run wrote: found from the app's output folder and the RUN logs.

Outputs are the files workers wrote under the app's ``data_out`` (else
``${AGI_SHARE_DIR}/<target>``). A run writes one file per chunk, so "the data of the last run"
is every file it wrote, and the engine keeps no list of them on disk. But each RUN writes
``run_<start>.log`` in the app's log dir, named after the second it started and last modified
when it ended (after its outputs): an output belongs to the run whose window holds its
modification time. :func:`list_runs` groups the outputs that way; outputs no run log accounts
for (a service task's, a run whose log was removed) are grouped by time instead. A later run
that rewrites the same file names takes those files over, so an earlier run shows only the
files no later run replaced.

Reading those files (one run into one frame, a preview) and exporting them is
:mod:`agi_jupyter.core.data`.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .env import AgiEnv
from .errors import AgiError

if TYPE_CHECKING:
    from pydantic import BaseModel

logger = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".parquet", ".csv", ".json")
RUN_GAP_SECONDS = 60.0
"""Outputs without a run log are one group while each follows the previous within this gap."""
RUN_LOG = re.compile(r"run_(?P<stamp>\d{8}-\d{6})(?:_\d+)?\.log")
RUN_DONE = re.compile(r"RUN done in [\d.]+ s: (?P<count>\d+) output file")
LOG_TAIL_BYTES = 4096


class DataError(AgiError):
    """An output cannot be found, read or exported; the message names the file or folder."""


@dataclass(frozen=True)
class OutputFile:
    """One output file and its modification time (seconds since the epoch)."""

    path: Path
    modified: float


@dataclass(frozen=True)
class OutputRun:
    """The output files of one run that are still there, oldest run first within :func:`list_runs`' answer.

    ``key`` names the run for :func:`~agi_jupyter.core.data.load_run` (its log file's name, or
    ``files-<time>`` for a group of outputs without a log); ``expected`` is how many files the run
    said it wrote (``None`` when its log does not say: a run that failed, or a group without a log).
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
