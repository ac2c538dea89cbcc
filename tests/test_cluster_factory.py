"""``[cluster] factory``: the engine gets its cluster from any Dask cluster manager named in the settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from engine_helpers import SMALL

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.core import cluster
from agi_jupyter.core.deploy.factory import close_factory_clusters
from agi_jupyter.core.errors import ClusterError, SettingsError
from agi_jupyter.core.requests import RunRequest
from agi_jupyter.core.settings import AppSettings, save_settings

LOCAL = {"n_workers": 2, "threads_per_worker": 1, "host": "127.0.0.1", "dashboard_address": ":0"}


@pytest.fixture(autouse=True)
def close_factories():
    yield
    close_factory_clusters()


def test_a_factory_cluster_runs_the_app_and_is_made_once(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    save_settings(env.settings_path, {"cluster.factory": "distributed.LocalCluster", "cluster.factory_kwargs": LOCAL})
    lines: list[str] = []
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK, on_line=lines.append))
    assert any("starting a Dask cluster with distributed.LocalCluster(n_workers=2" in line for line in lines)
    result = asyncio.run(AGI.run(env, RunRequest(mode=Mode.DASK, params=SMALL["flight"])))
    assert set(result.worker_seconds) == {"127.0.0.1#0", "127.0.0.1#1"}
    first = cluster.client_for(env, RunRequest())
    assert first.source == "factory" and first.owned
    assert cluster.client_for(env, RunRequest()).client is first.client  # made once, reused
    assert "made by the [cluster] factory" in cluster.describe(first)


def test_a_factory_that_cannot_be_imported_is_named(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    save_settings(env.settings_path, {"cluster.factory": "no_such_package.SLURMCluster"})
    with pytest.raises(ClusterError, match=r"factory 'no_such_package\.SLURMCluster' cannot be imported"):
        cluster.client_for(env, RunRequest())


def test_a_factory_whose_arguments_fail_is_named_with_them(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    save_settings(
        env.settings_path,
        {"cluster.factory": "distributed.LocalCluster", "cluster.factory_kwargs": {"no_such_argument": 1}},
    )
    with pytest.raises(ClusterError, match=r"LocalCluster\(no_such_argument=1\) failed"):
        cluster.client_for(env, RunRequest())


def test_a_factory_that_is_not_a_dotted_name_is_refused_with_its_key(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    with pytest.raises(SettingsError, match=r"\[cluster\.factory\].*dotted name"):
        save_settings(env.settings_path, {"cluster.factory": "LocalCluster"})
    assert AppSettings.load(env.settings_path).cluster.factory is None  # nothing was saved
