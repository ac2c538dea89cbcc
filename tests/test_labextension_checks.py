"""The JupyterLab extension's own checks run with the Python tests (so CI enforces them).

`npm run lint` (eslint + prettier --check) and `npm test` (jest unit tests of the wire protocol,
the insert / replace / order logic, the stale marks and who answers; Node, no browser) in
labextension/.
Their tools are devDependencies that the editable install's `npm install` puts in
labextension/node_modules. Without npm or those tools the tests skip, except under CI=true where
they fail: CI must run them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[1] / "labextension"
TOOLS = ("eslint", "prettier", "jest")
TIMEOUT = 300  # seconds; both take a few seconds here


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        _unavailable("npm is not installed: the labextension's lint and unit tests cannot run")
    missing = [tool for tool in TOOLS if not (LABEXTENSION / "node_modules" / ".bin" / tool).exists()]
    if missing:
        _unavailable(
            f"labextension/node_modules lacks {', '.join(missing)}: "
            "run `npm install` in labextension/ (`pip install -e .` does)"
        )
    return npm


def _plain_env() -> dict[str, str]:
    """Non-interactive, uncoloured output (it is shown on failure)."""
    env = {key: value for key, value in os.environ.items() if key != "FORCE_COLOR"}
    return {**env, "CI": "true", "NO_COLOR": "1"}


def _run_script(script: str) -> subprocess.CompletedProcess[str]:
    npm = _npm()
    try:
        return subprocess.run(
            [npm, "run", script], cwd=LABEXTENSION, capture_output=True, text=True, timeout=TIMEOUT, env=_plain_env()
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(
            f"`npm run {script}` did not finish within {TIMEOUT} s:\n{error.stdout or ''}\n{error.stderr or ''}"
        )


def _report(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"


def test_labextension_lint_passes() -> None:
    """eslint (typescript-eslint, type-checked) and prettier find nothing in labextension/."""
    done = _run_script("lint")
    assert done.returncode == 0, _report(done)
    assert "All matched files use Prettier code style!" in done.stdout + done.stderr, _report(done)


def test_labextension_unit_tests_pass() -> None:
    """The jest suites of protocol.ts, insert.ts, stale.ts and comm.ts all ran and passed."""
    done = _run_script("test")
    assert done.returncode == 0, _report(done)
    output = done.stdout + done.stderr
    for suite in ("protocol.spec.ts", "insert.spec.ts", "stale.spec.ts", "comm.spec.ts"):
        assert f"PASS src/__tests__/{suite}" in output, _report(done)
