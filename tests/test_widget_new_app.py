"""The Orchestrator's "New app…" entry: a form that creates an app from a template and shows it (no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_widget_accessibility import unlabelled

from agi_jupyter import Orchestrator
from agi_jupyter.widgets.new_app import NEW_APP


def test_choosing_new_app_shows_the_form_and_cancel_goes_back(apps_path: Path) -> None:
    orchestrator = Orchestrator("sensors", apps_path=apps_path)
    form = orchestrator.new_app
    assert orchestrator.picker.options[-1] == NEW_APP and form.layout.display == "none"
    tabs = orchestrator.tabs.children
    orchestrator.picker.value = NEW_APP
    assert form.layout.display == "" and form.app_name.value == ""
    assert [value for _, value in form.template.options] == ["pandas", "dag", "cpu"]
    assert all(": " in label for label, _ in form.template.options)  # a one-line description each
    assert unlabelled(form) == [] and form.create.tooltip and form.cancel.tooltip
    form.app_name.value = "half_typed"
    form.cancel.click()
    assert orchestrator.picker.value == "sensors_project" and form.layout.display == "none"
    assert orchestrator.tabs.children == tabs  # the app shown before was not rebuilt
    assert not (apps_path / "half_typed_project").exists()


def test_create_makes_the_app_lists_it_and_shows_it(apps_path: Path) -> None:
    orchestrator = Orchestrator("flight", apps_path=apps_path)
    orchestrator.picker.value = NEW_APP
    form = orchestrator.new_app
    form.app_name.value = "my_primes"
    form.template.value = "cpu"
    form.create.click()
    assert (apps_path / "my_primes_project" / "src" / "my_primes_worker" / "my_primes_worker.py").is_file()
    assert "my_primes_project" in orchestrator.picker.options and orchestrator.picker.options[-1] == NEW_APP
    assert orchestrator.picker.value == "my_primes_project" and form.layout.display == "none"
    assert orchestrator.env is not None and orchestrator.env.target == "my_primes"
    assert orchestrator.tabs.titles[0] == "Settings" and orchestrator.message.kind == "ok"
    assert str(apps_path / "my_primes_project") in orchestrator.message.text
    assert "limit" in orchestrator.tab("Distribute").args.generated.inputs  # the cpu template's arguments


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Bad Name", "lower-case"), ("flight", "already exists"), ("json", "Python or agi-jupyter module")],
)
def test_errors_stay_in_the_form_and_nothing_changes(apps_path: Path, name: str, expected: str) -> None:
    orchestrator = Orchestrator("flight", apps_path=apps_path)
    before = sorted(path.name for path in apps_path.iterdir())
    orchestrator.picker.value = NEW_APP
    form = orchestrator.new_app
    form.app_name.value = name
    form.create.click()
    assert form.message.kind == "error" and expected in form.message.text
    assert form.layout.display == "" and orchestrator.picker.value == NEW_APP
    assert sorted(path.name for path in apps_path.iterdir()) == before
    assert orchestrator.env is not None and orchestrator.env.app == "flight_project"  # still shown below


def test_without_an_apps_path_the_form_says_where_to_set_one() -> None:
    orchestrator = Orchestrator()  # the bundled examples: part of the package, no new apps there
    orchestrator.picker.value = NEW_APP
    orchestrator.new_app.app_name.value = "demo"
    orchestrator.new_app.create.click()
    assert orchestrator.new_app.message.kind == "error" and "AGI_APPS_PATH" in orchestrator.new_app.message.text
