"""A snippet does what its button does: executed in a fresh namespace, or as a script."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from pathlib import Path

from engine_helpers import SMALL

from agi_jupyter import AGI, AgiEnv, DistribRequest, Mode, RunRequest
from agi_jupyter.core.snippets import make_snippet, write_script

NASTY = 'out"); import os #\n\\x'


def run_cell(code: str) -> dict:
    """Execute notebook-cell code (top-level await allowed) in a fresh namespace."""
    namespace: dict = {}
    compiled = compile(code, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    pending = eval(compiled, namespace)  # noqa: S307 - the code under test
    if pending is not None:
        asyncio.run(pending)
    return namespace


def test_run_snippet_executed_in_a_fresh_namespace_matches_the_button(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    params = {**SMALL["flight"], "data_out": NASTY}
    request = RunRequest(mode=0, params=params)
    snippet = make_snippet(env, "run", request)
    assert "import os" in snippet.code  # inside a string literal only
    namespace = run_cell(snippet.code)
    from_snippet = namespace["result"]
    from_button = asyncio.run(AGI.run(env, request))
    assert from_snippet.mode == from_button.mode == 0
    assert from_snippet.outputs == from_button.outputs
    assert from_snippet.dispatched == from_button.dispatched
    assert all(Path(path).parent.name == NASTY for path in from_snippet.outputs)
    assert "os" not in namespace  # nothing but the generated names


def test_distrib_snippet_script_runs_with_plain_python(apps_path: Path) -> None:
    env = AgiEnv("sensors", apps_path=apps_path)
    snippet = make_snippet(env, "get_distrib", DistribRequest(params=SMALL["sensors"]))
    path = write_script(env, snippet)
    assert path == env.log_dir / "AGI_get_distrib_sensors.py"
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    saved = env.plan_path.read_text()
    assert '"schema": "agi.distribution.v1"' in saved and '"merge"' in saved
