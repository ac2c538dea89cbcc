"""A re-install never kills a busy run (issue 9 item 12).

``local.py`` killed the warm worker of an older install as soon as a run of a newer install asked
for a worker, even while another run was still using it (that run died with exit -9). The old
worker must be retired only once it is idle. Real worker processes of a copy of the probe app.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.core import local

APPS = Path(__file__).parent.parent / "apps"
LIVENESS_LIMIT = 120.0  # seconds: only to stop a broken run from hanging the suite

GATED_WORKER = '''
import os
import time
from pathlib import Path

from agi_jupyter.worker import BaseWorker


class ProbeWorker(BaseWorker):
    """With ``items=1`` the item waits for the file ``<data_out>/gate``; otherwise it returns at once."""

    def work_pool(self, item):
        folder = self.data_path(self.args.data_out)
        folder.mkdir(parents=True, exist_ok=True)
        if self.args.items == 1:
            (folder / "started").write_text(str(os.getpid()))
            while not (folder / "gate").exists():
                time.sleep(0.02)
        (folder / f"done-{item}-{self.args.items}").write_text(str(os.getpid()))
        return None
'''


@pytest.fixture
def gated_probe(tmp_path: Path) -> AgiEnv:
    shutil.copytree(APPS, tmp_path / "apps")
    env = AgiEnv("probe", apps_path=tmp_path / "apps")
    env.worker_path.write_text(GATED_WORKER)
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    yield env
    (env.share_dir / "probe").mkdir(parents=True, exist_ok=True)
    (env.share_dir / "probe" / "gate").write_text("")  # never leave a run waiting


def wait_until(condition, what: str, thread: threading.Thread | None = None) -> None:  # noqa: ANN001
    deadline = time.monotonic() + LIVENESS_LIMIT
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        assert thread is None or thread.is_alive(), f"the run ended before {what}"
        time.sleep(0.02)


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_new_install_waits_for_the_busy_old_worker_then_retires_it(gated_probe: AgiEnv) -> None:
    env, folder = gated_probe, gated_probe.share_dir / "probe"
    outcome: list[object] = []

    def run_a() -> None:
        try:
            outcome.append(asyncio.run(AGI.run(env, mode=0, params={"items": 1})))
        except BaseException as error:  # noqa: BLE001 - examined by the test
            outcome.append(error)

    thread = threading.Thread(target=run_a)
    thread.start()
    wait_until((folder / "started").exists, "run A's item started", thread)
    old_pid = int((folder / "started").read_text())

    env.worker_path.write_text(env.worker_path.read_text() + "\n# edited: a new install key\n")
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    run_b = asyncio.run(AGI.run(env, mode=0, params={"items": 2}))  # a new worker process
    assert run_b.dispatched and pid_exists(old_pid), "run B's start killed run A's worker"

    (folder / "gate").write_text("")
    thread.join(LIVENESS_LIMIT)
    assert not thread.is_alive()
    assert not isinstance(outcome[0], BaseException), f"run A failed: {outcome[0]}"
    assert (folder / "done-item0-1").read_text() == str(old_pid)

    wait_until(lambda: not pid_exists(old_pid), "the retired worker's exit")  # retired once idle
    warm = [worker.process.pid for key, worker in local._warm.items() if key[0] == str(env.worker_python)]
    assert len(warm) == 1 and old_pid not in warm
    again = asyncio.run(AGI.run(env, mode=0, params={"items": 2}))
    assert again.dispatched
    assert int((folder / "done-item0-2").read_text()) == warm[0]  # the new warm worker serves on
