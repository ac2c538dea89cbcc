"""Every control of the Orchestrator says what it is for: a description or a tooltip (no browser).

A *control* is a widget the user acts on: it has a ``disabled`` trait (buttons, toggles, text and
number fields, dropdowns, selections, sliders). Labels, HTML, progress bars and containers are
not controls. An ipytree ``Tree``, a bqplot ``Figure`` or a plain ``Box`` must carry NO tooltip:
with ipywidgets 8 their views then fail to render (see tests/test_widget_distribute.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import ipywidgets as widgets
import pytest

from agi_jupyter import Orchestrator

APPS = ("flight", "mandelbrot", "sensors")
CONTROL_TYPES = (
    widgets.Button,
    widgets.ToggleButton,
    widgets.Checkbox,
    widgets.Text,
    widgets.Textarea,
    widgets.IntText,
    widgets.FloatText,
    widgets.BoundedIntText,
    widgets.BoundedFloatText,
    widgets.Dropdown,
    widgets.Select,
    widgets.SelectMultiple,
    widgets.RadioButtons,
    widgets.ToggleButtons,
    widgets.IntSlider,
    widgets.FloatSlider,
)
HARD_CODED_COLOUR = re.compile(r"(?<![-\w])(color|background)\s*:\s*(#|rgb|white|black)", re.IGNORECASE)
SWATCH = re.compile(r"<span[^>]*></span>")


def widget_tree(widget: object) -> list[object]:
    """``widget`` and everything under it: box and tab children, and an args editor's other form."""
    found = [widget]
    children = list(getattr(widget, "children", ()))
    custom = getattr(widget, "custom", None)  # the ArgsEditor's app form, shown by its toggle
    if isinstance(custom, widgets.Widget) and custom not in children:
        children.append(custom)
    for child in children:
        found += widget_tree(child)
    return found


def is_control(widget: object) -> bool:
    return isinstance(widget, widgets.DOMWidget) and widget.has_trait("disabled")


def unlabelled(root: object) -> list[str]:
    """The controls under ``root`` with neither a description nor a tooltip (or icon-only buttons without a tooltip)."""
    offenders = []
    for widget in widget_tree(root):
        if not is_control(widget):
            continue
        description = (getattr(widget, "description", "") or "").strip()
        tooltip = (getattr(widget, "tooltip", "") or "").strip()
        name = f"{type(widget).__name__}({description or getattr(widget, 'icon', '') or '?'})"
        if isinstance(widget, widgets.Button) and not tooltip:
            offenders.append(f"{name}: a button says what it does in a tooltip")
        elif not description and not tooltip:
            offenders.append(f"{name}: no description and no tooltip")
    return offenders


def misplaced_tooltips(root: object) -> list[str]:
    return [
        type(widget).__name__
        for widget in widget_tree(root)
        if (getattr(widget, "tooltip", None) or "") and type(widget).__name__ in ("Tree", "Figure", "Box")
    ]


def test_the_control_types_listed_are_all_caught_by_the_rule() -> None:
    assert all(is_control(kind()) for kind in CONTROL_TYPES)
    assert not any(is_control(kind()) for kind in (widgets.HTML, widgets.Label, widgets.IntProgress, widgets.Box))


@pytest.mark.parametrize("app", APPS)
def test_every_control_of_every_tab_has_a_description_or_tooltip(apps_path: Path, app: str) -> None:
    orchestrator = Orchestrator(app, apps_path=apps_path)
    # what CHECK DISTRIBUTE adds (the tree, the charts, the workplan editor's choices) is checked too
    distribute = orchestrator.tab("Distribute")
    distribute.check.click()
    orchestrator.context.actions.wait()
    assert distribute.plan is not None, distribute.message.text
    settings = orchestrator.tab("Settings")
    settings.add.click()  # an empty worker row: its fields are labelled as well
    controls = [widget for widget in widget_tree(orchestrator) if is_control(widget)]
    assert len(controls) > 30 and any(isinstance(widget, widgets.Textarea) for widget in controls)
    assert unlabelled(orchestrator) == []
    assert misplaced_tooltips(orchestrator) == []


def test_the_app_picker_and_every_app_it_shows_are_labelled(apps_path: Path) -> None:
    orchestrator = Orchestrator(apps_path=apps_path)
    assert orchestrator.picker.tooltip
    for app in orchestrator.picker.options:
        orchestrator.picker.value = app
        assert orchestrator.env is not None and app in (orchestrator.env.app, "New app…")  # that one opens a form
        assert unlabelled(orchestrator) == [], app


def test_the_flight_apps_own_form_is_labelled(apps_path: Path) -> None:
    editor = Orchestrator("flight", apps_path=apps_path).tab("Distribute").args
    assert editor.custom is not None and editor.toggle.layout.display != "none"
    editor.toggle.value = "app's form"
    assert unlabelled(editor) == []


def test_messages_say_their_kind_in_words_or_marks_not_colour_alone(apps_path: Path) -> None:
    from agi_jupyter.widgets.common import Message

    message = Message()
    for kind, mark in (("ok", "✓"), ("error", "✗"), ("warn", "⚠")):
        message.show("something happened", kind)
        assert mark in message.value and message.text == "something happened"
    message.show("working...")
    assert "✓" not in message.value and "✗" not in message.value


@pytest.mark.parametrize("app", APPS)
def test_inline_colours_follow_the_jupyterlab_theme(apps_path: Path, app: str) -> None:
    """HTML in the widgets takes its text and background colours from JupyterLab's CSS variables."""
    orchestrator = Orchestrator(app, apps_path=apps_path)
    distribute = orchestrator.tab("Distribute")
    distribute.check.click()
    orchestrator.context.actions.wait()
    for message in [w for w in widget_tree(orchestrator) if type(w).__name__ == "Message"][:3]:
        message.show("x", "error")
    html_values = [widget.value for widget in widget_tree(orchestrator) if isinstance(widget, widgets.HTML)]
    # an empty swatch (the DAG legend's slot colours) is a colour key, not text on a background
    texts = [SWATCH.sub("", value) for value in html_values]
    assert [text for text in texts if HARD_CODED_COLOUR.search(text)] == []


def test_no_widget_module_hard_codes_a_text_or_background_colour() -> None:
    """Also the HTML only shown after a benchmark, a health check or CHECK HOSTS: read the sources."""
    import agi_jupyter.widgets

    folder = Path(agi_jupyter.widgets.__file__).parent
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(folder.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if HARD_CODED_COLOUR.search(line)
    ]
    assert found == []
