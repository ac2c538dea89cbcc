"""``{agi-environment}``: every environment variable the product reads, from
:data:`agi_jupyter.core.env.VARIABLES` (the test suite checks the code reads no other)."""

from __future__ import annotations

import logging

from agi_docs_common import code, parse_markdown, table
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


class EnvironmentDirective(SphinxDirective):
    """Name, default and meaning of each variable."""

    def run(self) -> list[nodes.Node]:
        from agi_jupyter.core.env import VARIABLES

        found = [
            (code(variable.name), "unset" if variable.default is None else code(variable.default), variable.meaning)
            for variable in VARIABLES
        ]
        return parse_markdown(self, table(("variable", "default", "meaning"), found))


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("agi-environment", EnvironmentDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
