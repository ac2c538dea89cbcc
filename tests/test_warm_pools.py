"""Warm pools (issue 13 item 1): a pool-mode run leases the pool its slot's last run left warm.

Real runs of a copy of the probe app whose items record the pid of the pool member that ran them
and whose ``pool_init`` records each call, locally (the engine's warm worker process) and on the
engine's local Dask cluster. Same install, arguments and pool settings: the same members, no new
``pool_init``; anything else, a broken member, a timed-out item: a new pool.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core import cluster, local
from agi_jupyter.core.errors import RunError
from agi_jupyter.core.settings import save_settings

APPS = Path(__file__).parent / "apps"
LIMIT = 60.0  # seconds: only to stop a broken test from hanging the suite
ITEMS = 4  # the probe settings' items

ARGS = """
from pydantic import BaseModel, Field


class ProbeArgs(BaseModel):
    items: int = Field(4, ge=1)
    delay: float = Field(0.05, ge=0)
    tag: str = "a"
    data_out: str = "probe"
"""

MANAGER = """
from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots


class Probe(BaseManager):
    def build_distribution(self, workers):
        chunks = [Chunk("all", 1.0, [f"item{n}" for n in range(self.args.items)])]
        return WorkPlan.balanced(chunks, len(worker_slots(workers)))
"""

WORKER = '''
import os
import time
import uuid

from agi_jupyter.worker import BaseWorker


class ProbeWorker(BaseWorker):
    """Each item leaves pids/<item>~<pid>~<tag>; each pool_init leaves inits/<pid>-<unique>."""

    def pool_vars(self):
        return {"tag": self.args.tag}

    def pool_init(self, vars):
        self.tag = vars["tag"]
        folder = self.data_path(self.args.data_out) / "inits"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}").write_text(self.tag)

    def work_pool(self, item):
        folder = self.data_path(self.args.data_out)
        time.sleep(5.0 if (folder / "slow").exists() else self.args.delay)
        (folder / "pids").mkdir(parents=True, exist_ok=True)
        (folder / "pids" / f"{item}~{os.getpid()}~{self.tag}").write_text("")
        return None
'''


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module():
    yield
    cluster.close_local_cluster()


@pytest.fixture
def probe(tmp_path: Path) -> AgiEnv:
    shutil.copytree(APPS, tmp_path / "apps")
    env = AgiEnv("probe", apps_path=tmp_path / "apps")
    env.worker_path.write_text(WORKER)
    env.args_path.write_text(ARGS)
    (env.src_path / "probe" / "probe.py").write_text(MANAGER)
    save_settings(env.settings_path, {"cluster.workers": {"127.0.0.1": 1}, "cluster.pool_width": 2})
    yield env
    local.close_local_workers()


def install(env: AgiEnv, modes: Mode) -> None:
    asyncio.run(AGI.install(env, modes_enabled=modes))


class Probe:
    """One run's view: which member pids ran its items (with the tag they were initialised with)."""

    def __init__(self, env: AgiEnv) -> None:
        self.folder = env.share_dir / "probe"

    def run(self, env: AgiEnv, **fields: object) -> set[int]:
        shutil.rmtree(self.folder / "pids", ignore_errors=True)
        asyncio.run(AGI.run(env, RunRequest(**fields)))
        return {int(name.split("~")[1]) for name in self.names()}

    def names(self) -> list[str]:
        return sorted(path.name for path in (self.folder / "pids").iterdir())

    def members(self) -> list[int]:
        """The pid of every pool_init call so far (one per member of each pool started)."""
        folder = self.folder / "inits"
        return sorted(int(path.name.split("-")[0]) for path in folder.iterdir()) if folder.is_dir() else []

    def pool_of(self, count: int) -> set[int]:
        """The members of the pools started so far, once ``count`` pool_init calls have been seen.

        A member that did not get an item may start after the run ended: wait for its call.
        """
        wait_until(lambda: len(self.members()) >= count, f"{count} pool_init calls")
        assert len(self.members()) == count
        return set(self.members())


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


@pytest.mark.parametrize("mode", [Mode.POOL, Mode.DASK | Mode.POOL], ids=["local", "dask"])
def test_a_second_pool_run_reuses_the_same_pool_members(probe: AgiEnv, mode: Mode) -> None:
    install(probe, mode)
    view = Probe(probe)
    first = view.run(probe, mode=mode)
    pool = view.pool_of(2)  # a process pool of width 2: two members, each initialised once
    assert first <= pool and os.getpid() not in pool
    for _ in range(2):
        again = view.run(probe, mode=mode)
        assert again and again <= pool, "the run did not use the warm pool's members"
        assert len(view.names()) == ITEMS
    assert set(view.members()) == pool and len(view.members()) == 2  # no member was initialised again


