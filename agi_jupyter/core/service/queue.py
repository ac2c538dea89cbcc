"""The service task queue: JSON files in folders, claimed by atomic rename, never lost.

Layout under ``${AGI_SHARE_DIR}/service/<target>/queue/``::

    pending/<id>.json             waiting
    running/<id>@<claimer>.json   claimed by one loop (the claimer names loop and incarnation)
    done/<id>.json                result: outputs, rows, timings
    failed/<id>.json              error and traceback (also corrupt files and pickles, with why)
    heartbeats/<worker>.json      one per loop (see heartbeat.py)

A loop claims a task by renaming it from pending/ to running/ (atomic on one file system: two
loops can never both get it), publishes done/ or failed/, and only then removes its claim. A
claim whose claimer died goes back to pending/ (or to failed/ after ``max_attempts``).
Files are written to a temporary name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

TASK_SCHEMA = "agi.service.task.v1"
RESULT_SCHEMA = "agi.service.result.v1"
FOLDERS = ("pending", "running", "done", "failed", "heartbeats")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pck")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic JSON write: a temporary file in the same folder, then rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    temporary.write_text(json.dumps(data, default=str))
    os.replace(temporary, path)


def new_task_id() -> str:
    """Sortable by submission time, unique across processes."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


class TaskQueue:
    """The queue folders of one app's service."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def folder(self, name: str) -> Path:
        return self.root / name

    # ----- producer side ------------------------------------------------------------------
    def submit(self, items: list[Any] | None = None, params: dict[str, Any] | None = None,
               label: str = "") -> str:
        """Queue one task (work items + argument overrides); returns its id."""
        task_id = new_task_id()
        task = {"schema": TASK_SCHEMA, "id": task_id, "label": label or task_id, "items": list(items or []),
                "params": dict(params or {}), "attempts": 0, "submitted": time.time()}
        json.dumps(task)  # refuse what is not JSON before anything is written
        write_json(self.folder("pending") / f"{task_id}.json", task)
        return task_id

    # ----- consumer side ------------------------------------------------------------------
    def claim(self, claimer: str) -> dict[str, Any] | None:
        """Take the oldest pending task for ``claimer``; corrupt files and pickles go to failed/."""
        for path in sorted(self.folder("pending").iterdir()):
            if path.name.startswith("."):
                continue
            if path.suffix in PICKLE_SUFFIXES:
                self._reject(path, "pickle files are not accepted: moved unread")
                continue
            target = self.folder("running") / f"{path.stem}@{claimer}.json"
            try:
                os.rename(path, target)
            except FileNotFoundError:
                continue  # another loop was faster
            task = self._read_task(target)
            if task is not None:
                task["claim"] = target.name
                return task
        return None

    def _read_task(self, path: Path) -> dict[str, Any] | None:
        try:
            task = json.loads(path.read_text())
            if not isinstance(task, dict) or task.get("schema") != TASK_SCHEMA or "id" not in task:
                raise ValueError(f"not a {TASK_SCHEMA} task")
            return task
        except (ValueError, UnicodeDecodeError) as error:
            self._reject(path, f"corrupt task file: {error}")
            return None

    def _reject(self, path: Path, reason: str) -> None:
        task_id = path.name.removeprefix(".recovering-").split("@")[0].rsplit(".", 1)[0]
        if path.suffix in PICKLE_SUFFIXES:
            os.replace(path, self.folder("failed") / path.name)
        else:
            path.unlink(missing_ok=True)
        write_json(self.folder("failed") / f"{task_id}.json",
                   {"schema": RESULT_SCHEMA, "id": task_id, "status": "failed", "error": reason,
                    "file": path.name, "finished": time.time()})

    def publish(self, task: dict[str, Any], result: dict[str, Any], failed: bool = False) -> Path:
        """Write the task's result to done/ (or failed/), then drop its claim."""
        folder = self.folder("failed" if failed else "done")
        path = folder / f"{task['id']}.json"
        write_json(path, {"schema": RESULT_SCHEMA, "id": task["id"], "status": "failed" if failed else "done",
                          "task": {k: v for k, v in task.items() if k != "claim"}, **result})
        claim = task.get("claim", "")
        (self.folder("running") / claim).unlink(missing_ok=True) if claim else None
        return path

    # ----- recovery and housekeeping ------------------------------------------------------
    def claims(self) -> list[tuple[Path, str]]:
        """Every running claim with its claimer."""
        return [(path, path.stem.split("@", 1)[1]) for path in self.folder("running").glob("*@*.json")]

    def recover(self, is_alive: Callable[[str], bool], max_attempts: int = 3) -> list[str]:
        """Put tasks whose claimer died back in pending/ (failed/ after max_attempts); their ids."""
        recovered = []
        for path, claimer in self.claims():
            if is_alive(claimer):
                continue
            holding = self.root / f".recovering-{path.name}"
            try:
                os.rename(path, holding)  # exactly one recoverer wins a claim
            except FileNotFoundError:
                continue
            task = self._read_task(holding)
            if task is None:
                continue
            task["attempts"] = int(task.get("attempts", 0)) + 1
            if task["attempts"] >= max_attempts:
                task["claim"] = holding.name
                self.publish(task, {"error": f"claimer {claimer} died; gave up after {task['attempts']} attempts",
                                    "finished": time.time()}, failed=True)
                holding.unlink(missing_ok=True)
            else:
                write_json(self.folder("pending") / f"{task['id']}.json", task)
                holding.unlink(missing_ok=True)
            recovered.append(task["id"])
        return recovered

    def counts(self) -> dict[str, int]:
        return {name: sum(1 for p in self.folder(name).iterdir() if not p.name.startswith("."))
                for name in ("pending", "running", "done", "failed")}

    def prune(self, ttl_hours: dict[str, float], max_files: dict[str, int], now: float | None = None
              ) -> dict[str, int]:
        """Remove done/failed/heartbeat files older than their TTL or beyond their max count.

        pending/ and running/ are never touched. Returns how many files each folder lost.
        """
        now = time.time() if now is None else now
        removed = {}
        for name in ("done", "failed", "heartbeats"):
            files = sorted(_visible(self.folder(name).iterdir()), key=lambda p: p.stat().st_mtime)
            limit = now - ttl_hours[name] * 3600
            expired = [p for p in files if p.stat().st_mtime < limit]
            kept = [p for p in files if p.stat().st_mtime >= limit]
            excess = kept[: max(0, len(kept) - max_files[name])]
            for path in expired + excess:
                path.unlink(missing_ok=True)
            removed[name] = len(expired) + len(excess)
        return removed


def _visible(paths: Iterable[Path]) -> list[Path]:
    return [path for path in paths if not path.name.startswith(".")]
