"""The Run tab: the mode follows the settings unless overridden, benchmark modes and history, run logs (no browser)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from engine_helpers import SMALL

from agi_jupyter import AgiEnv, Mode
from agi_jupyter.core import benchmark as bench
from agi_jupyter.core.engine import AGI
from agi_jupyter.core.requests import RunRequest, resolve
from agi_jupyter.core.run import RunResult
from agi_jupyter.core.settings import save_settings
from agi_jupyter.core.snippets import make_snippet
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.install_tab import InstallTab
from agi_jupyter.widgets.run_tab import RunTab


def context_for(apps_path: Path, app: str = "flight", **settings: object) -> Context:
    env = AgiEnv(app, apps_path=apps_path)
    save_settings(env.settings_path, {**{f"args.{name}": value for name, value in SMALL[app].items()}, **settings})
    return Context(env, cell_id=None)


def save_and_tell(context: Context, **changes: object) -> None:
    """What the Settings tab does on a toggle: save app_settings.toml, then bump the state's digest."""
    save_settings(context.env.settings_path, {f"cluster.{name}": value for name, value in changes.items()})
    context.settings_saved()


def installed(context: Context) -> None:
    InstallTab(context).button.click()
    context.actions.wait()
    assert context.state.install.installed, context.state.install.reason


def visible(widget: object) -> bool:
    return widget.layout.display != "none"  # type: ignore[attr-defined]


# ----- 1. the mode follows the settings -------------------------------------------------------------
def test_the_mode_follows_the_settings_after_a_settings_change(apps_path: Path) -> None:
    context = context_for(apps_path)
    tab = RunTab(context)
    assert tab.mode.value == 0 and "follows the settings' mode 0 (python)" in tab.mode_note.text
    save_and_tell(context, pool=True, cluster_enabled=True)
    assert tab.mode.value == 5 and tab.request == resolve(tab.context.env, RunRequest(mode=Mode(5)))
    assert "follows the settings' mode 5 (dask and pool)" in tab.mode_note.text and not visible(tab.follow)
    assert 'Mode.from_token("_d_p")' in tab.snippet.snippet.code
    save_and_tell(context, pool=False, cluster_enabled=False)
    assert tab.mode.value == 0 and tab.request.mode == Mode(0)


def test_a_picked_mode_is_an_override_kept_across_settings_changes_until_follow(apps_path: Path) -> None:
    context = context_for(apps_path)
    tab = RunTab(context)
    tab.mode.value = 5
    assert tab.override == Mode(5) and tab.mode_note.kind == "warn"
    assert "mode 5: dask and pool overrides the settings' mode 0 (python)" in tab.mode_note.text
    assert visible(tab.follow) and tab.follow.tooltip
    save_and_tell(context, pool=True)
    assert tab.mode.value == 5 and tab.request.mode == Mode(5)
    assert "overrides the settings' mode 1 (pool)" in tab.mode_note.text
    tab.follow.click()
    assert tab.override is None and tab.mode.value == 1 and tab.request.mode == Mode(1)
    assert "follows the settings' mode 1 (pool)" in tab.mode_note.text and not visible(tab.follow)
    save_and_tell(context, pool=False)
    assert tab.mode.value == 0


def test_picking_the_settings_mode_again_follows_the_settings(apps_path: Path) -> None:
    context = context_for(apps_path)
    tab = RunTab(context)
    tab.mode.value = 2
    tab.mode.value = 0
    assert tab.override is None
    save_and_tell(context, pool=True)
    assert tab.mode.value == 1


# ----- 4. benchmark: the modes, the request, the history ----------------------------------------
def test_the_benchmark_modes_default_to_all_the_settings_allow_and_a_subset_is_in_the_snippet(
    apps_path: Path,
) -> None:
    context = context_for(apps_path, **{"cluster.pool": True, "cluster.cluster_enabled": True})
    tab = RunTab(context)
    assert not visible(tab.benchmark_row)
    tab.benchmark.value = True
    assert visible(tab.benchmark_row) and tab.benchmark_modes.tooltip and tab.benchmark.tooltip
    assert tab.benchmark_modes.value == (0, 1, 4, 5)
    assert [int(mode) for mode in tab.allowed()] == [int(mode) for mode in bench.allowed_modes(context.env)]
    assert tab.request == resolve(tab.context.env, RunRequest(benchmark=True))
    assert tab.request.modes and "modes=" in tab.snippet.snippet.code  # the effective modes, written out
    tab.benchmark_modes.value = (0, 1)
    assert tab.request == resolve(tab.context.env, RunRequest(benchmark=True, modes=[0, 1]))
    code = tab.snippet.snippet.code
    assert 'modes=[Mode.from_token("____"), Mode.from_token("___p")]' in code and "benchmark=True" in code
    assert code == make_snippet(context.env, "benchmark", tab.request).code
    save_and_tell(context, cluster_enabled=False)  # the settings now allow 0 and 1 only: the choice stays
    assert tab.benchmark_modes.value == (0, 1) and tab.request.modes == [Mode(0), Mode(1)]
    tab.benchmark_modes.value = ()
    assert tab.run.disabled and "choose at least one mode" in tab.why.text
    tab.all_modes.click()
    assert tab.benchmark_modes.value == (0, 1) and tab.request == resolve(tab.context.env, RunRequest(benchmark=True))
    save_and_tell(context, cluster_enabled=True)  # following the default: the new modes come in
    assert tab.benchmark_modes.value == (0, 1, 4, 5)


