"""Heartbeats: each service loop says it is alive, what it is doing, and which incarnation it is.

A loop writes ``heartbeats/<worker>.json`` at least every third of the heartbeat timeout, from a
background thread so that a long task does not look like a dead loop. Its state is
``running`` (idle, waiting for work), ``processing`` (a task is in hand) or ``stopped``.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from .queue import write_json

HEARTBEAT_SCHEMA = "agi.service.heartbeat.v1"


def heartbeat_name(worker: str) -> str:
    """A Dask worker address as a file name: ``tcp://127.0.0.1:4321`` -> ``127.0.0.1_4321``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", worker.split("://", 1)[-1]).strip("_")


def write_heartbeat(folder: Path, worker: str, state: str, incarnation: str, slot: int) -> None:
    write_json(folder / f"{heartbeat_name(worker)}.json",
               {"schema": HEARTBEAT_SCHEMA, "worker": worker, "state": state, "pid": os.getpid(),
                "incarnation": incarnation, "slot": slot, "timestamp": time.time()})


def read_heartbeats(folder: Path) -> dict[str, dict[str, Any]]:
    """Latest heartbeat per worker address (unreadable files are skipped)."""
    beats = {}
    for path in folder.glob("*.json"):
        try:
            beat = json.loads(path.read_text())
            beats[beat["worker"]] = beat
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return beats


class Heartbeat:
    """Background writer of one loop's heartbeat; ``state`` may change at any time."""

    def __init__(self, folder: Path, worker: str, incarnation: str, slot: int, interval: float) -> None:
        self.folder, self.worker, self.incarnation, self.slot = folder, worker, incarnation, slot
        self.interval = interval
        self.state = "running"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"agi-heartbeat-{slot}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.write()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.interval + 1)
        self.state = "stopped"
        self.write()

    def set(self, state: str) -> None:
        self.state = state
        self.write()

    def write(self) -> None:
        try:
            write_heartbeat(self.folder, self.worker, self.state, self.incarnation, self.slot)
        except OSError:
            pass  # a full disk must not kill the loop; the missing beat will show in STATUS

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()
