"""The app environment: which app, what its parts are called, and every path the product writes.

:class:`AgiEnv` is the one owner of file locations. Roots come from environment variables
(the process environment first, then ``~/.agilab/.env``, then a default under the home
directory) so tests and multi-user servers can redirect them:

=====================  ===============================  =====================================
variable               default                          holds
=====================  ===============================  =====================================
``AGI_APPS_PATH``      the bundled example apps         folders named ``<name>_project``
``AGI_SHARE_DIR``      ``~/agi_share``                  data_in/data_out, service queues
``AGILAB_EXPORT_ABS``  ``~/export``                     ``<target>/export.csv``
``AGI_LOG_DIR``        ``~/log``                        ``execute/<target>/`` logs, snippets
``AGI_WORKER_ENV_DIR`` ``~/wenv``                       ``<target>_worker`` environments
``AGI_CLUSTER_DIR``    ``~/.agilab/cluster``            what the engine started, and its logs
``AGI_ENV_FILE``       ``~/.agilab/.env``               KEY=VALUE defaults for the above
=====================  ===============================  =====================================
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

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
    """Relative data_in/data_out paths resolve under the share dir; absolute ones stay."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else share_dir / path


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
        0 quiet, 1 normal, 2 and more chatty; passed on to workers.

    Raises
    ------
    AppContractError
        When the app is not found or breaks the app contract; the message names the missing
        piece (file, folder or class) and where it was expected.
    """

    def __init__(self, app: str | os.PathLike[str], apps_path: Path | str | None = None, verbose: int = 1) -> None:
        self.verbose = verbose
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
            raise AppContractError(f"app {name!r} not found under {root} (apps there: {known})")
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
        """Relative data_in/data_out paths resolve under ``${AGI_SHARE_DIR}``."""
        return resolve_data_path(value, self.share_dir)

    def __repr__(self) -> str:
        return f"AgiEnv(app={self.app!r}, apps_path={str(self.apps_path)!r})"