def test_a_benchmark_runs_its_snippets_request_fills_the_history_and_charts_each_mode(
    apps_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = context_for(apps_path, **{"cluster.pool": True})
    installed(context)
    calls: list[RunRequest | None] = []
    original = AGI.run

    async def recording(env, request=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append(request)
        return await original(env, request, **kwargs)

    monkeypatch.setattr(AGI, "run", staticmethod(recording))
    tab = RunTab(context)
    assert "no benchmark history yet" in tab.history_note.text
    tab.benchmark.value = True
    tab.benchmark_modes.value = (0, 1)
    shown = tab.snippet.snippet.code
    for _ in range(2):
        tab.run.click()
        context.actions.wait()
        assert tab.outcome.kind == "ok", tab.outcome.text
    assert calls == [tab.request, tab.request] and make_snippet(context.env, "benchmark", calls[0]).code == shown
    history = json.loads(context.env.benchmark_history_path.read_text())
    assert history["schema"] == "agi.benchmark.history.v1" and len(history["entries"]) == 2
    assert all(sorted(row["mode"] for row in entry["rows"]) == [0, 1] for entry in history["entries"])
    # the table: a legend of the tokens, the date and where each mode ran
    assert "<code>____</code> = 0: python" in tab.legend.value and "<code>___p</code> = 1: pool" in tab.legend.value
    assert "rdcp" in tab.legend.value and "rapids" in tab.legend.value and "dask" in tab.legend.value
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td>", tab.table.value)
    assert "local, 1 node" in tab.table.value
    # the chart: one line per mode across the two benchmarks
    [chart] = tab.history_box.children
    assert sorted(mark.labels[0] for mark in chart.marks) == ["____ (0)", "___p (1)"]
    assert all(list(mark.x) == [1, 2] and len(mark.y) == 2 for mark in chart.marks)
    assert tab.history_table.value.count("<tr") == 3 and "#2" in tab.history_table.value
    # the log files of the benchmark: one per mode
    assert tab.logs.files.value.count("run_") == 2 and str(context.env.log_dir) in tab.logs.files.value
    again = RunTab(context)
    assert again.history is not None and len(again.history.entries) == 2


def test_the_history_is_capped_and_a_single_run_shows_its_log_file(apps_path: Path) -> None:
    context = context_for(apps_path)
    installed(context)
    row = bench.row_of(
        RunResult("flight_project", 0, "____", "0: python", 9.0, {}, [], 1, "local", 1, "", "test"), single_run=False
    )
    for _ in range(bench.HISTORY_LIMIT):
        bench.append_history(context.env, [row], [Mode(0)])
    tab = RunTab(context)
    assert len(tab.history_box.children[0].marks[0].x) == bench.HISTORY_LIMIT
    tab.benchmark.value = True
    tab.run.click()
    context.actions.wait()
    entries = json.loads(context.env.benchmark_history_path.read_text())["entries"]
    assert len(entries) == bench.HISTORY_LIMIT and entries[-1]["rows"][0]["seconds"] < 9.0
    tab.benchmark.value = False
    tab.run.click()
    context.actions.wait()
    assert tab.result is not None and tab.result.log and Path(tab.result.log).is_file()
    assert tab.result.log in tab.logs.files.value and "log file:" in tab.logs.files.value
    assert len(json.loads(context.env.benchmark_history_path.read_text())["entries"]) == bench.HISTORY_LIMIT


def test_a_malformed_history_is_named_in_the_tab_and_left_as_it_is(apps_path: Path) -> None:
    context = context_for(apps_path)
    path = context.env.benchmark_history_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema": "agi.benchmark.history.v1", "app": 3}')
    tab = RunTab(context)
    assert tab.history_note.kind == "error" and str(path) in tab.history_note.text
    assert "moves it aside" in tab.history_note.text and not tab.history_box.children
    tab.show_history()
    assert path.read_text() == '{"schema": "agi.benchmark.history.v1", "app": 3}'


# ----- 6. run logs ------------------------------------------------------------------------------------
def test_logs_filter_by_level_download_as_a_file_and_clear(apps_path: Path) -> None:
    tab = RunTab(context_for(apps_path))
    logs = tab.logs
    assert logs.level.description and logs.clear_button.tooltip and logs.download.tooltip
    lines = [
        "RUN flight_project in mode 0: python (____)",
        "ignored an event from a Dask worker: bad json",
        "Traceback (most recent call last):",
        '  File "worker.py", line 3, in work_pool',
        "ValueError: broken item",
        "RUN done in 0.100 s: 6 output file(s)",
    ]
    for line in lines:
        logs.append(line)
    logs.flush()
    assert list(logs.levels) == ["info", "warning", "error", "error", "error", "info"]
    assert "RUN done" in logs.view.value and "ignored an event" in logs.view.value
    logs.level.value = "warning"
    assert "RUN done" not in logs.view.value and "ignored an event" in logs.view.value
    assert "2 line(s) below the level shown are hidden" in logs.view.value
    logs.level.value = "error"
    assert "ignored an event" not in logs.view.value and "ValueError: broken item" in logs.view.value
    assert "line 3, in work_pool" in logs.view.value
    encoded = re.search(r'href="data:text/plain;charset=utf-8;base64,([^"]+)"', logs.download.value)
    assert encoded and base64.b64decode(encoded.group(1)).decode() == "\n".join(lines)
    assert 'download="run_logs.txt"' in logs.download.value
    logs.clear_button.click()
    assert not logs.lines and "ValueError" not in logs.view.value and logs.download.value == ""


def test_a_failed_run_still_shows_its_log_file(apps_path: Path) -> None:
    context = context_for(apps_path)
    tab = RunTab(context)
    tab.mode.value = int(Mode.RAPIDS)  # fails before anything starts (no cudf), after its log file is opened
    tab.start()
    context.actions.wait()
    assert tab.outcome.kind == "error"
    [log] = context.env.log_dir.glob("run_*.log")
    assert str(log) in tab.logs.files.value and "cudf" not in log.name
