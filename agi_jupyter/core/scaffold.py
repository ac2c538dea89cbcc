"""A new app from a template: ``agi-jupyter new NAME`` and the Orchestrator's "New app..." entry.

Templates live in ``agi_jupyter/templates/<template>/`` as a complete app folder for the app
``app_template``. Creating an app copies that folder and applies one explicit rule to every file
path and every file's text: ``app_template`` becomes the app's target (``my_app``) and
``AppTemplate`` its class-name form (``MyApp``). Nothing else is rewritten.

The app is built in a hidden temporary folder beside its final place and renamed into place at
the end, so a failure leaves no half app, and an existing folder is never written into. That
folder is named ``.<app>_project.<pid>.<random>.tmp``, with the pid of the process building it.
A creation killed midway leaves it behind; the next creation in the same apps path removes such
leftovers once they are unused: untouched for :data:`STALE_SECONDS` and their process gone from
this machine, or untouched for :data:`ABANDONED_SECONDS` whatever the pid says (a pid reused since,
or a process of another machine sharing the folder: no creation takes that long).
"""

from __future__ import annotations

import keyword
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from fnmatch import fnmatch
from importlib.util import find_spec
from pathlib import Path

from .cluster import process_alive  # one rule for "is that pid running here"
from .env import EXAMPLES_PATH, PROJECT_SUFFIX, camel_case, setting
from .errors import AgiError

logger = logging.getLogger(__name__)

TEMPLATES_PATH = Path(__file__).resolve().parent.parent / "templates"
PLACEHOLDER = "app_template"
CLASS_PLACEHOLDER = "AppTemplate"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
MAX_NAME_LENGTH = 40
RESERVED = frozenset({"agi_jupyter", "test", "tests", "src", PLACEHOLDER})  # confusing as an app's package
SKIPPED = ("__pycache__", "*.pyc", "*.so", "*.c", ".*")  # build leftovers and hidden files are not template
# a creation's temporary folder (group "pid" is absent in those of releases that did not record it)
STAGING = re.compile(r"\.[a-z0-9_]+" + re.escape(PROJECT_SUFFIX) + r"\.(?:(?P<pid>\d+)\.)?[a-z0-9_]+\.tmp")
STALE_SECONDS = 60.0  # untouched this long and its process gone: a leftover
ABANDONED_SECONDS = 24 * 3600.0  # untouched this long: a leftover, whatever its pid


@dataclass(frozen=True)
class Template:
    """One template: its name, the one-line description pickers show, and its folder."""

    name: str
    description: str

    @property
    def path(self) -> Path:
        return TEMPLATES_PATH / self.name


TEMPLATES = {
    template.name: template
    for template in (
        Template("pandas", "one output file per input CSV file, balanced over the workers by file size"),
        Template("dag", "named steps with dependencies (a DagWorker), run in dependency order"),
        Template("cpu", "a CPU-bound loop in Cython's typed pure-Python mode: the cython modes compile it"),
    )
}


class ScaffoldError(AgiError):
    """An app cannot be created: a bad name or template, an existing folder, or no apps path."""


def app_target(name: str) -> str:
    """The target of a new app called ``name`` (``demo`` or ``demo_project``), checked.

    A target becomes a Python package (``<target>``, ``<target>_worker``) that the engine puts
    first on ``sys.path``, so it must be a lower-case identifier that is not a keyword and does
    not shadow the standard library, agi_jupyter or an installed module. Another app's module of
    the same name does not count: the engine swaps app modules when it switches apps.
    """
    text = name.strip()
    target = text[: -len(PROJECT_SUFFIX)] if text.endswith(PROJECT_SUFFIX) else text
    if not target:
        raise ScaffoldError("an app needs a name, e.g. 'demo' (its folder is then demo_project)")
    if len(target) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(target):
        raise ScaffoldError(
            f"app name {name!r}: use lower-case letters, digits and single underscores, starting with a "
            f"letter, at most {MAX_NAME_LENGTH} characters (e.g. 'sales_report')"
        )
    if keyword.iskeyword(target) or keyword.issoftkeyword(target):
        raise ScaffoldError(f"app name {name!r}: {target!r} is a Python keyword; choose another name")
    if target in RESERVED or target in sys.stdlib_module_names:
        raise ScaffoldError(f"app name {name!r}: {target!r} is the name of a Python or agi-jupyter module")
    for module in (target, f"{target}_worker"):
        found = _installed_module(module)
        if found:
            raise ScaffoldError(
                f"app name {name!r}: the app's module {module!r} would shadow the installed module at {found}"
            )
    return target


def _installed_module(module: str) -> str | None:
    """Where an importable top-level ``module`` lives, unless it is an agi app's own module."""
    try:
        spec = find_spec(module)
    except (ImportError, ValueError):  # a broken or odd entry in sys.modules: it is there all the same
        return f"sys.modules[{module!r}]"
    if spec is None or spec.origin in (None, "namespace"):
        return None  # nothing, or a mere folder of that name (a regular package, the app's, wins over it)
    parents = Path(spec.origin).resolve().parents
    is_app = any(p.name == "src" and p.parent.name.endswith(PROJECT_SUFFIX) for p in parents)
    return None if is_app else spec.origin


