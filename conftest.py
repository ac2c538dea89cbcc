"""Session-wide: every root the product writes points into a temporary folder before any test
(or any notebook kernel nbval starts) runs, so the suite never touches the user's home."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOTS = {"AGI_SHARE_DIR": "share", "AGILAB_EXPORT_ABS": "export", "AGI_LOG_DIR": "log",
         "AGI_WORKER_ENV_DIR": "wenv", "AGI_ENV_FILE": "agilab.env"}


def pytest_configure(config: object) -> None:
    base = Path(tempfile.mkdtemp(prefix="agi-jupyter-tests-"))
    for name, folder in ROOTS.items():
        os.environ[name] = str(base / folder)
