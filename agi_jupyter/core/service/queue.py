"""The service task queue: JSON files in folders, claimed by atomic rename, never lost.

Layout under ``${AGI_SHARE_DIR}/service/<target>/queue/``::

    pending/<id>.json                           waiting
    running/<id>@<claimer>.json                 claimed by one loop (the claimer names loop and incarnation)
    running/<id>@recovering~<ns>-<token>.json   being put back in pending/ by a recovery that began at <ns>
    running/<id>@publishing~<ns>-<token>.json   its result being written by the loop that held the claim
    done/<id>.json                              result: outputs, rows, timings
    failed/<id>.json                            error and traceback; also the record of a rejected entry
    failed/<name>[.rejected]                    a rejected entry kept as found (pickles, directories, links,
                                                unreadable or oversized files, foreign names), next to its record
    duplicates/<id>@<claimer>-<token>.json      a result that came after its claim was gone: kept, not published
    heartbeats/<worker>.json                    one per loop (see heartbeat.py)
    <folder>/.<name>.tmp-<pid>.<token>.tmp      a file being written: never read, pruned when stale

**Identity.** A task is its file name, never its content: an id is ``<20 digits>-<8 hex>`` (what
``new_task_id`` makes), and the ``id`` inside the file must equal the one in its name. Any other
entry (foreign name, wrong shape, not a regular file, unreadable, not UTF-8, too large) is moved
out of the way with a ``failed/`` record that names the file and says what is wrong. Every path
built from queue data is checked to stay inside its folder.

**Moves.** A loop claims a task by renaming it from pending/ to running/ (atomic on one file
system: two loops can never both get it). To publish, it first renames its claim to a
``publishing~`` name of its own: only the publisher whose rename succeeds writes ``done/`` or
``failed/``, and it never replaces an existing result. A loop whose claim is gone (recovered while
it stalled, or published by another) leaves its result in ``duplicates/`` instead. A claim whose
claimer died is recovered the same way: renamed to a ``recovering~`` name, re-queued in pending/
(or published to failed/ after ``max_attempts``), then dropped. Both in-between names stay in
running/, so a process that dies half-way leaves a claim the next recovery finds; a recovery
treats them as held for ``RECOVERY_GRACE_SECONDS`` after the time in their name, then as dead.
A recovery that finds the task already elsewhere (pending/, another claim, a result) drops the
leftover instead of running the task twice.

Files are written to a temporary name, flushed to disk and renamed, so a reader or a crash sees
the old file or the new one, never half of one.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import stat
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..files import place_new, place_new_many, write_json_atomic, write_texts_atomic
from ..records import field_problems
from .records import TASK_SCHEMA, ClaimedTask, Record, ResultRecord, TaskOutcome, TaskRecord

logger = logging.getLogger(__name__)

FOLDERS = ("pending", "running", "done", "failed", "duplicates", "heartbeats")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pck")
MAX_TASK_BYTES = 16 * 1024 * 1024
RECOVERY_GRACE_SECONDS = 600.0
STALE_TEMPORARY_SECONDS = 3600.0

TASK_ID = re.compile(r"\d{20}-[0-9a-f]{8}")
CLAIMER = re.compile(r"[A-Za-z0-9_~+-][A-Za-z0-9._~+-]{0,149}")
TASK_NAME = re.compile(rf"(?P<id>{TASK_ID.pattern})\.json")
CLAIM_NAME = re.compile(rf"(?P<id>{TASK_ID.pattern})@(?P<claimer>{CLAIMER.pattern})\.json")
IN_TRANSIT = re.compile(r"(?:recovering|publishing)~(?P<nanoseconds>\d{1,20})-[0-9a-f]{6,32}")


class BadEntry(ValueError):
    """A queue entry that cannot be a task; the message says what is wrong with it.

    ``keep`` says whether the entry itself should be kept in failed/ (it was not read, so it may
    hold something its author wants back) or only its record.
    """

    def __init__(self, problem: str, keep: bool = False) -> None:
        super().__init__(problem)
        self.keep = keep


# ----- durable writes ------------------------------------------------------------------------------
def write_json(path: Path, record: Record | Mapping[str, Any]) -> None:
    """Atomic, durable JSON write of a record's wire form (see :mod:`agi_jupyter.core.files`); values
    JSON cannot hold become text.

    The service writes only records; a mapping is written as it is (a test forging a file the way
    another writer would). Queue code calls it through this module's name, so a test can make it
    fail in one place.
    """
    write_json_atomic(path, record.wire() if isinstance(record, Record) else dict(record), default=str)


def _write_new(path: Path, record: Record) -> bool:
    """Write ``path`` only if it does not exist yet; False when it did (nothing is replaced)."""
    return place_new(path, json.dumps(record.wire(), default=str))  # serialise first: a TypeError leaves no file


# ----- names and records ---------------------------------------------------------------------------
def new_task_id() -> str:
    """Sortable by submission time, unique across processes."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def _in_transit_name(kind: str) -> str:
    """A claimer name for a recovery or a publication, stamped with when it began."""
    return f"{kind}~{time.time_ns()}-{uuid.uuid4().hex[:12]}"


