"""Make an app's code importable on every Dask worker, with a Dask worker plugin.

The plugin carries a zip of the app's ``src`` (and the compiled worker package when there is
one). Registered on a client, Dask runs its ``setup`` on every current worker and on any worker
that joins later; a new registration under the same name replaces the old one, and ``setup``
drops the previous version's modules so the new code is what runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin
from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from .env import AgiEnv
from .errors import InstallError
from .logs import LineCallback
from .records import field_problems

logger = logging.getLogger(__name__)


def bundle(env: AgiEnv) -> bytes:
    """A zip of the app's src folder (``src/...``) and compiled package (``cython/...``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for prefix, root in (("src", env.src_path), ("cython", env.cython_dir)):
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith("."):
                    archive.write(path, f"{prefix}/{path.relative_to(root)}")
    return buffer.getvalue()


HOST_BUILDS = "AGI_HOST_BUILDS"
"""Set on workers the engine started on other hosts: the folder of the Cython builds compiled there."""


def host_build_key(env: AgiEnv) -> str:
    """The name of a host's Cython build of this worker module: the package and its source's digest."""
    return f"{env.worker_module}_cython-{hashlib.sha256(env.worker_path.read_bytes()).hexdigest()[:12]}"


class AppCodePlugin(WorkerPlugin):
    """Unpacks an app's code into the worker's local directory and puts it on ``sys.path``.

    The compiled worker package shipped in the bundle is this kernel's build; a worker on
    another host that compiled the same source itself (``$AGI_HOST_BUILDS/<build key>``, made by
    INSTALL through :mod:`agi_jupyter.core.deploy.builds`) imports its own build instead.
    """

    def __init__(self, target: str, packages: list[str], payload: bytes, build_key: str | None = None) -> None:
        self.target = target
        self.packages = packages
        self.payload = payload
        self.digest = hashlib.sha256(payload).hexdigest()[:12]
        self.name = f"agi-app-{target}"
        self.build_key = build_key

    def compiled_folder(self, root: Path) -> Path:
        """This host's own build of the worker module when it has one, else the shipped one."""
        builds = os.environ.get(HOST_BUILDS)
        if builds and self.build_key and (Path(builds) / self.build_key).is_dir():
            return Path(builds) / self.build_key
        return root / "cython"

    def setup(self, worker: Any) -> None:
        root = Path(worker.local_directory) / "agi-apps" / f"{self.target}-{self.digest}"
        if not root.is_dir():
            staging = root.with_name(root.name + ".partial")
            with zipfile.ZipFile(io.BytesIO(self.payload)) as archive:
                archive.extractall(staging)
            staging.rename(root)
        stale = [p for p in sys.path if f"{Path('agi-apps')}/{self.target}-" in p and not p.startswith(str(root))]
        for path in stale:
            sys.path.remove(path)
        builds = os.environ.get(HOST_BUILDS)
        if builds and self.build_key:  # an earlier version's own build
            package = self.build_key.rsplit("-", 1)[0]
            for path in [p for p in sys.path if p.startswith(builds) and Path(p).name.startswith(f"{package}-")]:
                sys.path.remove(path)
        for folder in (root / "src", self.compiled_folder(root)):
            if str(folder) in sys.path:
                sys.path.remove(str(folder))
            sys.path.insert(0, str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] in self.packages]:
            del sys.modules[name]


def ship_app(client: Any, env: AgiEnv, sink: LineCallback) -> None:
    """Register the app's code plugin on ``client`` (every worker now and later gets it)."""
    payload = bundle(env)
    packages = [env.target, env.worker_module, f"{env.worker_module}_cython"]
    plugin = AppCodePlugin(env.target, packages, payload, host_build_key(env) if env.worker_path.is_file() else None)
    client.register_plugin(plugin, name=plugin.name)
    count = (
        len(client.scheduler_info(n_workers=-1)["workers"])
        if _takes_n_workers(client)
        else len(client.scheduler_info()["workers"])
    )
    sink(f"shipped {env.app} code ({len(payload) / 1024:.0f} KiB, version {plugin.digest}) to {count} Dask worker(s)")


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


class WorkerReport(BaseModel):
    """A Dask worker's readiness, as :func:`_worker_report` answers it on the worker and ``client.run``
    brings it back pickled: the requirements its environment does not satisfy, the app modules it
    cannot import. :func:`check_workers` validates each one it gets, so a worker running an older
    version (which answers a plain dict with these keys) is read the same way."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    missing: list[StrictStr]  # requirement specifiers the worker's environment does not satisfy
    import_errors: dict[StrictStr, StrictStr]  # app module -> repr of its import error


def _worker_report(requirements: list[str], modules: list[str]) -> WorkerReport:
    """Runs on each worker: which requirements are unmet, which app modules fail to import."""
    import importlib

    from agi_jupyter.core.install import missing_requirements

    failed: dict[str, str] = {}
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:  # report every kind of import failure, by module
            logger.debug("importing %s failed", module, exc_info=True)
            failed[module] = repr(error)
    return WorkerReport(missing=missing_requirements(requirements), import_errors=failed)


def check_workers(
    client: Any, requirements: list[str], sink: LineCallback, modules: list[str] | None = None
) -> list[str]:
    """Check every Dask worker can import the app; InstallError names what is missing where."""
    reports = client.run(_worker_report, requirements, modules or [])
    problems = []
    for address, answer in sorted(reports.items()):
        try:
            report = answer if isinstance(answer, WorkerReport) else WorkerReport.model_validate(answer)
        except ValidationError as invalid:
            problems.append(f"{address}: unreadable readiness report ({field_problems(invalid)})")
            continue
        for text in report.missing:
            problems.append(f"{address}: missing {text}")
        for module, error in report.import_errors.items():
            problems.append(f"{address}: cannot import {module}: {error}")
    if problems:
        raise InstallError("Dask workers are not ready:\n  " + "\n  ".join(problems))
    sink(f"checked {len(reports)} Dask worker(s): dependencies satisfied ({json.dumps(requirements)})")
    return sorted(reports)
