"""The shared OrchestratorState: tabs follow its traits by name, without the engine in between."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.errors import InstallError
from agi_jupyter.core.settings import save_settings
from agi_jupyter.core.snippets import settings_digest
from agi_jupyter.widgets import run_tab
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.distribute_tab import DistributeTab
from agi_jupyter.widgets.install_tab import InstallTab
from agi_jupyter.widgets.run_tab import RunTab
from agi_jupyter.widgets.state import InstallState, LastRun, OrchestratorState


def context_for(apps_path: Path) -> Context:
    return Context(AgiEnv("flight", apps_path=apps_path), cell_id=None)


def test_a_fresh_context_reads_the_state_from_the_app_files(apps_path: Path) -> None:
    context = context_for(apps_path)
    state = context.state
    assert state.settings_digest == settings_digest(context.env)
    assert state.install.status == "missing" and "not installed" in state.install.reason
    assert state.saved_plan == "" and state.last_run is None and state.service_status == ""


def test_a_new_install_state_re_gates_run(apps_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = {"yes": False}

    def check(env: AgiEnv, mode: object) -> None:  # stands in for the install on disk
        if not installed["yes"]:
            raise InstallError(f"{env.app} is not installed: run INSTALL (AGI.install) first")

    monkeypatch.setattr(run_tab, "check_install", check)
    context = context_for(apps_path)
    tab = RunTab(context)
    assert tab.run.disabled and "not installed" in tab.why.text
    installed["yes"] = True  # installed elsewhere: nothing tells the tab but the trait
    assert tab.run.disabled
    context.state.install = InstallState("installed", "installed just now", "2026-01-01T00:00:00+0000")
    assert not tab.run.disabled and tab.why.text == ""


def test_a_settings_digest_change_rebuilds_the_snippets_and_tells_the_extension(
    apps_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agi_jupyter import Orchestrator
    from agi_jupyter.notebook import CellInserter

    reported: list[tuple[str, str]] = []
    monkeypatch.setattr(CellInserter, "report_digest", lambda self, app, digest, **_: reported.append((app, digest)))
    widget = Orchestrator("flight", apps_path=apps_path)
    widget.cell_id = widget.context.cell_id = "cell-1234"  # as if displayed in a notebook
    before = widget.tab("Run").snippet.snippet.digest
    save_settings(widget.env.settings_path, {"args.flights": 9})  # written by hand, not by a tab
    assert widget.tab("Run").snippet.snippet.digest == before  # nobody said so yet
    widget.state.settings_digest = settings_digest(widget.env)
    after = settings_digest(widget.env)
    assert after != before
    assert [
        tab.snippet.snippet.digest for tab in (widget.tab("Install"), widget.tab("Distribute"), widget.tab("Run"))
    ] == [after] * 3
    assert reported == [("flight_project", after)]


def test_a_tab_save_sets_the_digest_and_an_unchanged_save_notifies_nobody(apps_path: Path) -> None:
    context = context_for(apps_path)
    changes: list[str] = []
    context.state.observe(lambda change: changes.append(change["new"]), names="settings_digest")
    tab = DistributeTab(context)
    tab.args.generated.inputs["flights"].value = 7
    assert changes == [settings_digest(context.env)] and context.state.settings_digest == changes[0]
    context.settings_saved()  # nothing changed on disk
    assert len(changes) == 1


def test_a_batched_update_notifies_each_trait_once_with_its_final_value(apps_path: Path) -> None:
    context = context_for(apps_path)
    state = context.state
    install = InstallTab(context)
    refreshes: Counter[str] = Counter()
    for tab in (install, RunTab(context)):
        original = tab.refresh

        def counted(tab: object = tab, original: Callable[[], None] = original) -> None:
            refreshes[type(tab).__name__] += 1
            original()

        tab.refresh = counted  # the observers call ``self.refresh()`` at notification time
    seen: Counter[str] = Counter()
    final: dict[str, object] = {}

    def record(change: dict[str, Any]) -> None:
        seen[change["name"]] += 1
        final[change["name"]] = change["new"]

    state.observe(record, names=["settings_digest", "install", "saved_plan", "service_status", "last_run"])
    run = LastRun(mode=0, label="plain python", seconds=1.5, when="2026-01-01T00:00:00+0000")
    with state.hold_trait_notifications():
        state.settings_digest = "aaaaaaaaaaaa"
        state.settings_digest = "bbbbbbbbbbbb"
        state.install = InstallState("stale", "changed since it was installed", "x")
        state.service_status = "running"
        state.last_run = run
        assert not seen and not refreshes  # nothing before the batch ends
    assert seen == Counter(settings_digest=1, install=1, service_status=1, last_run=1)
    assert final == {
        "settings_digest": "bbbbbbbbbbbb",
        "service_status": "running",
        "last_run": run,
        "install": InstallState("stale", "changed since it was installed", "x"),
    }
    assert refreshes == Counter(InstallTab=1, RunTab=2)  # Run observes the digest and the install


def test_install_states_are_checked_and_compared_by_value() -> None:
    with pytest.raises(ValueError, match="installed, stale, missing"):
        InstallState("broken", "?")
    state = OrchestratorState()
    calls: list[object] = []
    state.observe(calls.append, names="install")
    state.install = InstallState()  # equal to the default: no notification
    state.install = InstallState("installed", "ok", "t1")
    state.install = InstallState("installed", "ok", "t1")
    assert len(calls) == 1


def test_a_plan_saved_elsewhere_is_shown_by_the_distribute_tab(apps_path: Path) -> None:
    import asyncio

    from agi_jupyter.core.engine import AGI
    from agi_jupyter.widgets.state import read_plan_stamp

    context = context_for(apps_path)
    tab = DistributeTab(context)
    assert tab.plan is None and "no saved plan" in tab.stale.text
    asyncio.run(AGI.get_distrib(context.env))  # as a RUN that rebuilt the plan would
    assert tab.plan is None  # nobody said so yet
    context.state.saved_plan = read_plan_stamp(context.env)
    assert tab.plan is not None and tab.shown_plan == context.state.saved_plan
    assert "current" in tab.stale.text


def test_a_run_that_wrote_files_is_previewed_by_the_data_tab(apps_path: Path) -> None:
    from agi_jupyter.core.outputs import output_folder
    from agi_jupyter.widgets.data_tab import DataTab

    context = context_for(apps_path)
    tab = DataTab(context)
    assert tab.current is None
    folder = output_folder(context.env)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.csv").write_text("flight,seconds\nAF1,3\nAF2,4\n")
    context.state.last_run = LastRun(mode=0, label="plain python", seconds=0.1, when="now", outputs=0)
    context.actions.wait(60)
    assert tab.current is None  # a run without outputs leaves the preview alone
    context.state.last_run = LastRun(mode=0, label="plain python", seconds=0.2, when="later", outputs=1)
    context.actions.wait(60)
    assert tab.current is not None and tab.current.path.name == "summary.csv" and tab.current.shape == (2, 3)
