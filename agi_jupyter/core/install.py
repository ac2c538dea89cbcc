"""INSTALL: the app's worker environment, its dependencies, the Cython build, shipping to Dask.

Steps, each skipped when its inputs did not change since the last good install:

1. a virtual environment in ``~/wenv/<target>_worker/venv`` (uv when available, else venv). By
   default it sees the kernel's packages through a ``.pth`` file, so installs are fast and work
   offline; ``isolated=True`` gives it only what the app declares;
2. the app's declared dependencies that are missing or too old there (uv, else pip);
3. with the cython bit, the worker module compiled into ``<target>_worker_cython`` (built
   aside, then swapped in, so a failed build leaves the previous one usable);
4. with the dask bit, the app's code shipped to every worker of the chosen client and its
   dependencies checked there.

The last good install is recorded in ``install.json`` (:class:`InstallRecord`, schema
``agi.install.v1``); that record is what allows RUN.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import site
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, NonNegativeFloat, NonNegativeInt
from pydantic.dataclasses import dataclass

from .env import AgiEnv
from .errors import InstallError
from .files import write_text_atomic
from .logs import LineCallback, LogSink, moment, stream_command, timestamp
from .modes import Mode, find_c_compiler
from .records import read_record, write_record
from .requests import InstallRequest
from .settings import AppSettings

logger = logging.getLogger(__name__)

INSTALL_SCHEMA = "agi.install.v1"
AGI_PACKAGE = Path(__file__).resolve().parents[1]
REINSTALL_HINT = "run INSTALL again (AGI.install), which rewrites it"


@dataclass(frozen=True, config=ConfigDict(extra="forbid", strict=True))
class InstallRecord:
    """What the last successful install did, when, and from which inputs (``install.json``).

    ``modes_enabled`` are the mode bits the install prepared (a later install keeps the bits of
    an unchanged earlier one); ``compiled`` is the Cython extension's path, ``dask_workers`` the
    Dask workers the app was shipped to and checked on.

    A frozen pydantic dataclass rather than a model: it validates the same way, and stays a
    dataclass for the callers that print it with ``dataclasses.asdict`` (the command line).
    """

    app: str
    modes_enabled: NonNegativeInt
    isolated: bool
    fingerprint: str
    python: str
    when: str
    seconds: NonNegativeFloat
    log: str
    compiled: str | None = None
    dask_workers: list[str] = field(default_factory=list)
    schema: Literal["agi.install.v1"] = "agi.install.v1"

    @classmethod
    def read(cls, env: AgiEnv) -> InstallRecord | None:
        """The recorded install, None when there is none; InstallError naming the file and field if malformed."""
        return read_record(env.install_record_path, cls, InstallError, REINSTALL_HINT)

    @classmethod
    def load(cls, env: AgiEnv) -> InstallRecord | None:
        """The recorded install, or None when there is none or it is malformed (logged with the field).

        For callers that only show or compare the record; :func:`check_install`, which decides
        whether RUN may go on, uses :meth:`read` and reports a malformed record.
        """
        try:
            return cls.read(env)
        except InstallError as error:
            logger.warning("ignoring the install record: %s", error)
            return None

    def save(self, env: AgiEnv) -> None:
        write_record(env.install_record_path, self, indent=2)


def source_fingerprint(env: AgiEnv, isolated: bool = False) -> str:
    """Digest of what an install builds from: the app's code, its pyproject, the Python version."""
    digest = hashlib.sha256(f"{sys.version}|isolated={isolated}".encode())
    files = sorted([env.pyproject_path, *env.src_path.rglob("*.py")])
    for path in files:
        if "__pycache__" in path.parts:
            continue
        digest.update(str(path.relative_to(env.app_path)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def declared_dependencies(env: AgiEnv) -> list[str]:
    """``[project].dependencies`` of the app's pyproject.toml."""
    try:
        project = tomllib.loads(env.pyproject_path.read_text()).get("project", {})
    except tomllib.TOMLDecodeError as error:
        raise InstallError(f"{env.pyproject_path}: invalid TOML ({error})") from None
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise InstallError(f"{env.pyproject_path}: [project].dependencies must be a list of strings")
    return dependencies


def missing_requirements(requirements: list[str]) -> list[str]:
    """The requirements the running interpreter does not satisfy (runs on workers too)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    missing = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{text} (not installed)")
            continue
        if requirement.specifier and not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{text} (found {version})")
    return missing


def install(
    env: AgiEnv, request: InstallRequest, on_line: LineCallback | None = None, cluster: Callable[[], Any] | None = None
) -> InstallRecord:
    """Run the install steps for ``request``; raise InstallError and keep the old record on failure.

    ``cluster`` returns the Dask client handle to ship to (only called with the dask bit).
    """
    log_path = env.log_dir / f"install_{timestamp()}.log"
    with LogSink(log_path, on_line) as sink:
        try:
            return _install_logged(env, request, sink, log_path, cluster)
        except Exception as error:  # the log says how the install ended, then the caller gets the error
            sink(f"INSTALL failed: {error}")
            raise


def _install_logged(
    env: AgiEnv, request: InstallRequest, sink: LineCallback, log_path: Path, cluster: Callable[[], Any] | None
) -> InstallRecord:
    """The install steps, writing to ``sink``; :func:`install` logs how it ended when it raises."""
    started = time.perf_counter()
    settings = AppSettings.load(env.settings_path)
    modes = request.modes_enabled if request.modes_enabled is not None else settings.cluster.mode
    sink(f"INSTALL {env.app}: modes {modes.label} ({modes.token}), worker env {env.worker_env_dir}")
    try:
        previous = InstallRecord.read(env)
    except InstallError as error:  # exactly what this install repairs: say so, then rebuild
        sink(f"the previous install record is ignored: {error}")
        previous = None
    fingerprint = source_fingerprint(env, request.isolated)
    unchanged = (
        previous is not None
        and not request.force
        and previous.fingerprint == fingerprint
        and env.worker_python.exists()
        and (not modes & Mode.CYTHON or (previous.compiled and Path(previous.compiled).exists()))
    )
    if unchanged:
        sink("unchanged since the last install: environment, dependencies and build are up to date")
        compiled = previous.compiled if previous else None
    else:
        make_venv(env, request.isolated, sink)
        install_dependencies(env, request.isolated, sink)
        compiled = build_cython(env, sink) if modes & Mode.CYTHON else None
    dask_workers: list[str] = []
    if modes & Mode.DASK:
        from .shipping import check_workers, ship_app

        handle = cluster() if cluster else None
        if handle is None:
            raise InstallError("the dask bit needs a Dask client, and none was given")
        if compiled:  # each host beyond this machine compiles the worker module itself
            from .deploy.builds import build_on_hosts

            build_on_hosts(env, settings.cluster, request.workers or settings.cluster.workers, sink)
        ship_app(handle.client, env, sink)
        modules = [f"{env.worker_module}.{env.worker_module}", f"{env.target}.app_args"]
        if compiled:
            modules.append(f"{env.worker_module}_cython.{env.worker_module}")
        dask_workers = check_workers(handle.client, declared_dependencies(env), sink, modules)
    kept = Mode(previous.modes_enabled) if unchanged and previous else Mode(0)
    record = InstallRecord(
        app=env.app,
        modes_enabled=int(modes | kept),
        isolated=request.isolated,
        fingerprint=fingerprint,
        python=str(env.worker_python),
        when=moment(),
        seconds=round(time.perf_counter() - started, 3),
        log=str(log_path),
        compiled=compiled,
        dask_workers=dask_workers,
    )
    record.save(env)
    sink(f"INSTALL done in {record.seconds:.2f} s")
    return record


def check_install(env: AgiEnv, mode: Mode) -> InstallRecord:
    """The install record that allows running ``mode``; InstallError says what to do otherwise.

    A malformed ``install.json`` is an InstallError naming the file and the field.
    """
    record = InstallRecord.read(env)
    if record is None or not env.worker_python.exists():
        raise InstallError(f"{env.app} is not installed: {install_ways(env)} first")
    if record.fingerprint != source_fingerprint(env, record.isolated):
        edited = edited_since_install(env)
        what = f" ({name_files(edited)} edited)" if edited else ""
        raise InstallError(
            f"{env.app} changed since it was installed at {record.when}{what}: {install_ways(env)} again"
        )
    if mode & Mode.CYTHON and not (record.compiled and Path(record.compiled).exists()):
        raise InstallError(f"mode {mode.label} needs the Cython build: enable cython and run INSTALL")
    return record


def install_ways(env: AgiEnv) -> str:
    """The three ways to install ``env``: a refused run names each, as users come from each."""
    return f"install it with the INSTALL button, `await AGI.install(env)` or `agi-jupyter install {env.target}`"


def name_files(paths: list[str], shown: int = 5) -> str:
    """The first ``shown`` paths, then how many more: a message stays one readable line."""
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return f"{', '.join(paths[:shown])}{more}"


def edited_since_install(env: AgiEnv) -> list[str]:
    """The app files (relative) modified after ``install.json`` was written; [] when mtimes do not tell."""
    if not env.install_record_path.exists():
        return []
    stamp = env.install_record_path.stat().st_mtime_ns
    files = [env.pyproject_path, *env.src_path.rglob("*.py")]
    return sorted(
        str(path.relative_to(env.app_path))
        for path in files
        if "__pycache__" not in path.parts and path.stat().st_mtime_ns > stamp
    )


# ----- step 1: the virtual environment ------------------------------------------------------
def uv_binary() -> str | None:
    """The uv executable shipped by the ``uv`` package, or on PATH; None without uv."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def make_venv(env: AgiEnv, isolated: bool, sink: LineCallback) -> None:
    """Create the worker venv if needed and (re)write its link to the kernel's packages."""
    root = env.worker_python.parent.parent
    if not env.worker_python.exists():
        uv = uv_binary()
        command = (
            [uv, "venv", "--quiet", "--python", sys.executable, str(root)]
            if uv
            else [sys.executable, "-m", "venv", "--without-pip", str(root)]
        )
        if stream_command(command, sink) != 0:
            raise InstallError(f"could not create the worker environment {root} (see the install log)")
    purelib = _site_packages(env)
    link = purelib / "agi_kernel.pth"
    if isolated:
        link.unlink(missing_ok=True)
        _link_agi_package(purelib)
    else:
        paths = [p for p in dict.fromkeys([*site.getsitepackages(), site.getusersitepackages()]) if Path(p).is_dir()]
        write_text_atomic(link, "".join(f"import site; site.addsitedir({p!r})\n" for p in paths))
        sink(f"worker environment sees the kernel's packages ({len(paths)} folder(s))")


def _site_packages(env: AgiEnv) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return env.worker_python.parent.parent / "lib" / version / "site-packages"


def _link_agi_package(purelib: Path) -> None:
    """An isolated env still imports agi_jupyter's worker API: link just that package."""
    target = purelib / "agi_jupyter"
    if not target.exists():
        target.symlink_to(AGI_PACKAGE, target_is_directory=True)


# ----- step 2: dependencies -------------------------------------------------------------------
def install_dependencies(env: AgiEnv, isolated: bool, sink: LineCallback) -> None:
    """Install what the worker env lacks of the app's dependencies (plus the worker API's own)."""
    wanted = declared_dependencies(env) + (["pydantic>=2.7", "python-dotenv>=1.0"] if isolated else [])
    missing = _missing_in_worker_env(env, wanted)
    if not missing:
        sink(f"dependencies satisfied: {', '.join(wanted) or 'none declared'}")
        return
    sink(f"installing {len(missing)} missing dependencies: {', '.join(missing)}")
    specs = [text.split(" (")[0] for text in missing]
    uv = uv_binary()
    command = (
        [uv, "pip", "install", "--python", str(env.worker_python), *specs]
        if uv
        else [str(env.worker_python), "-m", "pip", "install", *specs]
    )
    if stream_command(command, sink) != 0:
        raise InstallError(
            f"installing {', '.join(specs)} into {env.worker_env_dir} failed (see the install log); "
            "the previous install stays usable"
        )
    still = _missing_in_worker_env(env, wanted)
    if still:
        raise InstallError(f"after installing, the worker environment still lacks: {', '.join(still)}")


def _missing_in_worker_env(env: AgiEnv, requirements: list[str]) -> list[str]:
    code = (
        "import json, sys; from agi_jupyter.core.install import missing_requirements; "
        "print(json.dumps(missing_requirements(json.loads(sys.argv[1]))))"
    )
    lines: list[str] = []
    status = stream_command([str(env.worker_python), "-c", code, json.dumps(requirements)], lines.append)
    if status != 0:
        raise InstallError("the worker environment cannot run the dependency check:\n" + "\n".join(lines[-10:]))
    missing: list[str] = json.loads(lines[-1])
    return missing


# ----- step 3: the Cython build -------------------------------------------------------------
def build_cython(env: AgiEnv, sink: LineCallback) -> str:
    """Compile the worker module into ``<target>_worker_cython``; return the extension's path."""
    if not find_c_compiler():
        raise InstallError(
            "the cython bit needs a C compiler and none was found (install gcc, e.g. "
            "'apt-get install build-essential'); the previous install stays usable"
        )
    package = f"{env.worker_module}_cython"
    env.cython_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="cython-", dir=env.cython_dir.parent))
    try:
        shutil.copytree(
            env.worker_path.parent, staging / package, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c")
        )
        code = (
            "from setuptools import setup; from Cython.Build import cythonize; "
            f"setup(name={package!r}, ext_modules=cythonize([{package + '/' + env.worker_module + '.py'!r}], "
            "language_level=3, quiet=True), script_args=['build_ext', '--inplace'])"
        )
        if stream_command([str(env.worker_python), "-c", code], sink, cwd=staging) != 0:
            raise InstallError(
                f"compiling {env.worker_path} with Cython failed (see the install log); "
                "the previous install stays usable"
            )
        (staging / package / f"{env.worker_module}.py").unlink()
        for leftover in ("build",):
            shutil.rmtree(staging / leftover, ignore_errors=True)
        extension = _verify_extension(env, staging, package)
        _swap_in(staging, env.cython_dir)
        sink(f"compiled worker: {env.cython_dir / Path(extension).relative_to(staging)}")
        return str(env.cython_dir / Path(extension).relative_to(staging))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _verify_extension(env: AgiEnv, folder: Path, package: str) -> str:
    code = (
        f"import sys; sys.path[:0] = [{str(folder)!r}, {str(env.src_path)!r}]; "
        f"import {package}.{env.worker_module} as m; print(m.__file__)"
    )
    lines: list[str] = []
    if stream_command([str(env.worker_python), "-c", code], lines.append) != 0:
        raise InstallError("the compiled worker does not import:\n" + "\n".join(lines[-10:]))
    path = lines[-1]
    if not path.endswith(".so"):
        raise InstallError(f"the compiled worker did not load as an extension (loaded {path})")
    return path


def _swap_in(staging: Path, target: Path) -> None:
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)