@pytest.mark.parametrize("mode", [Mode.POOL, Mode.DASK | Mode.POOL], ids=["local", "dask"])
def test_other_width_executor_or_pool_variables_give_a_new_pool(probe: AgiEnv, mode: Mode) -> None:
    install(probe, mode)
    view = Probe(probe)
    view.run(probe, mode=mode)
    first = view.pool_of(2)
    narrower = view.run(probe, mode=mode, pool_width=1)
    assert len(narrower) == 1 and not narrower & first and set(view.members()) == first | narrower
    wait_until(lambda: not any(alive(pid) for pid in first), "the replaced pool's members' exit")
    threads = view.run(probe, mode=mode, pool="thread")
    assert len(threads) == 1 and not threads & (first | narrower)  # the slot's own process runs thread pools
    view.pool_of(2 + 1 + 2)  # each thread of the new pool ran pool_init
    retagged = view.run(probe, mode=mode, params={"tag": "b"})
    assert not retagged & (first | narrower | threads)
    assert all(name.endswith("~b") for name in view.names())  # members initialised with this run's pool_vars
    view.pool_of(2 + 1 + 2 + 2)
    assert view.run(probe, mode=mode, params={"tag": "b"}) <= set(view.members()) - first - narrower - threads
    assert len(view.members()) == 7  # the retagged pool stayed warm


@pytest.mark.parametrize("mode", [Mode.POOL, Mode.DASK | Mode.POOL], ids=["local", "dask"])
def test_a_new_install_gives_a_new_pool(probe: AgiEnv, mode: Mode) -> None:
    install(probe, mode)
    view = Probe(probe)
    view.run(probe, mode=mode)
    first = view.pool_of(2)
    probe.worker_path.write_text(WORKER.replace("time.sleep(5.0", "time.sleep(6.0"))
    install(probe, mode)
    second = view.run(probe, mode=mode)
    assert second and not second & first
    wait_until(lambda: not any(alive(pid) for pid in first), "the old install's pool members' exit")


@pytest.mark.parametrize("mode", [Mode.POOL, Mode.DASK | Mode.POOL], ids=["local", "dask"])
def test_a_pool_with_a_killed_member_is_replaced_and_the_next_run_succeeds(probe: AgiEnv, mode: Mode) -> None:
    install(probe, mode)
    view = Probe(probe)
    view.run(probe, mode=mode)
    first = view.pool_of(2)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not alive(victim), "the killed member's death")
    second = view.run(probe, mode=mode)
    assert len(view.names()) == ITEMS and second and not second & first
    replacement = view.pool_of(4) - first
    assert second <= replacement
    assert view.run(probe, mode=mode) <= replacement  # the replacement is warm in turn
    assert len(view.members()) == 4


def test_a_timed_out_item_drops_its_dask_pool(probe: AgiEnv) -> None:
    mode = Mode.DASK | Mode.POOL
    install(probe, mode)
    view = Probe(probe)
    view.run(probe, mode=mode)
    first = view.pool_of(2)
    (view.folder / "slow").write_text("")
    with pytest.raises(RunError, match="process pool was terminated"):
        view.run(probe, mode=mode, item_timeout=0.5)
    (view.folder / "slow").unlink()
    second = view.run(probe, mode=mode)
    assert len(view.names()) == ITEMS and second and not second & first
    wait_until(lambda: not any(alive(pid) for pid in first), "the terminated pool members' exit")


def test_warm_pools_can_be_turned_off(probe: AgiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGI_WARM_POOLS", "0")  # inherited by the local worker process this test starts
    install(probe, Mode.POOL)
    view = Probe(probe)
    view.run(probe, mode=Mode.POOL)
    first = view.pool_of(2)
    second = view.run(probe, mode=Mode.POOL)
    assert not second & first  # every run started its own pool, as before warm pools
    assert not any(alive(pid) for pid in first)  # and shut it down before it ended


def test_the_local_worker_exit_shuts_its_pool_members_down(probe: AgiEnv) -> None:
    install(probe, Mode.POOL)
    view = Probe(probe)
    view.run(probe, mode=Mode.POOL)
    members = view.pool_of(2)
    assert members and all(alive(pid) for pid in members)
    workers = [worker.process.pid for worker in local._warm.values()]
    assert local.close_local_workers() == 1
    assert not any(alive(pid) for pid in [*members, *workers])  # shut down and reaped, not orphaned


def test_a_dask_worker_closing_shuts_its_pool_members_down(probe: AgiEnv) -> None:
    mode = Mode.DASK | Mode.POOL
    install(probe, mode)
    view = Probe(probe)
    view.run(probe, mode=mode)
    members = view.pool_of(2)
    assert members and all(alive(pid) for pid in members)
    assert cluster.close_local_cluster()
    wait_until(lambda: not any(alive(pid) for pid in members), "the pool members' exit with their Dask worker")
