"""The engine on a real local Dask cluster: modes 4-7, pinning, shipping, errors, cancel."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from engine_helpers import BIG_MANDELBROT, SMALL, break_flight_worker, cancel_midway, clear, output_dir, snapshot

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core import cluster
from agi_jupyter.core.errors import ClusterError, InstallError, RunError

ALL_BUT_RAPIDS = Mode.POOL | Mode.CYTHON | Mode.DASK


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module():
    yield
    cluster.close_local_cluster()
    cluster.close_clients()


def install(env: AgiEnv, modes: Mode = ALL_BUT_RAPIDS) -> None:
    asyncio.run(AGI.install(env, modes_enabled=modes))


@pytest.mark.parametrize("app", ["flight", "mandelbrot", "sensors"])
def test_modes_0_to_7_give_the_same_outputs(apps_path: Path, app: str) -> None:
    env = AgiEnv(app, apps_path=apps_path)
    install(env)
    folder = output_dir(env, SMALL[app])
    snapshots = {}
    for mode in range(8):
        clear(folder)
        result = asyncio.run(AGI.run(env, RunRequest(mode=mode, params=SMALL[app], pool_width=2)))
        assert result.variant == ("cluster" if mode & Mode.DASK else "local")
        snapshots[mode] = snapshot(folder)
        assert len(result.outputs) == len(snapshots[mode]), f"mode {mode} reported other outputs than it wrote"
    assert snapshots[0]
    for mode in range(1, 8):
        assert snapshots[mode] == snapshots[0], f"mode {mode} differs from mode 0"


def test_dask_slots_are_pinned_to_their_workers_and_a_reassigned_plan_is_honoured(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    install(env, Mode.DASK)
    distribution = asyncio.run(AGI.get_distrib(env, params=SMALL["flight"]))
    moved = distribution.plan.slots[1][0].label
    asyncio.run(AGI.reassign(env, 1, 0, 0))
    result = asyncio.run(AGI.run(env, mode=Mode.DASK, params=SMALL["flight"]))
    assert moved in result.dispatched["127.0.0.1#0"] and moved not in result.dispatched["127.0.0.1#1"]
    handle = cluster.select_client(None, workers={"127.0.0.1": 2})
    assert handle.source == "local" and handle.address.startswith("tcp://127.0.0.1:")
    assert result.nodes == 1 and set(result.worker_seconds) == {"127.0.0.1#0", "127.0.0.1#1"}


def test_worker_exception_on_dask_names_worker_item_and_traceback(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    break_flight_worker(env, "flight_0002.csv", "KeyError('no such column')")
    install(env, Mode.DASK)
    with pytest.raises(RunError) as caught:
        asyncio.run(AGI.run(env, mode=Mode.DASK, params=SMALL["flight"]))
    message = str(caught.value)
    assert "worker tcp://127.0.0.1:" in message and "flight_0002.csv" in message
    assert "no such column" in message and "Traceback" in message


def test_edited_worker_code_is_shipped_again(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    install(env, Mode.DASK)
    first = asyncio.run(AGI.run(env, mode=Mode.DASK, params=SMALL["flight"]))
    worker = env.worker_path
    worker.write_text(worker.read_text().replace('"samples": len(log),', '"samples": -len(log),'))
    install(env, Mode.DASK)
    clear(Path(first.outputs[0]).parent)
    asyncio.run(AGI.run(env, mode=Mode.DASK, params=SMALL["flight"]))
    rows = snapshot(Path(first.outputs[0]).parent)
    assert all(row[3] < 0 for frame in rows.values() for row in frame)


def test_unknown_worker_host_is_refused_before_anything_runs(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    install(env, Mode.DASK)
    with pytest.raises(ClusterError, match="10.9.8.7"):
        asyncio.run(AGI.run(env, mode=Mode.DASK, params=SMALL["flight"], workers={"10.9.8.7": 1}))


def test_missing_dependency_on_the_workers_is_named() -> None:
    from agi_jupyter.core import shipping

    handle = cluster.select_client(None, workers={"127.0.0.1": 2})
    with pytest.raises(InstallError) as caught:
        shipping.check_workers(handle.client, ["agi-no-such-package>=1"], lambda line: None, ["no_such_module_either"])
    message = str(caught.value)
    assert "missing agi-no-such-package>=1 (not installed)" in message
    assert "cannot import no_such_module_either" in message and message.count("tcp://127.0.0.1:") == 4


def test_cancel_stops_dask_tasks(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    install(env, Mode.DASK)
    confirmed, seconds, outcome, _progress = cancel_midway(env, mode=Mode.DASK, params=BIG_MANDELBROT)
    assert confirmed is True and seconds < 5
    assert outcome and isinstance(outcome[0], RunError) and "cancelled" in str(outcome[0])
    handle = cluster.select_client(None, workers={"127.0.0.1": 2})
    executing = handle.client.run(lambda dask_worker: len(dask_worker.state.executing))
    assert sum(executing.values()) == 0
