"""The probe test app (tests/apps/probe_project) as the service tests use it.

Every execution of a probe item leaves a marker file (see its worker), so counting markers counts
executions: the measure of "nothing lost, nothing run twice".
"""

from __future__ import annotations

import collections
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agi_jupyter import AgiEnv

APPS = Path(__file__).parent / "apps"


def copy_probe(tmp_path: Path) -> AgiEnv:
    """A private copy of the probe app."""
    shutil.copytree(APPS, tmp_path / "apps")
    return AgiEnv("probe", apps_path=tmp_path / "apps")


def executions(env: AgiEnv, data_out: str = "probe") -> collections.Counter:
    """How many times each item ran to its end."""
    folder = env.share_dir / data_out / "executions"
    return (
        collections.Counter(path.name.split("~")[0] for path in folder.iterdir())
        if folder.is_dir()
        else collections.Counter()
    )


def wait_for(
    status: Callable[[], dict[str, Any]],
    condition: Callable[[dict[str, Any]], bool],
    limit: float = 60.0,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Call ``status`` until ``condition(snapshot)``; every snapshot goes to ``seen``."""
    deadline = time.monotonic() + limit
    while True:
        payload = status()
        if seen is not None:
            seen.append(payload)
        if condition(payload):
            return payload
        assert time.monotonic() < deadline, f"gave up waiting; last snapshot: {json.dumps(payload)[:1500]}"
        time.sleep(0.2)
