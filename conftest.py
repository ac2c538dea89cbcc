"""Session-wide isolation, set before any test (or notebook kernel nbval starts) runs.

- every root the product writes points into a temporary folder, never the user's home;
- the apps are a copy of the bundled examples whose scheduler setting is blank, so a run never
  talks to a scheduler someone else may have on 127.0.0.1:8786 (the engine starts its own);
- Jupyter's runtime folder is private, so no other Jupyter server (and its Dask sidebar
  clusters) on this machine is found.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOTS = {
    "AGI_SHARE_DIR": "share",
    "AGILAB_EXPORT_ABS": "export",
    "AGI_LOG_DIR": "log",
    "AGI_WORKER_ENV_DIR": "wenv",
    "AGI_CLUSTER_DIR": "cluster",
    "AGI_ENV_FILE": "agilab.env",
}


def private_apps(target: Path) -> Path:
    """Copy the bundled example apps to ``target`` with no scheduler configured."""
    from agi_jupyter.core.env import copy_examples, list_apps
    from agi_jupyter.core.settings import save_settings

    copy_examples(target)
    for app in list_apps(target):
        save_settings(target / app / "src" / "app_settings.toml", {"cluster.scheduler": ""})
    return target


def pytest_configure(config: object) -> None:
    base = Path(tempfile.mkdtemp(prefix="agi-jupyter-tests-"))
    for name, folder in ROOTS.items():
        os.environ[name] = str(base / folder)
    os.environ["JUPYTER_RUNTIME_DIR"] = str(base / "jupyter-runtime")
    os.environ["AGI_APPS_PATH"] = str(private_apps(base / "apps"))
