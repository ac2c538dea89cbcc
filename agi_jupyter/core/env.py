"""The app environment: which app, what its parts are called, and every path the product writes.

:class:`AgiEnv` is the one owner of file locations. Roots come from environment variables
(the process environment first, then ``~/.agilab/.env``, then a default under the home
directory) so tests and multi-user servers can redirect them. :data:`VARIABLES` lists every
environment variable the product reads, with its default and meaning (the documentation's
reference page is generated from it).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Annotated, Any

from .errors import AppContractError

logger = logging.getLogger(__name__)

EXAMPLES_PATH = Path(__file__).resolve().parent.parent / "examples"
PROJECT_SUFFIX = "_project"

_DEFAULTS = {
    "AGI_SHARE_DIR": "~/agi_share",
    "AGILAB_EXPORT_ABS": "~/export",
    "AGI_LOG_DIR": "~/log",
    "AGI_WORKER_ENV_DIR": "~/wenv",
    "AGI_CLUSTER_DIR": "~/.agilab/cluster",
}


@dataclass(frozen=True)
class Variable:
    """One environment variable the product reads: its name, its default and what it changes."""

    name: str
    default: str | None
    """The value used when neither the process environment nor the ``.env`` file sets it (None: unset)."""
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable("AGI_APPS_PATH", None, "folder of the app folders (``<name>_project``); unset: the bundled examples"),
    Variable("AGI_SHARE_DIR", "~/agi_share", "relative ``data_in``/``data_out``, service queues and health snapshots"),
    Variable("AGILAB_EXPORT_ABS", "~/export", "exports: ``<target>/export.csv``"),
    Variable("AGI_LOG_DIR", "~/log", "``execute/<target>/``: logs, action scripts, the plan and the benchmarks"),
    Variable("AGI_WORKER_ENV_DIR", "~/wenv", "worker environments: ``<target>_worker/``"),
    Variable("AGI_CLUSTER_DIR", "~/.agilab/cluster", "records and logs of the Dask processes the engine started"),
    Variable("AGI_ENV_FILE", "~/.agilab/.env", "``KEY=VALUE`` defaults for the variables above"),
    Variable("AGI_WARM_POOLS", "1", "``0`` turns off the warm process pools kept between runs"),
    Variable(
        "AGI_HOST_BUILDS",
        None,
        "set by the engine on the workers it starts on other hosts: the folder of the Cython builds compiled there",
    ),
)
"""Every environment variable the product reads (tests/test_docs.py checks the code reads no other)."""


def camel_case(target: str) -> str:
    """``my_app`` -> ``MyApp``: the class-name rule of the app contract."""
    return "".join(part[:1].upper() + part[1:] for part in target.split("_") if part)


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """KEY=VALUE defaults from ``~/.agilab/.env`` (or ``AGI_ENV_FILE``); empty when absent."""
    from dotenv import dotenv_values

    path = path or Path(os.environ.get("AGI_ENV_FILE", "~/.agilab/.env")).expanduser()
    if not path.is_file():
        return {}
    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def setting(name: str, file_values: dict[str, str] | None = None) -> str | None:
    """Value of a root variable: process environment, then the .env file, then the default."""
    if os.environ.get(name):
        return os.environ[name]
    values = read_env_file() if file_values is None else file_values
    return values.get(name) or _DEFAULTS.get(name)


def root_path(name: str, file_values: dict[str, str] | None = None) -> Path:
    """A root variable as an absolute path (``~`` expanded)."""
    value = setting(name, file_values)
    if value is None:
        raise KeyError(name)
    return Path(value).expanduser().resolve()


def resolve_data_path(value: str | os.PathLike[str], share_dir: Path) -> Path:
    """A data path as the app uses it: ``~`` expanded, then relative paths under ``share_dir``.

    Absolute paths stay as they are, so resolving twice gives what resolving once gave.
    """
    path = Path(value).expanduser()
    return path if path.is_absolute() else share_dir / path


# ----- data paths in an app's arguments -----------------------------------------------------
DATA_PATH_NAMES = frozenset({"data_in", "data_out"})
"""Argument names that are data paths without being declared so (every app has had them)."""


@dataclass(frozen=True)
class DataPathMark:
    """The mark in ``Annotated[<type>, DATA_PATH]`` that declares an argument a data path."""


DATA_PATH = DataPathMark()
"""Declares a ``Path`` (or list) argument a data path: ``Annotated[Path, DATA_PATH]``."""

DataPath = Annotated[str, DATA_PATH]
"""A str argument holding a data path: ``results: DataPath = "my_app/results"``.

