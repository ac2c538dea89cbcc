"""Settings, Install, Distribute and Run tabs driven by their buttons (real engine, no browser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agi_jupyter import AgiEnv, Mode
from agi_jupyter.core.engine import AGI
from agi_jupyter.core.settings import AppSettings, save_settings
from agi_jupyter.core.snippets import make_snippet
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.distribute_tab import DistributeTab
from agi_jupyter.widgets.install_tab import InstallTab
from agi_jupyter.widgets.run_tab import RunTab
from agi_jupyter.widgets.settings_tab import SettingsTab


def context_for(apps_path: Path, app: str, **args: object) -> Context:
    env = AgiEnv(app, apps_path=apps_path)
    if args:
        save_settings(env.settings_path, {f"args.{name}": value for name, value in args.items()})
    return Context(env, cell_id=None)


def installed(context: Context) -> None:
    tab = InstallTab(context)
    tab.button.click()
    context.actions.wait()


def test_settings_toggles_save_at_once_and_update_the_hint(apps_path: Path) -> None:
    context = context_for(apps_path, "flight")
    before = context.env.settings_path.read_text()
    tab = SettingsTab(context)
    assert "one work item after another" in tab.hint.value
    tab.toggles["pool"].value = True
    after = context.env.settings_path.read_text()
    assert after == before.replace("pool = false                   # bit 1", "pool = true                   # bit 1")
    assert "process pool" in tab.hint.value
    tab.toggles["cluster_enabled"].value = True
    assert AppSettings.load(context.env.settings_path).cluster.mode == Mode.POOL | Mode.DASK


def test_bad_scheduler_and_worker_rows_are_shown_and_never_saved(apps_path: Path) -> None:
    context = context_for(apps_path, "flight")
    tab = SettingsTab(context)
    saved = context.env.settings_path.read_text()
    tab.scheduler.value = "127.0.0.1:99999"
    assert "port" in tab.scheduler_error.text and context.env.settings_path.read_text() == saved
    tab.add.click()
    row = tab.rows[-1]
    row.host.value = "10.0.0.x"
    assert "not a valid IP" in row.error.text and "not saved" in tab.workers_error.text
    assert context.env.settings_path.read_text() == saved
    row.host.value = "10.0.0.7"
    row.slots.value = 3
    assert AppSettings.load(context.env.settings_path).cluster.workers == {"127.0.0.1": 2, "10.0.0.7": 3}
    tab.rows[0].slots.value = 0
    assert "at least 1" in tab.rows[0].error.text
    assert AppSettings.load(context.env.settings_path).cluster.workers == {"127.0.0.1": 2, "10.0.0.7": 3}
    row.remove.click()
    tab.rows[0].slots.value = 4
    assert AppSettings.load(context.env.settings_path).cluster.workers == {"127.0.0.1": 4}
    tab.scheduler.value = "10.1.2.3:9000"
    assert AppSettings.load(context.env.settings_path).cluster.scheduler == "10.1.2.3:9000"


def test_diagnose_shows_every_check(apps_path: Path) -> None:
    context = context_for(apps_path, "flight")
    tab = SettingsTab(context)
    tab.diagnose.click()
    context.actions.wait()
    names = [check.name for check in tab.last_checks]
    assert len(names) >= 8 and "settings" in " ".join(names)
    assert "what to do" in tab.checks.value


def test_install_button_installs_and_enables_run(apps_path: Path) -> None:
    context = context_for(apps_path, "flight", flights=6)
    run = RunTab(context)
    assert run.run.disabled and "not installed" in run.why.text
    install = InstallTab(context)
    assert install.snippet.snippet.code == make_snippet(context.env, "install", install.request).code
    install.button.click()
    context.actions.wait()
    assert context.env.install_record_path.is_file() and install.outcome.kind == "ok"
    assert any(line.startswith("INSTALL") for line in install.logs.lines)
    assert not run.run.disabled and run.why.text == ""


def test_args_form_saves_valid_values_and_shows_errors(apps_path: Path) -> None:
    context = context_for(apps_path, "flight")
    tab = DistributeTab(context)
    form = tab.args.generated
    saved = context.env.settings_path.read_text()
    form.inputs["flights"].value = 0
    assert "greater than or equal to 1" in form.errors["flights"].text
    assert context.env.settings_path.read_text() == saved
    form.inputs["flights"].value = 7
    assert AppSettings.load(context.env.settings_path).args["flights"] == 7
    assert form.errors["flights"].text == ""
    assert tab.args.custom is not None  # the flight app ships its own form too
    tab.args.toggle.value = "app's form"
    assert tab.args.body.children == (tab.args.custom,)


def test_check_distribute_move_and_save_are_used_by_the_next_run(apps_path: Path) -> None:
    context = context_for(apps_path, "flight", flights=6)
    installed(context)
    tab = DistributeTab(context)
    assert "no saved plan" in tab.stale.text
    tab.check.click()
    context.actions.wait()
    assert tab.plan is not None and tab.plan.chunk_count == 6 and tab.tree_box.children
    loads = list(tab.plan.loads)
    tab.source.value = 0
    tab.chunk.value = 0
    moved = tab.plan.slots[0][0]
    tab.target.value = 1
    tab.move.click()
    assert tab.plan.loads[1] == pytest.approx(loads[1] + moved.weight) and not tab.save.disabled
    tab.save.click()
    context.actions.wait()
    saved = json.loads(context.env.plan_path.read_text())
    assert saved["edited"] is True
    assert moved.label in [chunk["label"] for chunk in saved["plan"]["slots"][1]]
    assert "current" in tab.stale.text
    run = RunTab(context)
    run.mode.value = 0
    run.run.click()
    context.actions.wait()
    assert moved.label in run.result.dispatched["127.0.0.1#1"]
    tab.args.generated.inputs["flights"].value = 5
    assert "stale" in tab.stale.text and "flights" in tab.stale.text


def test_tree_opens_slots_lazily(apps_path: Path) -> None:
    context = context_for(apps_path, "flight", flights=6)
    tab = DistributeTab(context)
    tab.check.click()
    context.actions.wait()
    [tree] = tab.tree_box.children
    [host] = tree.nodes
    slot = host.nodes[0]
    assert [node.name for node in slot.nodes] == ["..."]
    slot.opened = True
    assert len(slot.nodes) == len(tab.plan.slots[0]) and slot.nodes[0].nodes  # items under each chunk


def test_run_button_runs_exactly_its_snippets_request_once(apps_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    context = context_for(apps_path, "flight", flights=6)
    installed(context)
    calls = []
    original = AGI.run

    async def recording(env, request=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        calls.append(request)
        return await original(env, request, **kwargs)

    monkeypatch.setattr(AGI, "run", staticmethod(recording))
    tab = RunTab(context)
    tab.mode.value = 0
    shown = tab.snippet.snippet.code
    tab.run.click()
    tab.run.click()  # a second click while running is refused
    context.actions.wait()
    assert len(calls) == 1 and calls[0] == tab.request
    assert make_snippet(context.env, "run", calls[0]).code == shown
    assert tab.result.mode == 0 and tab.outcome.kind == "ok" and tab.progress.value == tab.progress.max == 6
    assert not tab.run.disabled


def test_benchmark_fills_the_table_and_it_is_shown_again(apps_path: Path) -> None:
    context = context_for(apps_path, "mandelbrot", width=48, height=32, bands=8, max_iter=48)
    installed(context)
    tab = RunTab(context)
    tab.benchmark.value = True
    assert "benchmark=True" in tab.snippet.snippet.code
    tab.run.click()
    context.actions.wait()
    rows = tab.benchmark_table["rows"]
    assert sorted(row["mode"] for row in rows) == [0, 1, 2, 3]
    assert [row["order"] for row in sorted(rows, key=lambda r: r["seconds"])] == [1, 2, 3, 4]
    assert tab.table.value.count("<tr") == 5 and tab.chart_box.children
    again = RunTab(context)
    assert again.benchmark_table == tab.benchmark_table and again.table.value == tab.table.value


def test_a_failing_run_shows_the_message_and_re_enables_run(apps_path: Path) -> None:
    context = context_for(apps_path, "flight", flights=6)
    installed(context)
    tab = RunTab(context)
    tab.mode.value = int(Mode.CYTHON)  # installed without the cython build
    assert tab.run.disabled and "Cython build" in tab.why.text
    tab.mode.value = int(Mode.RAPIDS)
    tab.run.click()
    context.actions.wait()
    assert tab.outcome.kind == "error" and "cudf" in tab.outcome.text and not tab.run.disabled


def test_cancel_stops_a_long_run_and_says_whether_it_was_confirmed(apps_path: Path) -> None:
    import time

    context = context_for(apps_path, "mandelbrot", width=400, height=4000, bands=400, max_iter=400)
    installed(context)
    tab = RunTab(context)
    tab.mode.value = 0
    tab.run.click()
    deadline = time.monotonic() + 60
    while tab.progress.value < 1:
        assert time.monotonic() < deadline, "the run never made progress"
        time.sleep(0.05)
    assert not tab.cancel.disabled and tab.run.disabled
    tab.cancel.click()
    context.actions.wait()
    deadline = time.monotonic() + 10
    while tab.outcome.text == "cancelling..." and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tab.outcome.text == "cancelled: everything the run started is stopped"
    assert tab.progress.value < 400 and not tab.run.disabled and tab.cancel.disabled


def test_a_ten_thousand_chunk_plan_builds_only_host_and_slot_nodes() -> None:
    from agi_jupyter.core.plan import Chunk, WorkPlan
    from agi_jupyter.widgets.distribute_tab import SHOWN_CHUNKS, plan_tree

    chunks = [Chunk(f"c{n}", float(n % 7 + 1), [f"item{n}"]) for n in range(10_000)]
    plan = WorkPlan.balanced(chunks, 4)
    tree = plan_tree(plan, [f"10.0.0.{n // 2}#{n % 2}" for n in range(4)])
    hosts = tree.nodes
    slots = [slot for host in hosts for slot in host.nodes]
    assert len(hosts) == 2 and len(slots) == 4
    assert all([node.name for node in slot.nodes] == ["..."] for slot in slots)  # nothing built below yet
    slots[0].opened = True
    assert len(slots[0].nodes) == SHOWN_CHUNKS + 1 and "more chunks" in slots[0].nodes[-1].name


def test_the_verbosity_slider_sets_the_level_of_the_agi_jupyter_logger(apps_path: Path) -> None:
    import logging

    from agi_jupyter import Orchestrator

    package = logging.getLogger("agi_jupyter")
    save_settings(AgiEnv("flight", apps_path=apps_path).settings_path, {"cluster.verbose": 2})
    widget = Orchestrator("flight", apps_path=apps_path)
    assert package.level == logging.DEBUG  # the saved setting, applied when the app is shown
    slider = widget.tab("Settings").verbose
    for verbose, level in ((0, logging.WARNING), (1, logging.INFO), (3, logging.DEBUG)):
        slider.value = verbose
        assert package.level == level
        assert AppSettings.load(widget.env.settings_path).cluster.verbose == verbose
