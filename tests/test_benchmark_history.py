"""benchmark_history.json: every benchmark appended, capped, charted per mode, and never silently overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agi_jupyter import AgiEnv, Mode
from agi_jupyter.core import benchmark as bench
from agi_jupyter.core.errors import RunError
from agi_jupyter.core.run import RunResult


def result_of(mode: Mode, seconds: float) -> RunResult:
    return RunResult(
        app="flight_project",
        mode=int(mode),
        token=mode.token,
        label=mode.label,
        seconds=seconds,
        worker_seconds={},
        outputs=[],
        chunks=1,
        variant="cluster" if mode & Mode.DASK else "local",
        nodes=1,
        log="",
        plan="test",
    )


def fake_runs(times: dict[int, float]) -> object:
    def run_one(mode: Mode) -> RunResult:
        if int(mode) not in times:
            raise RuntimeError(f"mode {int(mode)} broke")
        return result_of(mode, times[int(mode)])

    return run_one


@pytest.fixture
def env(apps_path: Path) -> AgiEnv:
    return AgiEnv("flight", apps_path=apps_path)


def test_a_benchmark_appends_one_entry_with_its_ranked_rows(env: AgiEnv) -> None:
    assert bench.read_history(env) is None
    bench.benchmark(env, [Mode(0), Mode(1), Mode(2)], fake_runs({0: 0.3, 1: 0.1}))
    saved = json.loads(env.benchmark_history_path.read_text())
    assert saved["schema"] == "agi.benchmark.history.v1" and saved["app"] == env.app
    [entry] = saved["entries"]
    assert entry["modes"] == [0, 1, 2] and entry["when"] and entry["host"]
    assert [(row["mode"], row["order"], row["status"]) for row in entry["rows"]] == [
        (1, 1, "ok"),
        (0, 2, "ok"),
        (2, None, "failed"),
    ]
    assert env.benchmark_history_path.parent == env.benchmark_path.parent


def test_a_single_run_is_not_a_benchmark_and_leaves_the_history_alone(env: AgiEnv) -> None:
    bench.record_table(env, [bench.row_of(result_of(Mode(0), 0.2), single_run=True)])
    assert env.benchmark_path.is_file() and not env.benchmark_history_path.exists()


def test_the_history_keeps_the_last_entries_up_to_the_limit(env: AgiEnv) -> None:
    for number in range(bench.HISTORY_LIMIT + 3):
        bench.append_history(env, [bench.row_of(result_of(Mode(0), 1.0 + number), single_run=False)], [Mode(0)])
    history = bench.read_history(env)
    assert history is not None and len(history.entries) == bench.HISTORY_LIMIT == 20
    assert history.entries[0].rows[0].seconds == 4.0 and history.entries[-1].rows[0].seconds == 23.0
    bench.append_history(env, [bench.row_of(result_of(Mode(1), 0.5), single_run=False)], [Mode(1)], limit=2)
    assert len(json.loads(env.benchmark_history_path.read_text())["entries"]) == 2


def test_series_has_one_line_per_mode_skipping_entries_where_it_failed_or_did_not_run(env: AgiEnv) -> None:
    bench.benchmark(env, [Mode(0), Mode(1)], fake_runs({0: 0.3, 1: 0.1}))
    bench.benchmark(env, [Mode(0), Mode(1)], fake_runs({0: 0.2}))
    bench.benchmark(env, [Mode(1)], fake_runs({1: 0.4}))
    history = bench.read_history(env)
    assert history is not None
    assert history.series() == {0: [(1, 0.3), (2, 0.2)], 1: [(1, 0.1), (3, 0.4)]}


def test_a_malformed_history_names_the_file_and_is_moved_aside_not_overwritten(env: AgiEnv) -> None:
    path = env.benchmark_history_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema": "agi.benchmark.history.v1", "entries": "oops"}')
    with pytest.raises(RunError) as raised:
        bench.read_history(env)
    assert str(path) in str(raised.value) and "entries" in str(raised.value)
    lines: list[str] = []
    bench.benchmark(env, [Mode(0)], fake_runs({0: 0.3}), on_line=lines.append)
    [aside] = path.parent.glob("benchmark_history.json.malformed-*")
    assert aside.read_text() == '{"schema": "agi.benchmark.history.v1", "entries": "oops"}'
    assert any(str(path) in line and str(aside) in line for line in lines)
    history = bench.read_history(env)
    assert history is not None and len(history.entries) == 1


def test_unknown_keys_of_a_newer_version_are_kept(env: AgiEnv) -> None:
    bench.benchmark(env, [Mode(0)], fake_runs({0: 0.3}))
    path = env.benchmark_history_path
    data = json.loads(path.read_text())
    data["future"] = {"kept": True}
    data["entries"][0]["gpu"] = "none"
    path.write_text(json.dumps(data))
    bench.benchmark(env, [Mode(0)], fake_runs({0: 0.2}))
    again = json.loads(path.read_text())
    assert again["future"] == {"kept": True} and again["entries"][0]["gpu"] == "none" and len(again["entries"]) == 2


def test_a_cancelled_benchmark_with_no_finished_mode_adds_no_entry(env: AgiEnv) -> None:
    bench.benchmark(env, [Mode(0)], fake_runs({0: 0.3}), cancelled=lambda: True)
    assert not env.benchmark_history_path.exists()