def default_apps_path() -> Path:
    """``AGI_APPS_PATH``: where new apps go when no apps path is given.

    The bundled examples, which AgiEnv shows when it is unset, are part of the installed package
    and never receive new apps.
    """
    configured = setting("AGI_APPS_PATH")
    if not configured:
        raise ScaffoldError(
            "no apps path: give one (--apps-path DIR, or apps_path=...) or set AGI_APPS_PATH; the bundled "
            "example apps are part of the installed package and receive no new apps"
        )
    return Path(configured).expanduser().resolve()


def new_app(name: str, template: str = "pandas", apps_path: str | os.PathLike[str] | None = None) -> Path:
    """Create the app ``<name>_project`` from ``template`` under ``apps_path``; return its folder.

    The app runs as it is (install, distribute, run in every mode) and its README says which
    file to edit for what; ``agi-jupyter new`` and the Orchestrator's "New app…" call this.

    Parameters
    ----------
    name:
        ``demo`` or ``demo_project``: lower-case letters, digits and single underscores, not a
        keyword, not the name of a standard-library, agi-jupyter or installed module.
    template:
        ``pandas`` (one output file per input CSV file, balanced by size), ``dag`` (named steps
        with dependencies) or ``cpu`` (a loop in Cython's typed pure-Python mode).
    apps_path:
        Folder of apps, created if missing; ``None`` uses ``AGI_APPS_PATH``.

    Raises
    ------
    AgiError
        A ``ScaffoldError`` for a bad name or template, an existing app folder (never written
        into) or no apps path; the message names the folder or the rule.
    """
    chosen = TEMPLATES.get(template)
    if chosen is None:
        raise ScaffoldError(f"unknown template {template!r} (templates: {', '.join(TEMPLATES)})")
    target = app_target(name)
    root = Path(apps_path).expanduser().resolve() if apps_path is not None else default_apps_path()
    if root == EXAMPLES_PATH:
        raise ScaffoldError(f"{root} holds the bundled example apps (part of the package): choose another apps path")
    folder = root / f"{target}{PROJECT_SUFFIX}"
    if os.path.lexists(folder):
        raise ScaffoldError(f"{folder} already exists: choose another name (an existing folder is never overwritten)")
    try:
        root.mkdir(parents=True, exist_ok=True)
        remove_leftovers(root)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}.", suffix=".tmp", dir=root))
    except OSError as error:  # not a folder, not writable: say where
        raise ScaffoldError(f"cannot create an app under {root}: {error.strerror or error}") from None
    logger.debug("building %s in %s", folder, staging)  # tests/test_scaffold.py pauses a creation here
    try:
        _fill(chosen.path, staging, target)
        try:
            os.rename(staging, folder)  # fails on a non-empty folder made meanwhile
        except OSError as error:
            raise ScaffoldError(f"{folder} could not be created: {error.strerror} (nothing written there)") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("created %s from the %s template", folder, template)
    return folder


def remove_leftovers(root: Path) -> list[Path]:
    """Remove the temporary folders of creations killed midway under ``root``; return them.

    Only folders named like a creation's (:data:`STAGING`) are looked at, and only unused ones
    go: see the module's docstring for the rule. One that cannot be removed is logged and left.
    """
    removed = []
    now = time.time()
    for path in root.iterdir():
        found = STAGING.fullmatch(path.name)
        if found is None or path.is_symlink() or not path.is_dir():
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:  # removed meanwhile by another creation
            continue
        pid = found.group("pid")
        if not _unused(age, None if pid is None else int(pid)):
            continue
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            continue
        except OSError as error:
            logger.warning("cannot remove %s, left by an app creation that did not finish: %s", path, error)
            continue
        logger.info("removed %s, left by an app creation that did not finish", path)
        removed.append(path)
    return removed


def _unused(age: float, pid: int | None) -> bool:
    """Whether a creation's folder untouched for ``age`` seconds, made by process ``pid``, is a leftover."""
    return age >= ABANDONED_SECONDS or (age >= STALE_SECONDS and pid is not None and not process_alive(pid))


def _fill(source: Path, destination: Path, target: str) -> None:
    """Copy a template folder, renaming and rewriting by the placeholder rule."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if any(fnmatch(part, pattern) for part in relative.parts for pattern in SKIPPED):
            continue
        copied = destination / render(str(relative), target)
        if path.is_dir():
            copied.mkdir(parents=True, exist_ok=True)
            continue
        copied.parent.mkdir(parents=True, exist_ok=True)
        copied.write_text(render(path.read_text(encoding="utf-8"), target), encoding="utf-8")


def render(text: str, target: str) -> str:
    """``text`` with the placeholders replaced: ``AppTemplate`` -> class name, ``app_template`` -> target."""
    return text.replace(CLASS_PLACEHOLDER, camel_case(target)).replace(PLACEHOLDER, target)
