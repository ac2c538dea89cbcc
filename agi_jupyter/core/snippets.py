"""The code behind every Orchestrator button, as a notebook cell and as a script.

A snippet is rendered from the very request object the button hands to the engine, so what the
user reads, inserts as a cell or runs as ``python AGI_run_flight.py`` is what the button did.

Values are rendered by :func:`render_value`, which only ever emits literals it builds itself
(``repr`` of the built-in ``str``, ``int`` and ``float`` types, brackets and commas, and
``Mode.from_token("____")``); it never calls ``repr`` on an arbitrary object, so a quote, a newline
or ``"); import os #`` in an argument stays inside its string literal.

The first line of every snippet is a marker::

    # agi-jupyter: action=run app=flight_project digest=0123456789ab

where ``digest`` fingerprints the settings' values (not their comments or layout): a cell whose
digest no longer matches was made with settings that have changed since (:func:`is_stale`).
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from pydantic import BaseModel

from .env import EXAMPLES_PATH, AgiEnv
from .errors import AgiError
from .files import write_text_atomic
from .modes import Mode
from .requests import (
    ClusterRequest,
    DistribRequest,
    InstallRequest,
    Request,
    RunRequest,
    ServeRequest,
    SubmitRequest,
)
from .settings import AppSettings

logger = logging.getLogger(__name__)

ACTIONS = ("install", "get_distrib", "run", "benchmark", "serve", "submit", "cluster")

# action -> (request class it takes, AGI function it awaits, name the result is bound to)
_CALLS: dict[str, tuple[type[Request], str, str | None]] = {
    "install": (InstallRequest, "install", None),
    "get_distrib": (DistribRequest, "get_distrib", "plan"),
    "run": (RunRequest, "run", "result"),
    "benchmark": (RunRequest, "run", "table"),
    "serve": (ServeRequest, "serve", "health"),
    "submit": (SubmitRequest, "submit", "task_ids"),
    "cluster": (ClusterRequest, "cluster", "report"),
}

_MARKER = re.compile(r"# agi-jupyter: action=(?P<action>\w+) app=(?P<app>\w+) digest=(?P<digest>[0-9a-f]{12})")
_LINE_LENGTH = 84  # 88 once the script indents the calls into main()
_MAX_DEPTH = 100  # well below the parser's nesting limit; also stops self-containing lists
_SUPPORTED = "str, int, float, bool, None, Path, Mode, or a list, tuple or dict of those"


@dataclass(frozen=True)
class Snippet:
    """The code of one action: ``code`` for a notebook cell, ``script`` for ``python file.py``."""

    action: str
    app: str
    digest: str
    code: str
    script: str


# ----- values ------------------------------------------------------------------------------
def render_value(value: Any, field: str = "value") -> str:
    """Python source that evaluates to ``value``; ``field`` names it in the error if it can't.

    Raises :class:`AgiError` for any type outside str, int, float, bool, None, Path, Mode and
    lists, tuples and dicts of those: code that cannot be rendered safely is not rendered.
    """
    return _render(value, field, 0)


def _render(value: Any, where: str, depth: int) -> str:
    if depth > _MAX_DEPTH:
        raise AgiError(f"{where}: nested over {_MAX_DEPTH} levels deep (does it contain itself?)")
    if isinstance(value, Mode):
        return _render_mode(value, where)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return int.__repr__(value)  # the base repr: a subclass cannot override what is emitted
    if isinstance(value, float):
        return _render_float(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, PurePath):
        return _quote(str(value))
    if isinstance(value, (list, tuple)):
        return _render_sequence(value, where, depth)
    if isinstance(value, dict):
        return _render_dict(value, where, depth)
    raise _unsupported(value, where)


def _quote(text: str) -> str:
    """``str.__repr__``, with double quotes when that needs no escaping (the usual style)."""
    literal = str.__repr__(text)
    if literal.startswith("'") and '"' not in text:
        # repr picks single quotes here only when the text holds no quote at all
        return '"' + literal[1:-1] + '"'
    return literal


def _render_float(value: float) -> str:
    if math.isnan(value):
        return 'float("nan")'
    if math.isinf(value):
        return 'float("inf")' if value > 0 else '-float("inf")'
    return float.__repr__(value)


def _render_mode(mode: Mode, where: str) -> str:
    if not 0 <= int(mode) <= 15:
        raise AgiError(f"{where}: mode {int(mode)} is out of range: modes are 0-15")
    return f'Mode.from_token("{mode.token}")'


def _render_sequence(value: list[Any] | tuple[Any, ...], where: str, depth: int) -> str:
    items = [_render(item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value)]
    if isinstance(value, list):
        return "[" + ", ".join(items) + "]"
    return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"


def _render_dict(value: dict[Any, Any], where: str, depth: int) -> str:
    entries = []
    for key, item in value.items():
        key_text = _render(key, f"{where} key", depth + 1)
        entries.append(f"{key_text}: {_render(item, f'{where}[{key_text}]', depth + 1)}")
    return "{" + ", ".join(entries) + "}"


def _unsupported(value: Any, where: str) -> AgiError:
    kind = type(value)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    hint = " (a pydantic model: pass model.model_dump())" if isinstance(value, BaseModel) else ""
    return AgiError(f"{where}: cannot render a value of type {name} as code{hint}; use {_SUPPORTED}")


# ----- snippets ----------------------------------------------------------------------------
def settings_digest(env: AgiEnv) -> str:
    """12 hex characters of sha256 over the settings' values, so comments don't count."""
    data = AppSettings.load(env.settings_path).document.unwrap()
    canonical = json.dumps(data, sort_keys=True, default=str)  # default: TOML dates and times
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def make_snippet(env: AgiEnv, action: str, request: Request) -> Snippet:
    """Render ``request`` as the code that runs ``action`` for ``env``'s app.

    ``benchmark`` renders a copy of ``request`` with ``benchmark=True``; ``request`` itself is
    never changed. Raises :class:`AgiError` for an unknown action, a request of the wrong class
    for the action, or a value that cannot be rendered safely.
    """
    request_class, function, result = _call_for(action, request)
    if action == "benchmark":
        request = request.model_copy(update={"benchmark": True})
    request_lines = _render_request(request)
    names = {"AGI", "AgiEnv", request_class.__name__}
    if _uses_mode(request_lines):
        names.add("Mode")
    imports = f"from agi_jupyter import {', '.join(sorted(names))}"
    call = f"await AGI.{function}(env, request)"
    statements = [_env_line(env), *request_lines, f"{result} = {call}" if result else call]
    digest = settings_digest(env)
    marker = _marker(action, env.app, digest)
    code = "\n".join([marker, imports, "", *statements, *([result] if result else [])])
    script = _script(marker, env.script_path(action).name, imports, statements, result)
    return Snippet(action=action, app=env.app, digest=digest, code=code, script=script)


def _call_for(action: str, request: Any) -> tuple[type[Request], str, str | None]:
    if action not in ACTIONS:
        raise AgiError(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    request_class, function, result = _CALLS[action]
    if type(request) is not request_class:  # a subclass would be rendered as, and run as, its base
        raise AgiError(f"action {action!r} takes a {request_class.__name__}, not a {type(request).__name__}")
    return request_class, function, result


def _render_request(request: Request) -> list[str]:
    """``request = Class(...)`` with the fields that differ from their defaults.

    Not ``model_dump(exclude_defaults=True)``: pydantic keeps fields that have a serializer
    (``mode=None``) in it, and dumps modes as integers where we want ``Mode.from_token(...)``.
    """
    arguments = [f"{name}={render_value(value, name)}" for name, value in _changed_fields(request)]
    name = type(request).__name__
    line = f"request = {name}({', '.join(arguments)})"
    if len(line) <= _LINE_LENGTH:
        return [line]
    return [f"request = {name}(", *(f"    {argument}," for argument in arguments), ")"]


def _changed_fields(request: Request) -> list[tuple[str, Any]]:
    fields = type(request).model_fields.items()
    values = [(name, getattr(request, name), field.get_default(call_default_factory=True)) for name, field in fields]
    return [(name, value) for name, value, default in values if value != default]


def _uses_mode(lines: list[str]) -> bool:
    """Whether the code names ``Mode`` (text inside a string literal does not count)."""
    tree = ast.parse("\n".join(lines))
    return any(isinstance(node, ast.Name) and node.id == "Mode" for node in ast.walk(tree))


def _env_line(env: AgiEnv) -> str:
    """``env = AgiEnv(...)``; ``apps_path`` only when the app is not a bundled example."""
    arguments = [render_value(env.app, "app")]
    if Path(env.apps_path).resolve() != EXAMPLES_PATH.resolve():
        arguments.append(f"apps_path={render_value(str(env.apps_path), 'apps_path')}")
    if env.verbose != 1:
        arguments.append(f"verbose={render_value(env.verbose, 'verbose')}")
    return f"env = AgiEnv({', '.join(arguments)})"


def _marker(action: str, app: str, digest: str) -> str:
    marker = f"# agi-jupyter: action={action} app={app} digest={digest}"
    if not _MARKER.fullmatch(marker):  # an app name is an identifier; never emit a broken marker
        raise AgiError(f"app name {app!r} cannot be written in a snippet marker")
    return marker


def _script(marker: str, name: str, imports: str, statements: list[str], result: str | None) -> str:
    body = [f"    {statement}" for statement in statements]
    if result:
        body.append(f"    print({result})")
    lines = [
        marker,
        f'"""Generated by agi-jupyter. Run it with: python {name}"""',
        "",
        "import asyncio",
        "",
        imports,
        "",
        "",
        "async def main() -> None:",
        *body,
        "",
        "",
        'if __name__ == "__main__":',
        "    asyncio.run(main())",
    ]
    return "\n".join(lines) + "\n"


# ----- markers and files -------------------------------------------------------------------
def parse_marker(code: str) -> dict[str, str] | None:
    """``{"action", "app", "digest"}`` from the marker on the first line, or None."""
    first_line = code.partition("\n")[0].rstrip()
    match = _MARKER.fullmatch(first_line)
    return match.groupdict() if match else None


def is_stale(code: str, env: AgiEnv) -> bool:
    """True unless ``code`` carries a marker for ``env``'s app made with today's settings values."""
    marker = parse_marker(code)
    return marker is None or marker["app"] != env.app or marker["digest"] != settings_digest(env)


def write_script(env: AgiEnv, snippet: Snippet) -> Path:
    """Write ``snippet.script`` atomically to ``env.log_dir/AGI_<action>_<target>.py``."""
    if snippet.app != env.app:
        raise AgiError(f"a snippet of app {snippet.app} cannot be written as a script of {env.app}")
    path = env.script_path(snippet.action)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, snippet.script)
    return path
