"""The workers' verbosity: a request's ``verbose``, else ``AgiEnv(verbose=...)``, else the app's
``[cluster] verbose`` — the Settings tab's value reaches the workers, as its description says."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest, new_app
from agi_jupyter.core.requests import resolve
from agi_jupyter.core.run import build_worker_spec
from agi_jupyter.core.settings import save_settings
from agi_jupyter.core.snippets import make_snippet

ARGS = {"flights": 2}


def test_the_settings_verbosity_reaches_the_worker_spec_unless_the_env_or_the_request_names_one(
    apps_path: Path,
) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    assert build_worker_spec(env, ARGS).verbose == 1  # nothing set anywhere
    save_settings(env.settings_path, {"cluster.verbose": 2})
    assert build_worker_spec(env, ARGS).verbose == 2
    assert build_worker_spec(env, ARGS, verbose=3).verbose == 3  # the request wins
    quiet = AgiEnv("flight", apps_path=apps_path, verbose=0)
    assert build_worker_spec(quiet, ARGS).verbose == 0  # given to AgiEnv: wins over the settings
    assert build_worker_spec(quiet, ARGS, verbose=2).verbose == 2


def test_the_effective_run_request_and_its_snippet_name_a_verbosity_other_than_the_usual(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    assert resolve(env, RunRequest(mode=0)).verbose is None  # the usual level is not rendered
    save_settings(env.settings_path, {"cluster.verbose": 0})
    effective = resolve(env, RunRequest(mode=0))
    assert effective.verbose == 0
    assert "verbose=0" in make_snippet(env, "run", effective).code
    assert resolve(env, RunRequest(mode=0, verbose=1)).verbose == 1  # asked for: kept


def test_the_settings_verbosity_decides_what_a_worker_logs_in_a_real_run(tmp_path: Path) -> None:
    folder = new_app("chatty", "pandas", apps_path=tmp_path / "apps")
    env = AgiEnv(folder)
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))

    def run_lines() -> list[str]:
        lines: list[str] = []
        asyncio.run(AGI.run(env, RunRequest(mode=0), on_line=lines.append))
        return [line for line in lines if "categories" in line]  # the template worker's level-2 line

    assert run_lines() == []  # the usual level: quiet
    save_settings(env.settings_path, {"cluster.verbose": 2})
    chatty = run_lines()
    assert chatty and all(line.count("[ChattyWorker") == 1 for line in chatty), chatty
    assert AgiEnv(folder, verbose=1).verbose_given  # an explicit level ...
    lines: list[str] = []
    asyncio.run(AGI.run(AgiEnv(folder, verbose=1), RunRequest(mode=0), on_line=lines.append))
    assert not [line for line in lines if "categories" in line]  # ... wins over the settings
