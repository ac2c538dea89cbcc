"""``item_timeout``: a work item running longer fails its chunk, naming the item and the limit, in every mode."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from probe_helpers import copy_probe, executions

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core import cluster
from agi_jupyter.core.errors import RunError, SettingsError
from agi_jupyter.core.settings import AppSettings, save_settings

DELAY = 2.0  # seconds each probe item sleeps
LIMIT = 0.4


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module():
    yield
    cluster.close_local_cluster()


def probe(tmp_path: Path, modes: Mode, **cluster_keys: object) -> AgiEnv:
    env = copy_probe(tmp_path)
    save_settings(env.settings_path, {"args.delay": DELAY, **{f"cluster.{k}": v for k, v in cluster_keys.items()}})
    asyncio.run(AGI.install(env, modes_enabled=modes))
    return env


def failure(env: AgiEnv, **fields: object) -> str:
    with pytest.raises(RunError) as caught:
        asyncio.run(AGI.run(env, **fields))
    return str(caught.value)


@pytest.mark.parametrize(
    "mode, executor",
    [(Mode(0), "process"), (Mode.POOL, "process"), (Mode.POOL, "thread")],
    ids=["python", "process-pool", "thread-pool"],
)
def test_a_late_item_fails_its_local_chunk_and_nothing_of_it_runs_on(tmp_path: Path, mode: Mode, executor: str) -> None:
    env = probe(tmp_path, Mode.POOL, item_timeout=LIMIT, pool_executor=executor, pool_width=2)
    started = time.monotonic()
    message = failure(env, mode=mode)
    assert time.monotonic() - started < 4 * DELAY  # four items of DELAY on two slots: it did not wait them out
    assert "ran over item_timeout = 0.4 s" in message and "chunk item" in message
    assert "work item 'item" in message
    if mode & Mode.POOL and executor == "process":
        assert "process pool was terminated" in message
    else:
        assert "abandoned" in message
    time.sleep(DELAY + 0.5)
    assert sum(executions(env).values()) == 0  # the local worker process (and its pool) was killed


def test_the_request_limit_overrides_the_settings_and_an_item_within_it_passes(tmp_path: Path) -> None:
    env = probe(tmp_path, Mode(0), item_timeout=30)
    result = asyncio.run(AGI.run(env, mode=0, params={"delay": 0.1}))  # each item in a helper thread, in time
    assert result.mode == 0 and sum(executions(env).values()) == 4
    message = failure(env, request=RunRequest(mode=0, item_timeout=0.5))
    assert "ran over item_timeout = 0.5 s" in message


def test_a_late_item_fails_a_dask_run_naming_the_item_and_the_limit(tmp_path: Path) -> None:
    env = probe(tmp_path, Mode.DASK, item_timeout=LIMIT)
    assert AppSettings.load(env.settings_path).cluster.scheduler is None  # our loopback cluster only
    message = failure(env, mode=Mode.DASK)
    assert "ran over item_timeout = 0.4 s" in message and "work item 'item" in message
    assert "(slot " in message and "abandoned" in message  # a Dask worker's thread cannot be killed


def test_a_late_item_in_a_dask_process_pool_has_its_pool_terminated(tmp_path: Path) -> None:
    env = probe(tmp_path, Mode.DASK | Mode.POOL, item_timeout=LIMIT, pool_width=1)
    message = failure(env, mode=Mode.DASK | Mode.POOL)
    assert "ran over item_timeout = 0.4 s" in message and "process pool was terminated" in message


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("pool_width", 0, "greater than or equal to 1"),
        ("pool_width", 1.5, "valid integer"),
        ("item_timeout", 0, "greater than 0"),
        ("item_timeout", -2.5, "greater than 0"),
        ("item_timeout", "soon", "valid number"),
        ("pool_executor", "fork", "'process' or 'thread'"),
    ],
)
def test_bad_pool_settings_are_refused_naming_the_key(tmp_path: Path, key: str, value: object, words: str) -> None:
    env = copy_probe(tmp_path)
    before = env.settings_path.read_bytes()
    with pytest.raises(SettingsError) as caught:
        save_settings(env.settings_path, {f"cluster.{key}": value})
    assert f"[cluster.{key}]" in str(caught.value) and words in str(caught.value)
    assert env.settings_path.read_bytes() == before


def test_pool_settings_have_defaults_and_empty_means_none(tmp_path: Path) -> None:
    env = copy_probe(tmp_path)
    cluster_settings = AppSettings.load(env.settings_path).cluster
    assert (cluster_settings.pool_width, cluster_settings.item_timeout, cluster_settings.pool_executor) == (
        None,
        None,
        "process",
    )
    saved = save_settings(env.settings_path, {"cluster.pool_width": "", "cluster.item_timeout": 5})
    assert saved.cluster.pool_width is None and saved.cluster.item_timeout == 5.0
