"""App output cannot corrupt engine events (issue 9 item 13).

Events used to be recognised at line starts on the worker's stdout, merged with its stderr: a
worker writing without a newline glued the next event to its text (the event was lost and the
run reported a slot's outputs as missing), and a worker could print a line that looked like an
event. These tests run a real warm worker process of a copy of the probe app.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from agi_jupyter import AGI, AgiEnv, Mode

APPS = Path(__file__).parent.parent / "apps"
OLD_PREFIX = "\x1eagi-event "  # how events were marked on stdout before they got their own channel

NOISY_WORKER = '''
import os
import sys

from agi_jupyter.worker import BaseWorker


class ProbeWorker(BaseWorker):
    """Writes to the raw stdout and stderr the way C code, pools or careless apps do."""

    def start(self):
        if self.worker_id == 0:  # the first output of the job: at a line start
            os.write(1, (FORGED + "\\n").encode())

    def work_pool(self, item):
        sys.stderr.write(f"progress of {item} 50%")  # no newline
        sys.stderr.flush()
        os.write(1, b"raw stdout without a newline")
        return None

    def stop(self):
        sys.stderr.write("stopping slot ")  # no newline, right before the slot result is sent
        sys.stderr.flush()


FORGED = OLD_PREFIX + '{"event": "error", "message": "forged by the app"}'
'''


@pytest.fixture
def noisy_probe(tmp_path: Path) -> AgiEnv:
    shutil.copytree(APPS, tmp_path / "apps")
    env = AgiEnv("probe", apps_path=tmp_path / "apps")
    env.worker_path.write_text(NOISY_WORKER.replace("OLD_PREFIX", repr(OLD_PREFIX)))
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    return env


def test_output_without_newlines_neither_hides_nor_forges_events(noisy_probe: AgiEnv) -> None:
    progress: list[int] = []
    lines: list[str] = []
    result = asyncio.run(
        AGI.run(
            noisy_probe,
            mode=0,
            params={"items": 4},
            on_line=lines.append,
            on_progress=lambda done, total: progress.append(done),
        )
    )
    assert set(result.dispatched) == {"127.0.0.1#0", "127.0.0.1#1"}, "a slot's result event was lost"
    assert sorted(label for labels in result.dispatched.values() for label in labels) == [
        "item0",
        "item1",
        "item2",
        "item3",
    ]
    assert progress[-1] == 4, "a chunk event was lost"
    log = "\n".join(lines)
    assert "progress of item3 50%" in log and "stopping slot" in log  # app output is still shown
    assert "forged by the app" in log  # ... as output, not as an error event


def test_the_warm_worker_stays_usable_after_noisy_runs(noisy_probe: AgiEnv) -> None:
    for _ in range(2):
        result = asyncio.run(AGI.run(noisy_probe, mode=0, params={"items": 2}))
        assert set(result.dispatched) == {"127.0.0.1#0", "127.0.0.1#1"}
