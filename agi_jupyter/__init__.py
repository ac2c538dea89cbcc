"""agi-jupyter: settings, install, distribute, run, serve and export a data app from JupyterLab.

The public names are imported lazily so that ``import agi_jupyter`` stays cheap: it pulls in
neither Dask, pandas, bqplot nor ipywidgets until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_PUBLIC = {
    "AGI": "agi_jupyter.core.engine",
    "AgiEnv": "agi_jupyter.core.env",
    "AgiError": "agi_jupyter.core.errors",
    "ClusterRequest": "agi_jupyter.core.requests",
    "DataPath": "agi_jupyter.core.env",
    "DistribRequest": "agi_jupyter.core.requests",
    "InstallRequest": "agi_jupyter.core.requests",
    "Mode": "agi_jupyter.core.modes",
    "Orchestrator": "agi_jupyter.widgets",
    "RunRequest": "agi_jupyter.core.requests",
    "ServeRequest": "agi_jupyter.core.requests",
    "SubmitRequest": "agi_jupyter.core.requests",
    "new_app": "agi_jupyter.core.scaffold",
}

__all__ = sorted(_PUBLIC)

if TYPE_CHECKING:  # the same names for type checkers, re-exported as they are
    from ._version import __version__ as __version__
    from .core.engine import AGI as AGI
    from .core.env import AgiEnv as AgiEnv
    from .core.env import DataPath as DataPath
    from .core.errors import AgiError as AgiError
    from .core.modes import Mode as Mode
    from .core.requests import ClusterRequest as ClusterRequest
    from .core.requests import DistribRequest as DistribRequest
    from .core.requests import InstallRequest as InstallRequest
    from .core.requests import RunRequest as RunRequest
    from .core.requests import ServeRequest as ServeRequest
    from .core.requests import SubmitRequest as SubmitRequest
    from .core.scaffold import new_app as new_app
    from .widgets import Orchestrator as Orchestrator


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the installed metadata on first use (agi_jupyter/_version.py)
        from ._version import __version__

        globals()[name] = __version__
        return __version__
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'agi_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | {"__version__"})
