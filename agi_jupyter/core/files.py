"""The one way the product writes a file: whole or not at all, and still there after a crash.

Every writer puts the content in a temporary file beside the target, flushes it to disk, then
gives it the target's name (``os.replace`` to replace, a hard link to create only) and syncs the
folder. A reader, a concurrent writer or a power cut therefore sees the old file or the new
one, never half of one and never an empty one.

Temporary files are named ``.<name>.tmp-<pid>.<token>.tmp``: hidden (folder listings of the
queue and of app outputs skip them), starting with :func:`temporary_prefix` (the settings save
removes the ones a killed save left) and ending in ``.tmp`` (the queue prunes stale ones).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

logger = logging.getLogger(__name__)

Content = str | Callable[[TextIO], None]
"""What to write: the text itself, or a function writing it to an open text stream."""

NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EXDEV}
"""Errors of ``os.link`` that mean "this file system cannot link", not "the name is taken"."""


def temporary_prefix(path: Path) -> str:
    """Name prefix of the temporary files written beside ``path`` on their way to it."""
    return f".{path.name}.tmp-"


def write_text_atomic(path: Path, content: Content) -> None:
    """Replace ``path`` with ``content`` atomically and durably.

    An existing file keeps its permission bits; a new one gets the usual ``0o666`` less umask.
    """
    path = Path(path)
    temporary = _write_temporary(path, content)
    try:
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        _discard(temporary)
        raise
    sync_folder(path.parent)


def write_json_atomic(
    path: Path, data: Any, *, indent: int | None = None, default: Callable[[Any], Any] | None = None
) -> None:
    """:func:`write_text_atomic` of ``data`` as JSON; serialised first, so a TypeError writes nothing."""
    write_text_atomic(path, json.dumps(data, indent=indent, default=default))


def write_texts_atomic(entries: Sequence[tuple[Path, Content]]) -> None:
    """:func:`write_text_atomic` of several files, with one sync per folder for all of them.

    Every temporary file is written and synced before any is renamed: a failure while writing
    leaves none of the targets changed. The folders are synced after the last rename and before
    this returns, so each file is durable when the call returns, as with one call per file; a
    crash before then may leave some of the new files in place and not others (each one whole).
    """
    temporaries: list[tuple[Path, Path]] = []
    try:
        written = _write_temporaries(entries)
        temporaries = [(temporary, Path(path)) for temporary, (path, _) in zip(written, entries, strict=True)]
        for temporary, path in temporaries:
            if path.exists():
                os.chmod(temporary, path.stat().st_mode & 0o777)
            os.replace(temporary, path)
    except BaseException:
        for temporary, _ in temporaries:
            _discard(temporary)
        raise
    for folder in dict.fromkeys(path.parent for _, path in temporaries):
        sync_folder(folder)


def place_new(path: Path, content: Content) -> bool:
    """Create ``path`` with ``content`` only if no file has that name; False when one had.

    An existing file is never replaced. A hard link is the atomic "create unless present";
    file systems without links fall back to a check then a rename, which is enough for the
    rare collision it has to catch.
    """
    path = Path(path)
    temporary = _write_temporary(path, content)
    try:
        if not _link_new(temporary, path):
            return False
        sync_folder(path.parent)
        return True
    finally:
        _discard(temporary)


def place_new_many(
    entries: Sequence[tuple[Path, Content]], take: Callable[[int], bool] | None = None
) -> list[bool | OSError | None]:
    """:func:`place_new` of several files, with one sync per folder for all of them.

    Every temporary file is written and synced first (a failure there places none). Then, for
    each entry in turn, ``take(index)`` (when given) decides whether it is placed at all, and the
    entry is created unless its name exists. The folders are synced once, after the last one and
    before this returns, so each placed file is durable when the call returns, as after
    :func:`place_new`. Returns, per entry: True placed, False the name existed, None not taken,
    or the OSError that placing it raised (the other entries are still placed).
    """
    temporaries: list[Path] = []
    try:
        temporaries = _write_temporaries(entries)
        outcomes: list[bool | OSError | None] = []
        for index, ((path, _), temporary) in enumerate(zip(entries, temporaries, strict=True)):
            if take is not None and not take(index):
                outcomes.append(None)
                continue
            try:
                outcomes.append(_link_new(temporary, Path(path)))
            except OSError as error:
                outcomes.append(error)
        placed = (Path(path).parent for (path, _), outcome in zip(entries, outcomes, strict=True) if outcome is True)
        for folder in dict.fromkeys(placed):
            sync_folder(folder)
        return outcomes
    finally:
        for temporary in temporaries:
            _discard(temporary)


def _link_new(temporary: Path, path: Path) -> bool:
    """Give the synced ``temporary`` the name ``path`` unless it exists (see :func:`place_new`); no folder sync."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in NO_HARD_LINKS:
            raise
        logger.debug("no hard links in %s; checking the name, then renaming", path.parent, exc_info=True)
        if path.exists():
            return False
        os.replace(temporary, path)
    return True


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive a power cut (best effort: not every system allows it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        logger.debug("cannot open %s to sync it", folder, exc_info=True)
        return
    try:
        os.fsync(descriptor)
    except OSError:
        logger.debug("cannot sync %s", folder, exc_info=True)
    finally:
        os.close(descriptor)


def _write_temporary(path: Path, content: Content) -> Path:
    """A synced temporary file beside ``path`` holding ``content``; removed again if writing fails."""
    temporary = path.with_name(f"{temporary_prefix(path)}{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as stream:
            if isinstance(content, str):
                stream.write(content)
            else:
                content(stream)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        _discard(temporary)
        raise
    return temporary


SYNC_CHUNK = 64
"""How many temporary files of a batch are written before they are synced together."""
SYNC_THREADS = 8


def _write_temporaries(entries: Sequence[tuple[Path, Content]]) -> list[Path]:
    """:func:`_write_temporary` of several files: each is synced before this returns, as there.

    The files are written a chunk at a time and the chunk's files synced from a few threads at
    once, so a journaling file system commits them in a few transactions instead of one each.
    """
    if len(entries) == 1:
        [(path, content)] = entries
        return [_write_temporary(Path(path), content)]
    temporaries: list[Path] = []
    try:
        for first in range(0, len(entries), SYNC_CHUNK):
            streams: list[TextIO] = []
            try:
                for path, content in entries[first : first + SYNC_CHUNK]:
                    target = Path(path)
                    temporary = target.with_name(f"{temporary_prefix(target)}{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
                    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                    temporaries.append(temporary)
                    stream = os.fdopen(descriptor, "w", encoding="utf-8", newline="")
                    streams.append(stream)
                    if isinstance(content, str):
                        stream.write(content)
                    else:
                        content(stream)
                    stream.flush()
                list(_sync_pool().map(os.fsync, [written.fileno() for written in streams]))
            finally:
                for written in streams:
                    written.close()
    except BaseException:
        for temporary in temporaries:
            _discard(temporary)
        raise
    return temporaries


_pool: list[Any] = []


def _sync_pool() -> Any:
    """The threads that sync a batch's files (started on first use, shared by the process)."""
    if not _pool:
        from concurrent.futures import ThreadPoolExecutor

        _pool.append(ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="agi-fsync"))
    return _pool[0]


def _discard(temporary: Path) -> None:
    try:
        temporary.unlink()
    except FileNotFoundError:
        logger.debug("temporary %s already renamed into place", temporary)
    except OSError:
        logger.debug("cannot remove temporary %s", temporary, exc_info=True)
