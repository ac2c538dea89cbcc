"""The Orchestrator as a whole: tabs, app picker, snippet hand-off, reuse across re-creation."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from agi_jupyter import Orchestrator
from agi_jupyter.core import cluster
from agi_jupyter.core.service.serve import running_services

APPS = Path(__file__).parent / "apps"


def test_tabs_of_an_app(apps_path: Path) -> None:
    widget = Orchestrator("flight", apps_path=apps_path)
    assert widget.tabs.titles == ("Settings", "Install", "Distribute", "Run", "Service", "Data")
    assert widget.env.app == "flight_project" and widget.picker.value == "flight_project"
    assert widget.tab("Run").mode.value == 0


def test_the_picker_switches_apps_and_bad_apps_are_explained(apps_path: Path) -> None:
    widget = Orchestrator(apps_path=apps_path)
    assert list(widget.picker.options) == ["flight_project", "mandelbrot_project", "sensors_project", "New app…"]
    widget.picker.value = "sensors_project"
    assert widget.env.target == "sensors" and widget.tab("Distribute").args.generated.inputs["stations"]
    broken = Orchestrator("nope", apps_path=apps_path)
    assert "nope_project" in broken.message.text and broken.message.kind == "error"


def test_insert_outside_a_notebook_offers_the_code_to_copy(apps_path: Path) -> None:
    widget = Orchestrator("flight", apps_path=apps_path)
    view = widget.tab("Run").snippet
    view.insert.click()
    assert view.status.kind == "warn" and "copy the code" in view.status.text
    assert view.copy.layout.display == "" and view.copy.value == view.snippet.code


def test_insert_with_no_extension_answering_times_out_to_the_copy_area(apps_path: Path) -> None:
    widget = Orchestrator("flight", apps_path=apps_path)
    widget.context.cell_id = "cell-1234"  # as if displayed in a notebook; nobody answers outside a kernel
    view = widget.tab("Install").snippet
    view.timeout = 0.2
    view.insert.click()
    deadline = time.monotonic() + 5
    while view.status.text in ("", "inserting...") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert view.status.kind == "warn" and view.copy.layout.display == ""


@pytest.fixture
def probe_apps(tmp_path: Path) -> Path:
    shutil.copytree(APPS, tmp_path / "apps")
    return tmp_path / "apps"


def test_recreating_the_orchestrator_reuses_the_client_and_the_service(probe_apps: Path) -> None:
    first = Orchestrator("probe", apps_path=probe_apps)
    install = first.tab("Install")
    install.button.click()
    first.context.actions.wait()
    service = first.tab("Service")
    service.start.click()
    first.context.actions.wait()
    try:
        handle = cluster.running_local()
        assert handle is not None and len(running_services()) == 1
        workers = sorted(row["worker"] for row in service.payload["worker_health"])
        second = Orchestrator("probe", apps_path=probe_apps)  # the cell is run again
        again = second.tab("Service")
        again.status.click()
        second.context.actions.wait()
        assert cluster.running_local().client is handle.client
        assert sorted(row["worker"] for row in again.payload["worker_health"]) == workers
        assert len(running_services()) == 1
    finally:
        service.stop.click()
        first.context.actions.wait()
        cluster.close_local_cluster()
