"""The status line on top of the Orchestrator: install, plan, last run and service at a glance, linked to their tabs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine_helpers import SMALL

from agi_jupyter import AGI, AgiEnv, Mode, Orchestrator
from agi_jupyter.widgets.state import InstallState, LastRun
from agi_jupyter.widgets.status_line import (
    StatusLine,
    install_part,
    plan_part,
    recorded_run,
    run_part,
    service_part,
)


def test_each_part_says_its_fact_and_how_it_stands() -> None:
    assert install_part(InstallState("installed", "installed ...", "2026-12-01T17:05:09+0000"))[:2] == (
        "ok",
        "installed 12-01 17:05",
    )
    assert install_part(InstallState("stale", "the app changed since", "2026-12-01T17:05:09+0000"))[:2] == (
        "warning",
        "install stale",
    )
    assert install_part(InstallState())[:2] == ("missing", "not installed")
    assert plan_part("")[:2] == ("none", "no plan saved")
    assert plan_part("2026-12-01T18:02:03+0000 0123456789ab")[:2] == ("ok", "plan saved 12-01 18:02")
    last = LastRun(mode=0, label="0: python", seconds=0.25, when="2026-12-01T18:03:00+0000", outputs=6)
    assert run_part(last, None)[1] == "last run: mode 0: python, 0.25 s, 12-01 18:03"
    assert (
        run_part(None, ("dask", 1.5, "2026-11-30T09:00:00+0000"))[1] == "last recorded run: dask, 1.50 s, 11-30 09:00"
    )
    assert run_part(None, None)[:2] == ("none", "no run yet")
    assert service_part("")[1] == "service not started"
    assert service_part("running")[:2] == ("ok", "service running")
    assert service_part("degraded")[0] == "warning" and service_part("error")[0] == "missing"


def test_the_line_follows_the_shared_state_and_its_parts_open_their_tabs(apps_path: Path) -> None:
    widget = Orchestrator("flight", apps_path=apps_path)
    (line,) = widget.status.children
    assert isinstance(line, StatusLine)
    assert line.parts["Install"].description == "✗ not installed"
    assert "click to open the Install tab" in line.parts["Install"].tooltip
    widget.state.install = InstallState("installed", "installed now", "2026-12-01T18:00:00+0000")
    widget.state.service_status = "running"
    assert line.parts["Install"].description == "✓ installed 12-01 18:00"
    assert line.parts["Service"].description == "✓ service running"
    assert line.parts["Service"].button_style == "success"
    for index, title in enumerate(("Install", "Distribute", "Run", "Service")):
        line.parts[title].click()
        assert widget.tabs.selected_index == index + 1 and widget.tabs.titles[index + 1] == title


def test_a_fresh_orchestrator_shows_the_last_recorded_run(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))
    label, seconds, when = recorded_run(env) or ("", 0.0, "")
    assert label == "0: python" and seconds > 0 and when
    widget = Orchestrator("flight", apps_path=apps_path)
    (line,) = widget.status.children
    assert line.parts["Run"].description.startswith("· last recorded run: 0: python, ")
    assert line.parts["Install"].description.startswith("✓ installed ")
