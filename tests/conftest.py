"""Shared fixtures: every test writes under its own temporary roots, never the user's home."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agi_jupyter.core.env import EXAMPLES_PATH


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every root the product writes to at a per-test folder."""
    roots = tmp_path / "roots"
    for name, folder in {"AGI_SHARE_DIR": "share", "AGILAB_EXPORT_ABS": "export", "AGI_LOG_DIR": "log",
                         "AGI_WORKER_ENV_DIR": "wenv"}.items():
        monkeypatch.setenv(name, str(roots / folder))
    monkeypatch.setenv("AGI_ENV_FILE", str(roots / "agilab.env"))
    monkeypatch.delenv("AGI_APPS_PATH", raising=False)
    return roots


@pytest.fixture
def apps_path(tmp_path: Path) -> Path:
    """A writable copy of the bundled example apps."""
    target = tmp_path / "apps"
    shutil.copytree(EXAMPLES_PATH, target, ignore=shutil.ignore_patterns("__pycache__", "tests", "*.so", "*.c"))
    return target
