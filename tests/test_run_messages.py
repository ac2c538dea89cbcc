"""What a failed, empty or refused run tells its user: in the log file and through ``on_line``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from engine_helpers import BIG_MANDELBROT, SMALL, break_flight_worker, cancel_midway

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.core.errors import InstallError, RunError

PARAMS = SMALL["flight"]


def install(env: AgiEnv) -> None:
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))


def newest_log(env: AgiEnv, prefix: str) -> str:
    return sorted(env.log_dir.glob(f"{prefix}_*.log"))[-1].read_text()


def test_a_failed_run_writes_its_error_to_the_log(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    install(env)
    break_flight_worker(env, "", "ValueError('bad flight log')")
    install(env)
    lines: list[str] = []
    with pytest.raises(RunError, match="bad flight log"):
        asyncio.run(AGI.run(env, mode=0, params=PARAMS, on_line=lines.append))
    assert any(line.startswith("RUN failed: ") and "bad flight log" in line for line in lines)
    log = newest_log(env, "run")
    assert "RUN failed: " in log and "bad flight log" in log


def test_a_cancelled_run_says_so_in_its_log(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    install(env)
    _, _, outcome, _ = cancel_midway(env, mode=Mode(0), params=BIG_MANDELBROT)
    assert outcome and isinstance(outcome[0], RunError)
    log = newest_log(env, "run")
    assert "RUN cancelled: " in log and "RUN failed" not in log


def test_a_refused_run_says_why_in_its_log_and_names_the_changed_file(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    install(env)
    break_flight_worker(env, "never.csv", "ValueError('x')")
    with pytest.raises(InstallError) as caught:
        asyncio.run(AGI.run(env, mode=0, params=PARAMS))
    message = str(caught.value)
    assert str(env.worker_path.relative_to(env.app_path)) in message
    assert "AGI.install(env)" in message and f"agi-jupyter install {env.target}" in message
    assert "INSTALL" in message
    log = newest_log(env, "run")
    assert "RUN failed: " in log and "changed since it was installed" in log


def test_a_run_before_any_install_gives_the_three_ways_to_install(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    with pytest.raises(InstallError) as caught:
        asyncio.run(AGI.run(env, mode=0, params=PARAMS))
    message = str(caught.value)
    assert "is not installed" in message
    assert "AGI.install(env)" in message and f"agi-jupyter install {env.target}" in message


def test_a_failed_install_writes_its_error_to_the_log(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    env.pyproject_path.write_text(env.pyproject_path.read_text() + "\n[project\n")
    lines: list[str] = []
    with pytest.raises(InstallError):
        asyncio.run(AGI.install(env, modes_enabled=Mode(0), on_line=lines.append))
    assert any(line.startswith("INSTALL failed: ") for line in lines)
    assert "INSTALL failed: " in newest_log(env, "install")


def test_a_plan_without_chunks_warns_and_names_the_missing_data_in(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    manager = env.manager_path
    # an app that plans only the files it finds, as a user's app would
    manager.write_text(
        manager.read_text().replace(
            "files = ensure_dataset(folder, self.args.flights, self.args.seed)", 'files = sorted(folder.glob("*.csv"))'
        )
    )
    install(env)
    params = {**PARAMS, "data_in": "flight/typo"}
    folder = env.data_path("flight/typo")
    lines: list[str] = []
    asyncio.run(AGI.get_distrib(env, params=params, on_line=lines.append))
    assert any("warning" in line and "0 chunks" in line and str(folder) in line for line in lines), lines
    lines.clear()
    asyncio.run(AGI.run(env, mode=0, params=params, on_line=lines.append))
    warning = [line for line in lines if "warning" in line]
    assert warning and str(folder) in warning[0] and "does not exist" in warning[0], lines
    assert warning[0] in newest_log(env, "run")
    folder.mkdir(parents=True)
    lines.clear()
    asyncio.run(AGI.run(env, mode=0, params=params, on_line=lines.append))
    assert any("warning" in line and str(folder) in line and "empty" in line for line in lines), lines
