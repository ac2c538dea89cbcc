"""``{agi-files}``: where the product reads and writes, computed by the code that decides it.

The directive builds a real :class:`~agi_jupyter.AgiEnv` for a bundled example with every root
variable set to a placeholder, asks the code for each location (every path property of
``AgiEnv``, then the service, cluster and settings files named in :data:`LOCATIONS`) and
shows the answers with ``${VARIABLE}``, ``<apps>`` and ``<target>`` put back. So a location that
moves in the code moves here. A path property of ``AgiEnv`` needs a docstring or a
``name: meaning`` line in the directive's content, else the build fails.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agi_docs_common import code, described, parse_markdown, table
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

from agi_jupyter.core.deploy.records import cluster_dir, record_path
from agi_jupyter.core.deploy.wheelhouse import cache_dir
from agi_jupyter.core.env import EXAMPLES_PATH, AgiEnv
from agi_jupyter.core.requests import ServeRequest
from agi_jupyter.core.service.lifecycle import queue_dir
from agi_jupyter.core.service.operator import operator_path
from agi_jupyter.core.service.queue import FOLDERS
from agi_jupyter.core.service.serve import health_path
from agi_jupyter.core.settings import lock_path

logger = logging.getLogger(__name__)

EXAMPLE = "flight"
ROOTS = ("AGI_SHARE_DIR", "AGILAB_EXPORT_ABS", "AGI_LOG_DIR", "AGI_WORKER_ENV_DIR", "AGI_CLUSTER_DIR")


def _locations() -> list[tuple[str, Callable[[Any], Path], str]]:
    """(what, where for an AgiEnv, meaning) of the files outside ``AgiEnv``'s own properties."""
    folders = "{" + ",".join(FOLDERS) + "}"
    return [
        ("action scripts", lambda env: env.script_path("<action>"), "the code of each action, runnable as a script"),
        ("settings lock", lambda env: lock_path(env.settings_path), "held while a save merges its changes"),
        ("service queue", lambda env: queue_dir(env) / folders, "the service's tasks as files, one folder a state"),
        (
            "health snapshot",
            lambda env: health_path(env, ServeRequest()),
            "``agi.service.health.v1`` (see the health reference); ``--health-output`` writes it elsewhere",
        ),
        (
            "operator summary",
            lambda env: operator_path(health_path(env, ServeRequest())),
            "the operator summary with the snapshot it was made from",
        ),
        (
            "launch records",
            lambda env: record_path("tcp://<host>:<port>"),
            "the scheduler and workers the engine started for one scheduler address",
        ),
        ("launch logs", lambda env: cluster_dir() / "logs", "the output of each process the engine started here"),
        ("wheel cache", lambda env: cache_dir(), "wheels pinned to this kernel's versions, for remote worker hosts"),
    ]


@contextlib.contextmanager
def placeholder_roots() -> Iterator[None]:
    """Every root variable set to ``/<NAME>`` (and no .env file) for the duration."""
    names = (*ROOTS, "AGI_ENV_FILE", "AGI_APPS_PATH")
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in ROOTS:
            os.environ[name] = f"/<{name}>"
        os.environ["AGI_ENV_FILE"] = "/<AGI_ENV_FILE>"
        os.environ.pop("AGI_APPS_PATH", None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def shown(path: Path, env: Any) -> str:
    """A computed path with its placeholders spelled as the reader sets them."""
    text = str(path).replace(str(env.app_path), "<apps>/<target>_project")
    for name in ROOTS:
        text = text.replace(f"/<{name}>", f"${{{name}}}")
    text = text.replace(str(Path.home()), "~")
    return re.sub(rf"(?<![A-Za-z]){EXAMPLE}(?![A-Za-z])", "<target>", text)


def meaning_of(docstring: str | None) -> str:
    """A path property's docstring as table text: its first paragraph, without the path it starts
    with (the table shows it) and with Sphinx roles as plain code."""
    text = " ".join(inspect.cleandoc(docstring or "").split("\n\n")[0].split())
    text = re.sub(r"^``[^`]+``:\s*", "", text)
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)


def env_rows(env: Any, meanings: dict[str, str], directive: SphinxDirective) -> list[tuple[str, str, str]]:
    """One row per path property of AgiEnv, in source order."""
    rows = []
    for name, member in vars(type(env)).items():
        if not isinstance(member, property):
            continue
        value = getattr(env, name)
        if not isinstance(value, Path):
            continue
        meaning = meanings.get(name) or meaning_of(member.__doc__)
        if not meaning:
            raise directive.error(f"AgiEnv.{name} has no docstring: give it one or a '{name}: meaning' line here")
        rows.append((code(f"AgiEnv.{name}"), code(shown(value, env)), meaning))
    return rows


class FilesDirective(SphinxDirective):
    """The table of locations; optional content: ``property: meaning`` for undocumented properties."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        meanings = described(self, self.content)
        with placeholder_roots():
            env = AgiEnv(EXAMPLE, apps_path=EXAMPLES_PATH)
            rows = env_rows(env, meanings, self)
            rows += [(what, code(shown(where(env), env)), meaning) for what, where, meaning in _locations()]
        return parse_markdown(self, table(("what", "where", "meaning"), rows))


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("agi-files", FilesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