Like ``data_in`` and ``data_out``, a relative value resolves under the share dir (``~``
expanded) in ``self.args`` of the manager and of every worker, each with its own share dir;
the settings keep what the user wrote. ``list[DataPath]`` resolves each element.
"""


def _marked(annotation: Any) -> bool:
    """Whether ``DATA_PATH`` marks ``annotation`` or a type inside it (a union, a list)."""
    if typing.get_origin(annotation) is Annotated:
        base, *marks = typing.get_args(annotation)
        return any(isinstance(mark, DataPathMark) for mark in marks) or _marked(base)
    return any(_marked(member) for member in typing.get_args(annotation))


def is_data_path(name: str, field: Any = None) -> bool:
    """Whether argument ``name`` (a pydantic ``FieldInfo`` when known) is a data path."""
    if name in DATA_PATH_NAMES:
        return True
    if field is None:
        return False
    metadata = getattr(field, "metadata", ())
    return any(isinstance(mark, DataPathMark) for mark in metadata) or _marked(getattr(field, "annotation", None))


def data_path_names(args: Any) -> list[str]:
    """The data-path arguments of ``args``: a pydantic model's, or by name a mapping's or a namespace's.

    Plain values carry no declaration, so only ``data_in`` and ``data_out`` count there.
    """
    fields = getattr(type(args), "model_fields", None)
    if isinstance(fields, Mapping):
        return [name for name, field in fields.items() if is_data_path(name, field)]
    if isinstance(args, Mapping):
        return [name for name in args if is_data_path(name)]
    if isinstance(args, SimpleNamespace):
        return [name for name in vars(args) if is_data_path(name)]
    return []  # not a kind of arguments the engine hands out: left as it is


def _resolved(value: Any, share_dir: Path) -> Any:
    """``value`` resolved, keeping its type: str -> str, path -> Path, list/tuple -> the same kind."""
    if isinstance(value, str):
        return str(resolve_data_path(value, share_dir)) if value else value
    if isinstance(value, os.PathLike):
        return resolve_data_path(value, share_dir)
    if isinstance(value, (list, tuple)):
        return type(value)(_resolved(member, share_dir) for member in value)
    return value  # None (no path given) or a type that is not a path


def resolve_data_args(args: Any, share_dir: Path) -> Any:
    """A copy of ``args`` whose data paths are resolved under ``share_dir``; ``args`` is unchanged.

    Called where an app gets its arguments (the manager, each worker), never before they are
    saved or sent: the settings, plans and worker specs keep the values as the user wrote them,
    and a worker resolves with the share dir of its own side.
    """
    changes = {}
    for name in data_path_names(args):
        value = args[name] if isinstance(args, Mapping) else getattr(args, name)
        resolved = _resolved(value, share_dir)
        if resolved != value:
            changes[name] = resolved
    if not changes:
        return args
    logger.debug("data paths under %s: %s", share_dir, ", ".join(f"{k}={v}" for k, v in changes.items()))
    if hasattr(args, "model_copy"):
        return args.model_copy(update=changes)
    if isinstance(args, Mapping):
        return {**args, **changes}
    return SimpleNamespace(**{**vars(args), **changes})


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def copy_examples(target: Path | str) -> Path:
    """Copy the bundled example apps to ``target`` (a writable apps path of your own); returns it."""
    import shutil

    target = Path(target).expanduser()
    shutil.copytree(EXAMPLES_PATH, target, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c", ".*.lock"))
    return target


def list_apps(apps_path: Path | str | None = None) -> list[str]:
    """Names of the app folders (``*_project``) under an apps path, sorted."""
    folder = _apps_root(apps_path)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.endswith(PROJECT_SUFFIX))


def _apps_root(apps_path: Path | str | None) -> Path:
    if apps_path is not None:
        return Path(apps_path).expanduser().resolve()
    configured = setting("AGI_APPS_PATH")
    return Path(configured).expanduser().resolve() if configured else EXAMPLES_PATH


class AgiEnv:
    """Everything the product knows about one app: names, source files and output paths.

    Parameters
    ----------
    app:
        The app folder name (``"flight_project"``), its target (``"flight"``), or a path to
        the folder itself.
    apps_path:
        Folder holding app folders. ``None`` uses ``AGI_APPS_PATH`` when set, else the example
        apps bundled with the package.
    verbose:
        0 quiet, 1 normal, 2 and more chatty; passed on to workers. ``None`` (the default):
        the app's ``[cluster] verbose`` setting decides (1 when unset); a request's own
        ``verbose`` wins over both.

    Raises
    ------
    AppContractError
        When the app is not found or breaks the app contract; the message names the missing
        piece (file, folder or class) and where it was expected.
    """

    def __init__(
        self, app: str | os.PathLike[str], apps_path: Path | str | None = None, verbose: int | None = None
    ) -> None:
        self.verbose = 1 if verbose is None else verbose
        self.verbose_given = verbose is not None  # else [cluster] verbose decides for the workers
        self.app_path = self._locate(app, apps_path)
        self.apps_path = self.app_path.parent
        self.app = self.app_path.name
        self.target = self.app[: -len(PROJECT_SUFFIX)]
        if not self.target.isidentifier():
            raise AppContractError(f"app folder {self.app_path}: {self.target!r} is not a valid Python module name")
        self.target_class = camel_case(self.target)
        self.worker_module = f"{self.target}_worker"
        self.worker_class = f"{self.target_class}Worker"
        self.args_class = f"{self.target_class}Args"
        self._file_values = read_env_file()
        self.check_contract()

    # ----- locating the app -------------------------------------------------------------
    @staticmethod
    def _locate(app: str | os.PathLike[str], apps_path: Path | str | None) -> Path:
        candidate = Path(app).expanduser()
        if candidate.is_absolute() or (os.sep in str(app) and candidate.exists()):
            if not candidate.is_dir():
                raise AppContractError(f"app folder {candidate} does not exist")
            if not candidate.name.endswith(PROJECT_SUFFIX):
                raise AppContractError(
                    f"app folder {candidate}: its name must end with '{PROJECT_SUFFIX}' (e.g. flight_project)"
                )
            return candidate.resolve()
        name = str(app)
        if not name.endswith(PROJECT_SUFFIX):
            name += PROJECT_SUFFIX
        root = _apps_root(apps_path)
        folder = root / name
        if not folder.is_dir():
            known = ", ".join(list_apps(root)) or "none"
            hint = ""
            if root != EXAMPLES_PATH and (EXAMPLES_PATH / name).is_dir():
                hint = (
                    f"; {name} is a bundled example, used when no apps path is set: "
                    f"agi_jupyter.core.env.copy_examples({str(root)!r}) copies the examples there"
                )
            raise AppContractError(f"app {name!r} not found under {root} (apps there: {known}){hint}")
        return folder.resolve()

    # ----- source files of the app contract ---------------------------------------------
    @property
    def src_path(self) -> Path:
        return self.app_path / "src"

    @property
    def pyproject_path(self) -> Path:
        return self.app_path / "pyproject.toml"

    @property
    def settings_path(self) -> Path:
        return self.src_path / "app_settings.toml"

    @property
    def args_form_path(self) -> Path:
        return self.src_path / "app_args_form.py"

    @property
    def manager_path(self) -> Path:
        return self.src_path / self.target / f"{self.target}.py"

    @property
    def args_path(self) -> Path:
        return self.src_path / self.target / "app_args.py"

    @property
    def worker_path(self) -> Path:
        return self.src_path / self.worker_module / f"{self.worker_module}.py"

    def check_contract(self) -> None:
        """Raise :class:`AppContractError` naming the first missing piece of the contract."""
        required = [
            (self.pyproject_path, "pyproject.toml (project name and worker dependencies)"),
            (self.settings_path, "settings file src/app_settings.toml"),
            (self.src_path / self.target / "__init__.py", f"manager package src/{self.target}/__init__.py"),
            (self.manager_path, f"manager module src/{self.target}/{self.target}.py"),
            (self.args_path, f"argument model src/{self.target}/app_args.py"),
            (
                self.src_path / self.worker_module / "__init__.py",
                f"worker package src/{self.worker_module}/__init__.py",
            ),
            (self.worker_path, f"worker module src/{self.worker_module}/{self.worker_module}.py"),
        ]
        for path, what in required:
            if not path.is_file():
                raise AppContractError(f"app {self.app}: missing {what} (expected at {path})")

    # ----- loading the app's classes ------------------------------------------------------
    def import_module(self, name: str) -> ModuleType:
        """Import one of the app's modules from its ``src`` folder."""
        src = str(self.src_path)
        if src in sys.path:
            sys.path.remove(src)
        sys.path.insert(0, src)
        self._forget_foreign_modules()
        try:
            module = importlib.import_module(name)
            self._stamp_modules()
            return module
        except Exception as error:  # an app's import error is the app's problem; say whose
            raise AppContractError(f"app {self.app}: importing {name} failed: {error!r}") from error

    def _app_modules(self, package: str) -> list[str]:
        return [key for key in sys.modules if key == package or key.startswith(package + ".")]

    def _stamp_modules(self) -> None:
        """Remember each app module's file time, so an edited file is imported afresh next time."""
        for package in (self.target, self.worker_module):
            for key in self._app_modules(package):
                origin = getattr(sys.modules[key], "__file__", None)
                if origin and not hasattr(sys.modules[key], "__agi_mtime__"):
                    vars(sys.modules[key])["__agi_mtime__"] = _mtime(origin)  # our stamp in the module's namespace

    def _edited(self, package: str) -> bool:
        """Whether a loaded module of ``package`` has changed on disk since it was imported."""
        for key in self._app_modules(package):
            module = sys.modules[key]
            stamp = getattr(module, "__agi_mtime__", None)
            if stamp is not None and stamp != _mtime(getattr(module, "__file__", "") or ""):
                return True
        return False

    def _forget_foreign_modules(self) -> None:
        """Drop cached app modules loaded from another app folder (a copy, say) or edited since."""
        for package in (self.target, self.worker_module):
            loaded = sys.modules.get(package)
            origin: str | None = getattr(loaded, "__file__", None)
            ours = bool(origin and Path(origin).resolve().is_relative_to(self.src_path))
            if loaded is None or (ours and not self._edited(package)):
                continue
            for key in self._app_modules(package):
                del sys.modules[key]
        importlib.invalidate_caches()

    def _load_class(self, module: str, class_name: str, path: Path) -> type:
        loaded = self.import_module(module)
        found = getattr(loaded, class_name, None)
        if not isinstance(found, type):
            classes = sorted(
                n for n, v in vars(loaded).items() if isinstance(v, type) and v.__module__ == loaded.__name__
            )
            raise AppContractError(
                f"app {self.app}: {path} must define class {class_name} (classes found: {', '.join(classes) or 'none'})"
            )
        return found

    def manager_class(self) -> type:
        """The manager class ``<Target>`` from ``src/<target>/<target>.py``."""
        return self._load_class(f"{self.target}.{self.target}", self.target_class, self.manager_path)

    def worker_class_object(self) -> type:
        """The worker class ``<Target>Worker`` from ``src/<target>_worker/<target>_worker.py``."""
        return self._load_class(f"{self.worker_module}.{self.worker_module}", self.worker_class, self.worker_path)

    def args_model(self) -> type:
        """The pydantic model ``<Target>Args`` from ``src/<target>/app_args.py``."""
        return self._load_class(f"{self.target}.app_args", self.args_class, self.args_path)

    # ----- where the product writes -----------------------------------------------------
    @property
    def share_dir(self) -> Path:
        """``${AGI_SHARE_DIR}``: relative data_in/data_out and service queues live here."""
        return root_path("AGI_SHARE_DIR", self._file_values)

    @property
    def export_dir(self) -> Path:
        """``${AGILAB_EXPORT_ABS}/<target>``: where export.csv goes."""
        return root_path("AGILAB_EXPORT_ABS", self._file_values) / self.target

    @property
    def export_path(self) -> Path:
        return self.export_dir / "export.csv"

    @property
    def log_dir(self) -> Path:
        """``${AGI_LOG_DIR}/execute/<target>``: run and install logs, snippets, benchmark.json."""
        return root_path("AGI_LOG_DIR", self._file_values) / "execute" / self.target

    @property
    def worker_env_dir(self) -> Path:
        """``${AGI_WORKER_ENV_DIR}/<target>_worker``: the app's worker environment."""
        return root_path("AGI_WORKER_ENV_DIR", self._file_values) / self.worker_module

    @property
    def worker_python(self) -> Path:
        """Python of the worker environment (a venv inside :attr:`worker_env_dir`)."""
        return self.worker_env_dir / "venv" / "bin" / "python"

    @property
    def cython_dir(self) -> Path:
        """Where install puts the compiled worker package ``<target>_worker_cython``."""
        return self.worker_env_dir / "cython"

    @property
    def install_record_path(self) -> Path:
        """``install.json``: the last successful install, which is what allows RUN."""
        return self.worker_env_dir / "install.json"

    @property
    def plan_path(self) -> Path:
        """``distribution.json``: the saved work plan and what it was built from."""
        return self.log_dir / "distribution.json"

    @property
    def benchmark_path(self) -> Path:
        """``benchmark.json``: the latest timing of every mode that ran."""
        return self.log_dir / "benchmark.json"

    @property
    def benchmark_history_path(self) -> Path:
        """``benchmark_history.json``: the last benchmarks, one entry each, for the trend chart."""
        return self.log_dir / "benchmark_history.json"

    def script_path(self, action: str) -> Path:
        """Runnable snippet file ``AGI_<action>_<target>.py``."""
        return self.log_dir / f"AGI_{action}_{self.target}.py"

    @property
    def service_dir(self) -> Path:
        """``${AGI_SHARE_DIR}/service/<target>``: queue and health snapshot of service mode."""
        return self.share_dir / "service" / self.target

    def data_path(self, value: str | os.PathLike[str]) -> Path:
        """Any path as a data path: ``~`` expanded, relative under ``${AGI_SHARE_DIR}``, absolute unchanged."""
        return resolve_data_path(value, self.share_dir)

    def __repr__(self) -> str:
        return f"AgiEnv(app={self.app!r}, apps_path={str(self.apps_path)!r})"
