"""The ``<module> args`` editor: a form generated from the app's argument model, or the app's own.

Every field is validated with the whole model as it changes; a valid value is saved to
``[args]`` at once (only that key), an invalid one shows its message under the field and
nothing is saved.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from pydantic import BaseModel

from ..core.args import ArgField, describe_args, load_args, save_args
from ..core.errors import AgiError, ArgsError
from .common import Context, Message, wrap_row

logger = logging.getLogger(__name__)


def field_widget(field: ArgField, value: Any) -> widgets.Widget:
    """An input widget for one argument, from its kind, bounds and choices."""
    style = {"description_width": "12em"}
    common = {
        "description": field.name,
        "tooltip": field.help,
        "style": style,
        "layout": widgets.Layout(width="34em", max_width="100%"),
    }
    if field.kind == "bool":
        return widgets.Checkbox(value=bool(value), indent=False, **common)
    if field.kind == "choice":
        return widgets.Dropdown(options=list(field.choices), value=value, **common)
    if field.kind == "int":
        return widgets.IntText(value=value, continuous_update=False, **common)
    if field.kind == "float":
        return widgets.FloatText(value=value, continuous_update=False, **common)
    if field.kind == "list":
        return widgets.Text(value=json.dumps(value), continuous_update=False, **common)
    return widgets.Text(value="" if value is None else str(value), continuous_update=False, **common)


def parse_value(field: ArgField, raw: Any) -> Any:
    """Widget value -> argument value (lists are typed as JSON, e.g. ["a", "b"])."""
    if field.kind == "list" and isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


class GeneratedForm(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """One row per model field: its input, its help and its error."""

    def __init__(self, context: Context, on_saved: Callable[[BaseModel], None]) -> None:
        self.context = context
        self.on_saved = on_saved
        self.inputs: dict[str, widgets.Widget] = {}
        self.errors: dict[str, Message] = {}
        model = context.env.args_model()
        saved = load_args(context.env).model_dump(mode="json")
        rows = []
        for field in describe_args(model):
            control = field_widget(field, saved.get(field.name, field.default))
            control.observe(lambda change, field=field: self._changed(field, change["new"]), names="value")
            self.inputs[field.name] = control
            self.errors[field.name] = Message()
            help_text = widgets.HTML(f'<span style="opacity:0.7">{field.help}</span>' if field.help else "")
            rows.append(widgets.VBox([wrap_row([control, help_text]), self.errors[field.name]]))
        super().__init__(rows)

    def _changed(self, field: ArgField, raw: Any) -> None:
        for message in self.errors.values():
            message.clear()
        try:
            validated = save_args(self.context.env, {field.name: parse_value(field, raw)})
        except ArgsError as error:
            for name, text in error.errors.items():
                self.errors.get(name, self.errors[field.name]).show(text, "error")
            return
        except AgiError as error:
            self.errors[field.name].show(str(error), "error")
            return
        self.on_saved(validated)


def custom_form(context: Context, on_saved: Callable[[BaseModel], None]) -> widgets.Widget | None:
    """The app's ``src/app_args_form.py``: ``build_form(args, save) -> widget``; None when absent.

    ``save(values)`` validates and writes the changed keys, returns the new args, and raises
    :class:`~agi_jupyter.core.errors.ArgsError` for bad values (the form shows the message).
    """
    path = context.env.args_form_path
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(f"{context.env.target}_app_args_form", path)
    assert spec is not None and spec.loader is not None  # a .py file always has a spec and a source loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def save(values: dict[str, Any]) -> BaseModel:
        validated = save_args(context.env, values)
        on_saved(validated)
        return validated

    return module.build_form(load_args(context.env), save)


class ArgsEditor(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Generated form, or the app's own form with a toggle between the two."""

    def __init__(self, context: Context, on_saved: Callable[[BaseModel], None]) -> None:
        self.message = Message()
        self.generated: widgets.Widget = widgets.VBox()
        self.custom: widgets.Widget | None = None
        try:
            self.generated = GeneratedForm(context, on_saved)
        except AgiError as error:
            self.message.show(f"the arguments cannot be edited: {error}", "error")
        try:
            self.custom = custom_form(context, on_saved)
        except Exception as error:  # noqa: BLE001 - the app's own code: name the file, keep the generated form
            self.message.show(f"{context.env.args_form_path} failed: {type(error).__name__}: {error}", "warn")
        self.toggle = widgets.ToggleButtons(
            options=["generated form", "app's form"],
            value="generated form",
            tooltip="edit the arguments in the form made from the app's argument model, or in the app's own form",
            tooltips=["the form made from the app's argument model", "the form the app ships (app_args_form.py)"],
            layout=widgets.Layout(display="" if self.custom else "none"),
        )
        self.toggle.observe(lambda change: self._switch(change["new"]), names="value")
        self.body = widgets.VBox([self.generated])
        super().__init__([self.toggle, self.message, self.body])

    def _switch(self, choice: str) -> None:
        self.body.children = [self.custom if choice == "app's form" and self.custom else self.generated]
