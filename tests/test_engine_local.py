"""The engine without Dask: install, plans, runs in modes 0-3, benchmark, errors, cancel."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from engine_helpers import BIG_MANDELBROT, SMALL, break_flight_worker, cancel_midway, clear, output_dir, snapshot

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core.errors import AgiError, ArgsError, InstallError, RunError
from agi_jupyter.core.install import InstallRecord
from agi_jupyter.core.runner import load_worker_class
from agi_jupyter.core.settings import save_settings

LOCAL = Mode.POOL | Mode.CYTHON


def install(env: AgiEnv, modes: Mode = LOCAL, **fields) -> InstallRecord:  # noqa: ANN003
    return asyncio.run(AGI.install(env, modes_enabled=modes, **fields))


@pytest.mark.parametrize("app", ["flight", "mandelbrot", "sensors"])
def test_every_local_mode_gives_the_same_outputs(apps_path: Path, app: str) -> None:
    env = AgiEnv(app, apps_path=apps_path)
    install(env)
    folder = output_dir(env, SMALL[app])
    snapshots = {}
    for mode in (0, 1, 2, 3):
        clear(folder)
        result = asyncio.run(AGI.run(env, RunRequest(mode=mode, params=SMALL[app], pool_width=2)))
        assert result.mode == mode and result.token == Mode(mode).token and result.variant == "local"
        assert set(result.worker_seconds) <= {"127.0.0.1#0", "127.0.0.1#1"}
        snapshots[mode] = snapshot(folder)
    assert snapshots[0], "the run wrote nothing"
    for mode in (1, 2, 3):
        assert snapshots[mode] == snapshots[0], f"mode {mode} differs from mode 0"


def test_cython_modes_load_the_compiled_extension(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    record = install(env, Mode.CYTHON)
    assert record.compiled and record.compiled.endswith(".so") and Path(record.compiled).is_file()
    spec = {
        "paths": [str(env.cython_dir), str(env.src_path)],
        "cython": True,
        "worker_package": env.worker_module,
        "worker_module": f"{env.worker_module}.{env.worker_module}",
        "worker_class": env.worker_class,
    }
    worker_class = load_worker_class(spec)
    module = __import__(worker_class.__module__, fromlist=["compiled"])
    assert module.__file__ == record.compiled and module.compiled() is True
    Path(record.compiled).unlink()
    with pytest.raises(InstallError, match="needs the Cython build"):
        asyncio.run(AGI.run(env, mode=Mode.CYTHON, params=SMALL["mandelbrot"]))


def test_second_install_does_almost_nothing_and_is_recorded(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    lines: list[str] = []
    first = install(env)
    python_stamp = env.worker_python.stat().st_mtime_ns
    second = asyncio.run(AGI.install(env, modes_enabled=LOCAL, on_line=lines.append))
    assert any("unchanged since the last install" in line for line in lines)
    assert not any(line.startswith("$ ") for line in lines)  # no command was run
    assert env.worker_python.stat().st_mtime_ns == python_stamp
    assert second.fingerprint == first.fingerprint and second.compiled == first.compiled
    saved = json.loads(env.install_record_path.read_text())
    assert saved["schema"] == "agi.install.v1" and saved["modes_enabled"] == int(LOCAL)
    assert Path(saved["log"]).read_text().count("\n") >= 2


def test_run_needs_an_install_and_a_changed_app_needs_another(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    with pytest.raises(InstallError, match="not installed: install it with the INSTALL button"):
        asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))
    install(env, Mode(0))
    worker = env.worker_path
    worker.write_text(worker.read_text() + "\n# edited\n")
    with pytest.raises(InstallError, match="changed since it was installed"):
        asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))


def test_missing_compiler_fails_clearly_and_keeps_the_previous_install(
    apps_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    install(env, Mode(0))
    monkeypatch.setattr("agi_jupyter.core.install.find_c_compiler", lambda: None)
    with pytest.raises(InstallError, match="needs a C compiler"):
        install(env, Mode.CYTHON, force=True)
    result = asyncio.run(AGI.run(env, mode=0, params=SMALL["mandelbrot"]))
    assert result.outputs


def test_failed_dependency_is_named_and_the_previous_install_stays(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    good = install(env, Mode(0))
    pyproject = env.pyproject_path
    pyproject.write_text(pyproject.read_text().replace('"numpy>=1.26"', '"numpy>=999.0"'))
    with pytest.raises(InstallError, match=r"numpy>=999\.0"):
        install(env, Mode(0))
    assert InstallRecord.load(env) == good


def test_reassigned_plan_is_dispatched_as_saved(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    save_settings(env.settings_path, {"args.flights": 6})
    install(env, Mode(0))
    built = asyncio.run(AGI.get_distrib(env))
    assert built.reason.startswith("no saved plan")
    moved = built.plan.slots[0][0].label
    edited = asyncio.run(AGI.reassign(env, 0, 0, 1))
    assert edited.edited and edited.plan.slots[1][-1].label == moved
    result = asyncio.run(AGI.run(env, mode=0))
    assert "saved plan reused (edited" in result.plan
    assert moved in result.dispatched["127.0.0.1#1"] and moved not in result.dispatched.get("127.0.0.1#0", [])
    again = asyncio.run(AGI.run(env, mode=0, params={"flights": 5}))
    assert "saved plan replaced (arguments changed: flights 6 -> 5)" in again.plan


def test_benchmark_writes_ranked_rows_and_a_single_run_updates_its_row(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    install(env)
    table = asyncio.run(AGI.run(env, RunRequest(benchmark=True, modes=[0, 2], params=SMALL["mandelbrot"])))
    saved = json.loads(env.benchmark_path.read_text())
    assert saved == table and saved["schema"] == "agi.benchmark.v1"
    rows = {row["mode"]: row for row in saved["rows"]}
    assert set(rows) == {0, 2}
    ordered = sorted(rows.values(), key=lambda row: row["order"])
    assert [row["seconds"] for row in ordered] == sorted(row["seconds"] for row in ordered)
    assert ordered[0]["delta"] == 0
    assert ordered[1]["delta"] == pytest.approx(ordered[1]["seconds"] - ordered[0]["seconds"])
    assert all(row["token"] == Mode(row["mode"]).token and row["variant"] == "local" for row in ordered)
    asyncio.run(AGI.run(env, mode=3, params=SMALL["mandelbrot"], pool_width=2))
    rows = {row["mode"]: row for row in json.loads(env.benchmark_path.read_text())["rows"]}
    assert set(rows) == {0, 2, 3} and rows[3]["single_run"] is True


def test_a_failing_mode_is_recorded_and_the_others_still_run(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    install(env, Mode(0))  # no cython build: mode 2 must fail
    table = asyncio.run(AGI.run(env, benchmark=True, modes=[2, 0], params=SMALL["mandelbrot"]))
    rows = {row["mode"]: row for row in table["rows"]}
    assert rows[2]["status"] == "failed" and "Cython build" in rows[2]["error"]
    assert rows[0]["status"] == "ok" and rows[0]["order"] == 1


def test_worker_exception_names_item_slot_and_traceback(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    break_flight_worker(env, "flight_0003.csv", "ValueError('corrupt log')")
    install(env, Mode(0))
    with pytest.raises(RunError) as caught:
        asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))
    message = str(caught.value)
    assert "flight_0003.csv" in message and "corrupt log" in message and "slot" in message
    assert "Traceback" in message and "flight_worker.py" in message


def test_bad_requests_are_explained(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    with pytest.raises(AgiError, match="mode 'zz' is not understood"):
        asyncio.run(AGI.run(env, mode="zz"))
    with pytest.raises(AgiError, match="not a valid IP"):
        asyncio.run(AGI.run(env, mode=0, workers={"10.0.0.x": 1}))
    install(env, Mode(0))
    with pytest.raises(ArgsError) as caught:
        asyncio.run(AGI.run(env, mode=0, params={"flights": 0}))
    assert "flights" in caught.value.errors


def test_rapids_without_cudf_fails_before_starting(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    install(env, Mode(0))
    with pytest.raises(RunError, match="needs the 'cudf' package.*nothing was started"):
        asyncio.run(AGI.run(env, mode=Mode.RAPIDS, params=SMALL["flight"]))
    assert not list(env.log_dir.glob("distribution.json"))


def test_cancel_stops_the_local_worker_processes(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    install(env, Mode(0))
    confirmed, seconds, outcome, progress = cancel_midway(env, mode=Mode.POOL, params=BIG_MANDELBROT, pool_width=2)
    assert confirmed is True and seconds < 5
    assert outcome and isinstance(outcome[0], RunError) and "cancelled" in str(outcome[0])
    assert progress[-1] < BIG_MANDELBROT["bands"]


def test_local_runs_reuse_a_warm_worker_process_until_the_app_changes(apps_path: Path) -> None:
    from agi_jupyter.core import local

    env = AgiEnv("flight", apps_path=apps_path)
    install(env, Mode(0))
    asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))
    first = {key: worker.process.pid for key, worker in local._warm.items() if key[0] == str(env.worker_python)}
    asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))
    second = {key: worker.process.pid for key, worker in local._warm.items() if key[0] == str(env.worker_python)}
    assert len(first) == 1 and first == second
    worker = env.worker_path
    worker.write_text(worker.read_text().replace('"samples": len(log),', '"samples": -len(log),'))
    install(env, Mode(0))
    result = asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))
    third = {key: worker.process.pid for key, worker in local._warm.items() if key[0] == str(env.worker_python)}
    assert len(third) == 1 and set(third.values()) != set(first.values())
    import pandas as pd

    assert (pd.read_parquet(result.outputs[0])["samples"] < 0).all()  # the new code ran


def test_moves_chosen_on_an_older_plan_are_refused(apps_path: Path) -> None:
    from agi_jupyter.core.errors import PlanError

    env = AgiEnv("flight", apps_path=apps_path)
    first = asyncio.run(AGI.get_distrib(env, params={"flights": 4}))
    time.sleep(1.1)  # the stamp has a one-second resolution
    asyncio.run(AGI.get_distrib(env, params={"flights": 5}))  # rebuilt meanwhile (e.g. by a RUN)
    before = env.plan_path.read_text()
    with pytest.raises(PlanError, match="rebuilt"):
        asyncio.run(AGI.reassign(env, moves=[(0, 0, 1)], built=first.built))
    assert env.plan_path.read_text() == before
