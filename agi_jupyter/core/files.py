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
from collections.abc import Callable
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


def place_new(path: Path, content: Content) -> bool:
    """Create ``path`` with ``content`` only if no file has that name; False when one had.

    An existing file is never replaced. A hard link is the atomic "create unless present";
    file systems without links fall back to a check then a rename, which is enough for the
    rare collision it has to catch.
    """
    path = Path(path)
    temporary = _write_temporary(path, content)
    try:
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
        sync_folder(path.parent)
        return True
    finally:
        _discard(temporary)


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


def _discard(temporary: Path) -> None:
    try:
        temporary.unlink()
    except FileNotFoundError:
        logger.debug("temporary %s already renamed into place", temporary)
    except OSError:
        logger.debug("cannot remove temporary %s", temporary, exc_info=True)
