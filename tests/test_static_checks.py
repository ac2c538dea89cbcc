"""The linters the project enforces, run by the README's test command (so CI enforces them too).

ruff with the rules in ``[tool.ruff]``; mypy with ``[tool.mypy]`` (strict on the whole package).
Each check must report nothing; a finding fails with the tool's output. The TypeScript side has
its own checks (tests/test_labextension_checks.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tool(name: str) -> str:
    """The tool installed beside this Python (the test extras install it)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        message = f"{name} is not installed: install the test extras (bash scripts/test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"}
    )


def test_ruff_finds_nothing() -> None:
    done = run(tool("ruff"), "check", "--output-format", "concise", ".")
    assert done.returncode == 0, f"ruff check reported:\n{done.stdout}{done.stderr}"


def test_ruff_format_leaves_every_module_as_it_is() -> None:
    done = run(tool("ruff"), "format", "--check", ".")
    assert done.returncode == 0, f"ruff format --check would reformat:\n{done.stdout}{done.stderr}"


def test_mypy_is_strict_clean_on_the_package() -> None:
    done = run(tool("mypy"), "agi_jupyter")
    assert done.returncode == 0 and "Success" in done.stdout, f"mypy reported:\n{done.stdout}{done.stderr}"
