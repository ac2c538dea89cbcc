"""The service health reference: the snapshot's JSON schema, its statuses and the gate's exit codes.

``{agi-health-schema} Model`` lists every field of a record model with its JSON type (from the
model's own JSON schema) and whether it is always present; ``{agi-health-statuses}`` and
``{agi-health-codes}`` list :data:`~agi_jupyter.core.service.health.STATUSES` and the gate's
exit-code constants with their values from the code. The meanings are written in the page, one
``name: meaning`` line each, and must match the code's names exactly: a field, status or code
added, renamed or removed in the code fails the build until the page says what it means.
"""

from __future__ import annotations

import logging
from typing import Any

from agi_docs_common import code, described, import_object, parse_markdown, table
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from agi_jupyter.core.service import health

logger = logging.getLogger(__name__)

GATE_CODES = ("PASS", "OTHER", "UNHEALTHY", "DEGRADED", "IDLE", "RESTARTS")
"""The names of the gate's exit codes in :mod:`agi_jupyter.core.service.health`."""


def json_type(schema: dict[str, Any]) -> str:
    """A property's type in JSON words, from its JSON schema."""
    if "anyOf" in schema:
        return " or ".join(json_type(option) for option in schema["anyOf"])
    if "$ref" in schema:
        return "object (" + str(schema["$ref"]).rsplit("/", 1)[-1] + ")"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {json_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        return f"object of {json_type(schema['additionalProperties'])}"
    return str(kind)


def check_names(directive: SphinxDirective, what: str, in_code: list[str], meanings: dict[str, str]) -> None:
    """The page must describe exactly the names the code has."""
    missing = [name for name in in_code if name not in meanings]
    unknown = [name for name in meanings if name not in in_code]
    if missing or unknown:
        raise directive.error(
            f"{what}: the page does not describe {missing or 'nothing missing'}; "
            f"it describes names the code does not have: {unknown or 'none'}"
        )


class SchemaDirective(SphinxDirective):
    """Every field of the model named by the argument, with the meanings given in the content."""

    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        model = import_object(self.arguments[0])
        schema = model.model_json_schema(by_alias=True)
        properties: dict[str, Any] = schema["properties"]
        required = set(schema.get("required", []))
        meanings = described(self, self.content)
        check_names(self, model.__name__, list(properties), meanings)
        rows = [
            (code(name), json_type(spec), "yes" if name in required else "no", meanings[name])
            for name, spec in properties.items()
        ]
        return parse_markdown(self, table(("field", "type", "required", "meaning"), rows))


class StatusesDirective(SphinxDirective):
    """The snapshot's statuses (``STATUSES``), with the meanings given in the content."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        meanings = described(self, self.content)
        check_names(self, "STATUSES", list(health.STATUSES), meanings)
        rows = [(code(status), meanings[status]) for status in health.STATUSES]
        return parse_markdown(self, table(("status", "meaning"), rows))


class CodesDirective(SphinxDirective):
    """The gate's exit codes, values from the code, meanings from the content."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        meanings = described(self, self.content)
        check_names(self, "the gate's exit codes", list(GATE_CODES), meanings)
        values = {name: getattr(health, name) for name in GATE_CODES}
        rows = [(code(value), code(name), meanings[name]) for name, value in sorted(values.items(), key=lambda x: x[1])]
        return parse_markdown(self, table(("exit code", "constant", "meaning"), rows))


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("agi-health-schema", SchemaDirective)
    app.add_directive("agi-health-statuses", StatusesDirective)
    app.add_directive("agi-health-codes", CodesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