def _inside(folder: Path, name: str) -> Path:
    """``folder/name``, refused unless it resolves to a direct child of ``folder``.

    Only the folder is resolved: the name itself must be one plain component, so neither
    ``..`` nor a separator nor a link planted under that name can lead the write elsewhere.
    """
    base = _resolved(os.fspath(folder))
    candidate = os.path.normpath(os.path.join(base, name))
    if not name or name in (".", "..") or os.path.dirname(candidate) != base or os.path.basename(candidate) != name:
        raise ValueError(f"{name!r} is not a file name inside {folder}")
    return folder / name


@functools.lru_cache(maxsize=256)
def _resolved(folder: str) -> str:
    """The real path of a queue folder, resolved once per process (a claim or a publication checks
    several names in the same few folders)."""
    return os.path.realpath(folder)


def _safe_name(name: str) -> str:
    """A name that cannot hide, climb or surprise: odd characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9._@~+-]", "_", name).lstrip(".")[:120] or "entry"


def _record_stem(name: str) -> str:
    """The failed/ record's name for an entry: its task id when the name carries one."""
    match = re.match(TASK_ID.pattern, name)
    if match and name[match.end() : match.end() + 1] in ("@", ".") and name.endswith(".json"):
        return match.group()
    return _safe_name(name).rsplit(".", 1)[0] or "entry"


def _check_task(data: Any, task_id: str) -> TaskRecord:
    """The task record read from a file named ``task_id``, or BadEntry listing what is wrong."""
    if not isinstance(data, dict):
        raise BadEntry(f"a task is a JSON object, this is a JSON {type(data).__name__}")
    try:
        task = TaskRecord.model_validate(data)
    except ValidationError as error:
        problems = [_schema_problem(data, task_id), field_problems(error)]
    else:
        problems = [_schema_problem(data, task_id)]
    problems = [problem for problem in problems if problem]
    if problems:
        raise BadEntry("; ".join(problems))
    return task


def _schema_problem(data: dict[str, Any], task_id: str) -> str:
    if data.get("schema") != TASK_SCHEMA:
        return f"schema is {data.get('schema')!r}, not {TASK_SCHEMA!r}"
    if "id" not in data:
        return "the id is missing"
    if data["id"] != task_id:
        return f"its id {data['id']!r} is not {task_id!r}, the id in its file name"
    return ""


def _parts(pattern: re.Pattern[str], name: str) -> re.Match[str]:
    """A name already checked against ``pattern``, split into its named parts."""
    match = pattern.fullmatch(name)
    if match is None:
        raise ValueError(f"{name!r} is not of the form {pattern.pattern}")
    return match


