"""``{agi-settings}``: the keys of one ``app_settings.toml`` table, from its pydantic model.

Type, default and meaning come from the model's fields (the meaning is the field's
``description``), so a key added to :mod:`agi_jupyter.core.settings` appears here by itself, and
a key without a description fails the build.
"""

from __future__ import annotations

import logging
import types
import typing
from typing import Any

import tomlkit
from agi_docs_common import code, import_object, parse_markdown, table
from docutils import nodes
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

TOML_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def type_text(annotation: Any) -> str:
    """A field's type in TOML words: ``integer``, ``string or unset``, ``table of integer``..."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = [type_text(argument) for argument in arguments if argument is not type(None)]
        unset = " or unset" if type(None) in arguments else ""
        return " or ".join(kinds) + unset
    if origin is typing.Literal:
        return " or ".join(code(f'"{value}"' if isinstance(value, str) else value) for value in arguments)
    if origin is dict:
        return f"table of {type_text(arguments[1])}" if arguments else "table"
    if origin is list:
        return f"array of {type_text(arguments[0])}" if arguments else "array"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    if annotation is Any:
        return "any"
    return TOML_TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def default_text(field: FieldInfo) -> str:
    """The default as it would be written in TOML (``unset`` for None, ``see below`` for a table model)."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        inline.update(value)
        return code(inline.as_string())
    return code(tomlkit.item(value).as_string())


def rows(model: type[BaseModel], directive: SphinxDirective) -> list[tuple[str, str, str, str]]:
    """(key, type, default, meaning) of every field; a field without a description is an error."""
    found = []
    for name, field in model.model_fields.items():
        if not field.description:
            raise directive.error(f"{model.__name__}.{name} has no Field(description=...): say what the key means")
        key = field.alias or name
        found.append((code(key), type_text(field.annotation), default_text(field), field.description))
    return found


class SettingsDirective(SphinxDirective):
    """A table of the keys of the model named by the argument (``package.module.Model``)."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        model = import_object(self.arguments[0])
        text = table(("key", "type", "default", "meaning"), rows(model, self))
        return parse_markdown(self, text)


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("agi-settings", SettingsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
