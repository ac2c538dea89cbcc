"""Shared fixtures: every test writes under its own temporary roots, never the user's home."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every root the product writes to at a per-test folder."""
    roots = tmp_path / "roots"
    for name, folder in {
        "AGI_SHARE_DIR": "share",
        "AGILAB_EXPORT_ABS": "export",
        "AGI_LOG_DIR": "log",
        "AGI_WORKER_ENV_DIR": "wenv",
        "AGI_CLUSTER_DIR": "cluster",
    }.items():
        monkeypatch.setenv(name, str(roots / folder))
    monkeypatch.setenv("AGI_ENV_FILE", str(roots / "agilab.env"))
    monkeypatch.delenv("AGI_APPS_PATH", raising=False)
    return roots


@pytest.fixture(autouse=True)
def package_log_level() -> Iterator[None]:
    """Give back the ``agi_jupyter`` logger level a test set (the Orchestrator and the verbosity slider set it)."""
    package = logging.getLogger("agi_jupyter")
    level = package.level
    yield
    package.setLevel(level)


@pytest.fixture
def apps_path(tmp_path: Path) -> Path:
    """A writable copy of the bundled example apps (no scheduler configured)."""
    from agi_jupyter.core.env import copy_examples, list_apps
    from agi_jupyter.core.settings import save_settings

    target = copy_examples(tmp_path / "apps")
    for app in list_apps(target):
        save_settings(target / app / "src" / "app_settings.toml", {"cluster.scheduler": ""})
    return target