def _read_entry(path: Path) -> Any:
    """The JSON in a regular file of at most MAX_TASK_BYTES; BadEntry says why not.

    Opened without following links and without blocking, so a link or a pipe dropped in the
    queue is refused instead of read or waited on.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        with os.fdopen(os.open(path, flags), "rb") as stream:
            status = os.fstat(stream.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise BadEntry(f"not a regular file ({_kind(status.st_mode)})", keep=True)
            raw = stream.read(MAX_TASK_BYTES + 1)
    except OSError as error:
        raise BadEntry(f"unreadable: {error.strerror or error}", keep=True) from error
    if len(raw) > MAX_TASK_BYTES:
        raise BadEntry(f"too large: over {MAX_TASK_BYTES} bytes", keep=True)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise BadEntry(f"not UTF-8 text ({error.reason} at byte {error.start})") from error
    except ValueError as error:
        raise BadEntry(f"not valid JSON ({error})") from error


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISLNK: "a symbolic link",
        stat.S_ISFIFO: "a pipe",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a device",
        stat.S_ISBLK: "a device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a file")


def _entry_kind(path: Path) -> str:
    """Empty for a regular file, else what the entry is (without following a link)."""
    mode = os.lstat(path).st_mode
    return "" if stat.S_ISREG(mode) else _kind(mode)


class TaskQueue:
    """The queue folders of one app's service."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self._folders = {name: self.root / name for name in FOLDERS}
        self._listed: deque[str] = deque()  # names of pending/ from the last listing, not tried yet
        self._unpublished: list[tuple[ClaimedTask, TaskOutcome, bool]] = []  # results waiting for flush()
        self._unpublished_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time (the loop's thread and its heartbeat's)

    def folder(self, name: str) -> Path:
        known = self._folders.get(name)
        return self.root / name if known is None else known

    # ----- producer side ------------------------------------------------------------------
    def submit(
        self,
        items: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        label: str = "",
        time_limit: float | None = None,
    ) -> str:
        """Queue one task (work items + argument overrides, optional time limit); returns its id.

        The record is checked like a loop will check it, so a bad one is refused here, at once.
        """
        task = _new_task(items, params, label, time_limit)
        write_json(self.folder("pending") / f"{task.id}.json", task)
        return task.id

    def submit_many(self, tasks: Iterable[Mapping[str, Any]]) -> list[str]:
        """Queue a burst of tasks, each given as :meth:`submit`'s keyword arguments; their ids.

        Every record is checked before anything is written, each file is synced, and
        the folder is synced once for the whole burst before the ids are returned: a task is
        submitted (durable) only when this returns. A failure while the files are written leaves
        none of them queued; a crash before the folder sync may leave some of them, unreported.
        """
        records = [_new_task(**dict(task)) for task in tasks]
        pending = self.folder("pending")
        write_texts_atomic([(pending / f"{task.id}.json", json.dumps(task.wire())) for task in records])
        return [task.id for task in records]

    # ----- consumer side ------------------------------------------------------------------
    def claim(self, claimer: str) -> ClaimedTask | None:
        """Take the oldest pending task for ``claimer``; anything that is not a task goes to failed/.

        The names of one listing of pending/ are kept, in order, and tried one after another by
        the next calls: a deep queue is listed once per batch instead of once per task. Each name
        is still taken by its own rename, so a name another loop took first is skipped, and a name
        listed by a loop that dies is simply left in pending/ for the others. ``None`` only after a
        fresh listing had nothing this caller could take.
        """
        if not CLAIMER.fullmatch(claimer) or IN_TRANSIT.fullmatch(claimer):
            raise ValueError(f"{claimer!r} cannot name a claim (letters, digits, . _ ~ + -)")
        while True:
            fresh = not self._listed
            if fresh:
                self._listed.extend(self._visible_names("pending"))
            pending = self.folder("pending")
            while self._listed:
                name = self._listed.popleft()
                try:
                    task = self._claim_entry(pending / name, claimer)
                except FileNotFoundError:
                    logger.debug("pending/%s went away: another loop took it", name, exc_info=True)
                    continue
                except (OSError, ValueError) as error:
                    logger.warning("skipping pending/%s for now: %s", name, error, exc_info=True)
                    continue
                if task is not None:
                    return task
            if fresh:
                return None

    def _claim_entry(self, path: Path, claimer: str) -> ClaimedTask | None:
        name_problem = self._name_problem(path, TASK_NAME)
        if name_problem:
            self._reject(path, name_problem, keep=True)
            return None
        task_id = _parts(TASK_NAME, path.name)["id"]
        target = _inside(self.folder("running"), f"{task_id}@{claimer}.json")
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None  # another loop was faster
        try:
            task = _check_task(_read_entry(target), task_id)
        except BadEntry as problem:
            self._reject(target, f"corrupt task file pending/{path.name}: {problem}", keep=problem.keep)
            return None
        return _claimed(task, target.name)

    def _name_problem(self, path: Path, pattern: re.Pattern[str]) -> str:
        """Why an entry cannot be a task file of its folder, from its name and kind alone."""
        where = f"{path.parent.name}/{path.name}"
        if path.suffix in PICKLE_SUFFIXES:
            return f"pickle files are not accepted: moved unread ({where})"
        if not pattern.fullmatch(path.name):
            return (
                f"corrupt task file {where}: its name is not a task id ({new_task_id()} for example)"
                f" followed by {'@<claimer>' if pattern is CLAIM_NAME else ''}.json; moved unread"
            )
        kind = _entry_kind(path)
        return f"corrupt task file {where}: not a regular file ({kind}); moved as found" if kind else ""

    def _reject(self, path: Path, reason: str, keep: bool) -> None:
        """Take a bad entry out of its folder and write why into failed/.

        A kept entry is moved first (the rename also decides which of several processes handles
        it); a dropped one is one this process already holds, so its record is written first.
        """
        failed = self.folder("failed")
        if keep:
            kept = _safe_name(path.name)
            kept = kept + ".rejected" if not kept.endswith(PICKLE_SUFFIXES) else kept
            try:
                os.rename(path, self._unused(failed, kept))
            except FileNotFoundError:
                return  # another process took it
        logger.warning("rejected %s: %s", path, reason)
        stem = _record_stem(path.name)
        record = ResultRecord(id=stem, status="failed", error=reason, file=path.name, finished=time.time())
        if not _write_new(_inside(failed, f"{stem}.json"), record):
            write_json(self._unused(failed, f"{stem}-rejected.json"), record)
        if not keep:
            path.unlink(missing_ok=True)

    def _unused(self, folder: Path, name: str) -> Path:
        """``folder/name``, or with a random token when that is taken."""
        path = _inside(folder, name)
        if not os.path.lexists(path):
            return path
        stem, dot, suffix = name.rpartition(".")
        return _inside(folder, f"{stem or suffix}-{uuid.uuid4().hex[:8]}{dot}{suffix if stem else ''}")

    def publish(self, task: ClaimedTask, result: TaskOutcome, failed: bool = False) -> Path | None:
        """Write the task's result to done/ (or failed/) if this caller still holds its claim.

        Returns the result's path, or None when the claim was gone or a result already existed:
        the result then goes to duplicates/ and nothing published is replaced.
        """
        task_id, claim = self._claim_of(task)
        held = _inside(self.folder("running"), claim)
        publishing = _inside(self.folder("running"), f"{task_id}@{_in_transit_name('publishing')}.json")
        try:
            os.rename(held, publishing)  # only one publisher can take the claim away
        except FileNotFoundError:
            self._duplicate(
                task_id,
                claim,
                task,
                result,
                failed,
                f"claim running/{claim} was gone: recovered, or published by another",
            )
            return None
        status = "failed" if failed else "done"
        target = _inside(self.folder(status), f"{task_id}.json")
        record = ResultRecord.of(task_id, status, task, result)
        try:
            landed = _write_new(target, record)
        except OSError:
            self._give_back(publishing, held)
            raise
        self._drop(publishing)
        if not landed:
            self._duplicate(task_id, claim, task, result, failed, f"{status}/{task_id}.json already existed")
            return None
        return target

    def publish_later(self, task: ClaimedTask, result: TaskOutcome, failed: bool = False) -> int:
        """Hold a result for the next :meth:`flush`; returns how many are held.

        The task keeps its claim (under this caller's name) until then: while the caller lives
        nobody else takes it, and if the caller dies first the task is recovered and runs again
        (the at-least-once window between an item's end and its publication).
        """
        self._claim_of(task)  # a forged claim is refused now, not at the flush
        with self._unpublished_lock:
            self._unpublished.append((task, result, failed))
            return len(self._unpublished)

    def flush(self) -> list[tuple[str, bool]]:
        """Publish the held results as :meth:`publish` would, with one folder sync for all of them.

        Each result file is written and synced; then, one task at a time, its claim is taken by the
        rename to a ``publishing~`` name and its result created in done/ (or failed/), never over an
        existing one; then done/ and failed/ are synced once; only then are the claims dropped and
        the results reported. A task is therefore "done" exactly when its file and its directory
        entry are durable, as with :meth:`publish`. A result whose claim was gone, or whose name
        existed, goes to duplicates/. Returns (task id, landed) per held result, in order. A write
        that fails gives the claims back, keeps those results held, and raises.
        """
        with self._flush_lock:
            with self._unpublished_lock:
                batch, self._unpublished = self._unpublished, []
            if not batch:
                return []
            running = self.folder("running")
            entries, moves = [], []
            for task, result, failed in batch:
                task_id, claim = self._claim_of(task)
                status = "failed" if failed else "done"
                record = ResultRecord.of(task_id, status, task, result)
                target = _inside(self.folder(status), f"{task_id}.json")
                entries.append((target, json.dumps(record.wire(), default=str)))
                moves.append(
                    (_inside(running, claim), _inside(running, f"{task_id}@{_in_transit_name('publishing')}.json"))
                )

            def take(index: int) -> bool:
                try:
                    os.rename(*moves[index])  # only one publisher can take the claim away
                except FileNotFoundError:
                    return False
                return True

            try:
                outcomes = place_new_many(entries, take)
            except OSError:
                self._hold_again(batch)
                raise
            return self._settle(batch, moves, outcomes)

    def _settle(
        self,
        batch: list[tuple[ClaimedTask, TaskOutcome, bool]],
        moves: list[tuple[Path, Path]],
        outcomes: list[bool | OSError | None],
    ) -> list[tuple[str, bool]]:
        """After a flush's folder sync: drop the taken claims, keep duplicates, give back failures."""
        settled, retry, errors = [], [], []
        for (task, result, failed), (held, publishing), outcome in zip(batch, moves, outcomes, strict=True):
            task_id, claim = self._claim_of(task)
            status = "failed" if failed else "done"
            if isinstance(outcome, OSError):
                self._give_back(publishing, held)
                retry.append((task, result, failed))
                errors.append(outcome)
                continue
            if outcome is not None:
                self._drop(publishing)
            if outcome is None:
                why = f"claim running/{claim} was gone: recovered, or published by another"
                self._duplicate(task_id, claim, task, result, failed, why)
            elif outcome is False:
                self._duplicate(task_id, claim, task, result, failed, f"{status}/{task_id}.json already existed")
            settled.append((task_id, outcome is True))
        if errors:
            self._hold_again(retry)
            raise errors[0]
        return settled

    def _hold_again(self, batch: list[tuple[ClaimedTask, TaskOutcome, bool]]) -> None:
        with self._unpublished_lock:
            self._unpublished[:0] = batch

    def _claim_of(self, task: ClaimedTask) -> tuple[str, str]:
        """The task's id and claim name, refused unless the claim names this task's file."""
        claim = task.claim if isinstance(task, ClaimedTask) else None
        match = CLAIM_NAME.fullmatch(claim) if claim is not None else None
        if match is None or match["id"] != task.id:
            raise ValueError(
                f"publish needs a task from claim(): claim {claim!r} and id {getattr(task, 'id', None)!r}"
                " do not name a claim in running/"
            )
        return match["id"], match.string

    def _duplicate(
        self, task_id: str, claim: str, task: ClaimedTask, result: TaskOutcome, failed: bool, why: str
    ) -> None:
        """Keep a result that must not be published, with why, in duplicates/ (best effort)."""
        logger.warning("task %s: result not published, kept in duplicates/: %s", task_id, why)
        claimer = _parts(CLAIM_NAME, claim)["claimer"]
        record = ResultRecord.of(
            task_id, "duplicate", task, result, would_be="failed" if failed else "done", duplicate=why
        )
        try:
            name = f"{task_id}@{claimer}-{uuid.uuid4().hex[:8]}.json"  # several may arrive at once
            write_json(_inside(self.folder("duplicates"), name), record)
        except OSError:
            logger.warning("task %s: could not keep the duplicate result", task_id, exc_info=True)
        return None

    def _give_back(self, holding: Path, original: Path) -> None:
        """Undo a take-over after a failed step, so the next recovery need not wait for the grace."""
        try:
            os.rename(holding, original)
        except OSError:
            logger.warning(
                "could not rename %s back to %s; it is recovered after %.0f s",
                holding.name,
                original.name,
                RECOVERY_GRACE_SECONDS,
                exc_info=True,
            )

    def _drop(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            logger.debug("%s was already gone", path, exc_info=True)
        except OSError:
            logger.warning("could not remove %s; the next recovery drops it", path, exc_info=True)

    # ----- recovery and housekeeping ------------------------------------------------------
    def claims(self) -> list[tuple[Path, str]]:
        """Every running claim with its claimer (in-between names included: they are claims too)."""
        found = []
        for path in self._visible("running"):
            match = CLAIM_NAME.fullmatch(path.name)
            if match is not None:
                found.append((path, match["claimer"]))
        return found

    def recover(self, is_alive: Callable[[str], bool], max_attempts: int = 3, *, now: float | None = None) -> list[str]:
        """Put tasks whose claimer died back in pending/ (failed/ after max_attempts); their ids.

        ``now`` (seconds) decides when an in-between claim left by a recovery or a publication
        counts as abandoned; it defaults to the clock.
        """
        now = time.time() if now is None else now
        self._adopt_old_holdings()
        recovered = []
        for path in self._visible("running"):
            try:
                task_id = self._recover_entry(path, is_alive, max_attempts, now)
            except FileNotFoundError:
                logger.debug("running/%s went away: published or recovered by another", path.name, exc_info=True)
                continue
            except (OSError, ValueError) as error:
                logger.warning("could not recover running/%s yet: %s", path.name, error, exc_info=True)
                continue
            if task_id:
                recovered.append(task_id)
        return recovered

    def _recover_entry(self, path: Path, is_alive: Callable[[str], bool], max_attempts: int, now: float) -> str | None:
        problem = self._name_problem(path, CLAIM_NAME)
        if problem:
            self._reject(path, problem, keep=True)
            return None
        match = _parts(CLAIM_NAME, path.name)
        if self._held(match["claimer"], is_alive, now):
            return None
        holding = _inside(self.folder("running"), f"{match['id']}@{_in_transit_name('recovering')}.json")
        try:
            os.rename(path, holding)  # exactly one recoverer wins a claim
        except FileNotFoundError:
            return None
        try:
            return self._requeue(holding, path, match["claimer"], max_attempts)
        except OSError:
            self._give_back(holding, path)
            raise

    def _held(self, claimer: str, is_alive: Callable[[str], bool], now: float) -> bool:
        transit = IN_TRANSIT.fullmatch(claimer)
        if transit is None:
            return is_alive(claimer)
        return now - int(transit["nanoseconds"]) / 1e9 < RECOVERY_GRACE_SECONDS

    def _requeue(self, holding: Path, original: Path, claimer: str, max_attempts: int) -> str | None:
        """Send a recovered claim back to pending/ (or to failed/); its id, None if nothing moved."""
        task_id = holding.name.split("@", 1)[0]
        try:
            task = _check_task(_read_entry(holding), task_id)
        except BadEntry as problem:
            self._reject(holding, f"corrupt task file running/{original.name}: {problem}", keep=problem.keep)
            return None
        if self._settled_elsewhere(task_id, holding):
            logger.info("task %s is already elsewhere in the queue: dropping the leftover %s", task_id, original.name)
            self._drop(holding)
            return None
        task = task.model_copy(update={"attempts": task.attempts + 1})
        if task.attempts >= max_attempts:
            landed = self.publish(
                _claimed(task, holding.name),
                TaskOutcome(
                    error=f"claimer {claimer} died; gave up after {task.attempts} attempts", finished=time.time()
                ),
                failed=True,
            )
            return task_id if landed else None
        if not _write_new(_inside(self.folder("pending"), f"{task_id}.json"), task):
            logger.warning("task %s was already back in pending/", task_id)
        self._drop(holding)
        logger.info("task %s: claimer %s died, back in pending/ (attempt %d)", task_id, claimer, task.attempts)
        return task_id

    def _settled_elsewhere(self, task_id: str, holding: Path) -> bool:
        """Whether the task exists outside ``holding``: looked up in the order tasks move."""
        if os.path.lexists(self.folder("pending") / f"{task_id}.json"):
            return True
        if any(path != holding for path in self.folder("running").glob(f"{task_id}@*.json")):
            return True
        return any(os.path.lexists(self.folder(name) / f"{task_id}.json") for name in ("done", "failed"))

    def _adopt_old_holdings(self) -> None:
        """Claims an older version hid as ``.recovering-*`` in the queue root go back to running/."""
        for path in self.root.glob(".recovering-*"):
            name = path.name.removeprefix(".recovering-")
            try:
                if CLAIM_NAME.fullmatch(name):
                    os.rename(path, self._unused(self.folder("running"), name))
                else:
                    self._reject(path, f"corrupt task file {path.name}: left by an older recovery", keep=True)
            except OSError:
                logger.warning("could not adopt %s", path, exc_info=True)

    def counts(self) -> dict[str, int]:
        return {name: len(self._visible_names(name)) for name in ("pending", "running", "done", "failed")}

    def _visible(self, name: str) -> list[Path]:
        """The folder's entries in name order, without the hidden ones being written."""
        folder = self.folder(name)
        return [folder / entry for entry in self._visible_names(name)]

    def _visible_names(self, name: str) -> list[str]:
        try:
            names = os.listdir(self.folder(name))
        except FileNotFoundError:
            logger.debug("queue folder %s is missing", name, exc_info=True)
            return []
        return sorted(entry for entry in names if not entry.startswith("."))

    def prune(
        self,
        ttl_hours: dict[str, float],
        max_files: dict[str, int],
        now: float | None = None,
        keep: frozenset[str] = frozenset(),
    ) -> dict[str, int]:
        """Remove done/failed/heartbeat files older than their TTL or beyond their max count.

        pending/ and running/ are never touched. duplicates/ follows failed/'s limits unless
        given its own. Several processes may prune at once: a file another one removed is
        skipped, and each removal is counted by the one process that made it. Returns how many
        files each of done, failed and heartbeats lost. Files named in ``keep`` (the heartbeats of
        live loops: they are the leases of their claims) are never removed.
        """
        now = time.time() if now is None else now
        removed = {
            name: self._prune_folder(name, ttl_hours[name], max_files[name], now, keep)
            for name in ("done", "failed", "heartbeats")
        }
        duplicates = self._prune_folder(
            "duplicates",
            ttl_hours.get("duplicates", ttl_hours["failed"]),
            max_files.get("duplicates", max_files["failed"]),
            now,
        )
        stale = sum(self._prune_temporaries(name, now) for name in FOLDERS)
        if duplicates or stale:
            logger.info("pruned %d duplicate results and %d stale temporary files", duplicates, stale)
        return removed

    def _prune_folder(
        self, name: str, ttl_hours: float, max_files: int, now: float, keep: frozenset[str] = frozenset()
    ) -> int:
        aged = sorted(item for item in _aged_files(self.folder(name), hidden=False) if item[1].name not in keep)
        limit = now - ttl_hours * 3600
        expired = [path for mtime, path in aged if mtime < limit]
        kept = [path for mtime, path in aged if mtime >= limit]
        excess = kept[: max(0, len(kept) - max_files)]
        return sum(_remove(path) for path in expired + excess)

    def _prune_temporaries(self, name: str, now: float) -> int:
        """Temporary files a crashed writer left behind (any writer finishes in far less time)."""
        return sum(
            _remove(path)
            for mtime, path in _aged_files(self.folder(name), hidden=True)
            if path.name.endswith(".tmp") and mtime < now - STALE_TEMPORARY_SECONDS
        )


def _new_task(
    items: list[Any] | None = None,
    params: dict[str, Any] | None = None,
    label: str = "",
    time_limit: float | None = None,
) -> TaskRecord:
    """A new task's record, checked as a loop will check it; refused (ValueError) if it is not."""
    task_id = new_task_id()
    values = {
        "schema": TASK_SCHEMA,
        "id": task_id,
        "label": label or task_id,
        "items": list(items or []),
        "params": dict(params or {}),
        "attempts": 0,
        "submitted": time.time(),
        "time_limit": time_limit,
    }
    text = json.dumps(values)  # refuse what is not JSON before anything is written
    task = _check_task(json.loads(text), task_id)
    if len(text.encode()) > MAX_TASK_BYTES:
        raise ValueError(f"task too large: {len(text.encode())} bytes, a loop reads at most {MAX_TASK_BYTES}")
    return task


def _claimed(task: TaskRecord, claim: str) -> ClaimedTask:
    """``task`` as held under the claim ``running/<claim>`` (the record is not validated again)."""
    return ClaimedTask.model_construct(_fields_set=task.model_fields_set | {"claim"}, **dict(task), claim=claim)


def _aged_files(folder: Path, hidden: bool) -> list[tuple[float, Path]]:
    """(modification time, path) of the files (and links) in ``folder``, hidden ones or the others.

    Directories are left alone; an entry that vanishes while being looked at is skipped.
    """
    aged = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        logger.debug("no folder %s to prune", folder, exc_info=True)
        return []
    for entry in entries:
        if entry.name.startswith(".") != hidden:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            aged.append((entry.stat(follow_symlinks=False).st_mtime, Path(entry.path)))
        except FileNotFoundError:
            logger.debug("%s went away while pruning", entry.path, exc_info=True)
    return aged


def _remove(path: Path) -> bool:
    """Remove one file; False when another process already did."""
    try:
        path.unlink()
    except FileNotFoundError:
        logger.debug("%s was removed by another process", path, exc_info=True)
        return False
    return True
