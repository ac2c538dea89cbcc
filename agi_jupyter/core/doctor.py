"""DOCTOR: check everything an app needs before INSTALL or RUN, and say how to fix what is wrong.

A failing run on a cluster is slow to diagnose: the settings, the scheduler, the worker hosts,
the worker environment, the install record, the Cython build, the compiler and the output
folders can each be the culprit. :func:`run_checks` looks at all of them independently (one
broken piece never hides the others) and returns one :class:`Check` per piece, whose detail
names the file, host or folder concerned and whose fix says what to do.

Nothing here sends traffic anywhere but the configured scheduler (one TCP connect, bounded by
``timeout``) and the worker hosts beyond this machine (the SSH session of CHECK HOSTS, bounded by
``[cluster] ssh_timeout``; none when every worker host is this machine).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .env import AgiEnv
from .errors import ArgsError, SettingsError

if TYPE_CHECKING:
    from .settings import ClusterSettings

logger = logging.getLogger(__name__)

WORKER_HOSTS = "worker hosts (SSH)"
INSTALL_HINT = "run INSTALL (the Install tab, `agi-jupyter install APP`, or AGI.install)"


@dataclass
class Check:
    """One diagnosis: what was checked, whether it is fine, what was seen, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(env: AgiEnv, *, timeout: float = 2.0) -> list[Check]:
    """Every check, in the order an app's life needs them; a check that raises becomes a failure."""
    checks: list[tuple[str, Callable[[], Check]]] = [
        ("settings", lambda: check_settings(env)),
        ("args", lambda: check_args(env)),
        ("scheduler", lambda: check_scheduler(env, timeout)),
        (WORKER_HOSTS, lambda: check_worker_hosts(env, timeout)),
        ("worker environment", lambda: check_worker_environment(env)),
        ("install record", lambda: check_install_record(env)),
        ("compiled worker", lambda: check_compiled_worker(env)),
        ("C compiler", lambda: check_compiler(env)),
        ("writable folders", lambda: check_folders(env)),
    ]
    return [_guarded(name, check) for name, check in checks]


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except SettingsError as error:  # already reported in full by the settings check
        return Check(
            name,
            False,
            f"cannot check: {error.path or 'the settings file'} does not load",
            "correct the settings file first (see the settings check)",
        )
    except Exception as error:  # any failure is a diagnosis, never a crash
        logger.debug("doctor check %r failed", name, exc_info=True)
        return Check(name, False, f"check failed: {error}", "correct the problem named above, then check again")


def summary(checks: list[Check]) -> str:
    """One line per check (with its fix when it failed) and a last line counting the passes."""
    lines = []
    for check in checks:
        lines.append(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        if not check.ok and check.fix:
            lines.append(f"     fix: {check.fix}")
    passed = sum(check.ok for check in checks)
    lines.append(f"{passed} of {len(checks)} checks passed")
    return "\n".join(lines)


# ----- settings and arguments -------------------------------------------------------------------
def check_settings(env: AgiEnv) -> Check:
    from .settings import AppSettings

    try:
        AppSettings.load(env.settings_path)
    except SettingsError as error:
        where = f"line {error.line} of {env.settings_path}" if error.line else str(env.settings_path)
        key = f" (key {error.key})" if error.key else ""
        return Check("settings", False, str(error), f"correct {where}{key}")
    return Check("settings", True, f"{env.settings_path} parses and validates")


def check_args(env: AgiEnv) -> Check:
    from .args import load_args

    try:
        validated = load_args(env)
    except ArgsError as error:
        fields = "; ".join(f"{name}: {message}" for name, message in error.errors.items())
        return Check(
            "args",
            False,
            f"{env.settings_path} [args]: {fields or error}",
            f"correct the named [args] values in {env.settings_path} (or in the Distribute tab's arguments form)",
        )
    return Check("args", True, f"{env.settings_path} [args] valid for {type(validated).__name__}")


def _cluster(env: AgiEnv) -> ClusterSettings:
    from .settings import AppSettings

    return AppSettings.load(env.settings_path).cluster


# ----- network ----------------------------------------------------------------------------------
def probe_host(host: str, port: int, timeout: float) -> str | None:
    """Try one TCP connection to ``host:port``; None when it is accepted, else what went wrong."""
    shown = f"[{host}]" if ":" in host else host
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except TimeoutError:
        return f"{shown}:{port} did not answer within {timeout:g} s"
    except OSError as error:
        return f"{shown}:{port} refused or unreachable ({error.strerror or error})"


def check_scheduler(env: AgiEnv, timeout: float) -> Check:
    from .cluster import DEFAULT_PORT
    from .settings import split_address

    cluster = _cluster(env)
    if not cluster.cluster_enabled:
        return Check("scheduler", True, f"dask disabled (cluster_enabled = false in {env.settings_path})")
    if not cluster.scheduler:
        return Check(
            "scheduler",
            True,
            "dask enabled without a scheduler address: runs use the kernel's Dask client or a local cluster",
        )
    host, port = split_address(cluster.scheduler)
    port = port or DEFAULT_PORT
    problem = probe_host(host, port, timeout)
    if problem is None:
        return Check("scheduler", True, f"Dask scheduler {cluster.scheduler} accepts connections")
    return Check(
        "scheduler",
        False,
        f"Dask scheduler {cluster.scheduler} ([cluster] scheduler in {env.settings_path}): {problem}",
        f"start one with `dask scheduler --host {host} --port {port}`, or clear [cluster] scheduler "
        "to use a local cluster",
    )


def check_worker_hosts(env: AgiEnv, timeout: float) -> Check:
    """Worker hosts (SSH): every CHECK HOSTS item of every host beyond this machine must be fine.

    Built on :func:`~agi_jupyter.core.deploy.check.check_app_hosts` (reachable, SSH login,
    Python, uv, disk, install state, Dask workers connected). Hosts of this machine need no SSH
    and are not judged here; when every worker host is one, nothing is contacted at all.
    """
    from .deploy.check import check_app_hosts
    from .deploy.control import is_this_machine

    hosts = list(_cluster(env).workers)
    local = [host for host in hosts if is_this_machine(host)]
    remote = [host for host in hosts if host not in local]
    here = [f"{', '.join(local)} on this machine"] if local else []
    if not remote:
        return Check(WORKER_HOSTS, True, "; ".join(here))
    checks = [check for check in check_app_hosts(env, timeout) if check.host in remote]
    failing = [check for check in checks if not check.ok]
    if not failing:
        return Check(WORKER_HOSTS, True, "; ".join([*here, f"{', '.join(remote)}: every item of CHECK HOSTS ok"]))
    seen = [check for check in failing if not check.detail.startswith("not checked")]
    unseen: dict[str, list[str]] = {}
    for check in failing:
        if check not in seen:
            unseen.setdefault(check.host, []).append(check.item)
    details = [f"{check.host} {check.item}: {check.detail}" for check in seen]
    details += [f"{host} {', '.join(items)}: not checked (no SSH connection)" for host, items in unseen.items()]
    fixes = dict.fromkeys(f"{check.host} {check.item}: {check.fix}" for check in seen if check.fix)
    return Check(
        WORKER_HOSTS,
        False,
        f"{'; '.join(details)} ([cluster] in {env.settings_path})",
        "; ".join(fixes) or "correct the items named above, then check again (CHECK HOSTS in the Settings tab)",
    )


# ----- installation -----------------------------------------------------------------------------
def check_worker_environment(env: AgiEnv) -> Check:
    from .install import _missing_in_worker_env, declared_dependencies

    if not env.worker_python.exists():
        return Check(
            "worker environment", False, f"no worker environment: {env.worker_python} does not exist", INSTALL_HINT
        )
    missing = _missing_in_worker_env(env, declared_dependencies(env))
    if missing:
        return Check(
            "worker environment",
            False,
            f"{env.worker_python} lacks {', '.join(missing)} (declared in {env.pyproject_path})",
            INSTALL_HINT,
        )
    return Check("worker environment", True, f"{env.worker_python} has every dependency of {env.pyproject_path}")


def check_install_record(env: AgiEnv) -> Check:
    from .errors import InstallError
    from .install import InstallRecord, source_fingerprint

    try:
        record = InstallRecord.read(env)
    except InstallError as error:  # a malformed record: say what is wrong with it, not "none"
        return Check("install record", False, str(error), f"{INSTALL_HINT} again")
    if record is None:
        return Check("install record", False, f"no install record at {env.install_record_path}", INSTALL_HINT)
    if record.fingerprint != source_fingerprint(env, record.isolated):
        return Check(
            "install record",
            False,
            f"{env.install_record_path}: {_what_changed(env, record.when)}",
            f"{INSTALL_HINT} again",
        )
    return Check("install record", True, f"{env.install_record_path}: installed {record.when}, app unchanged since")


def _what_changed(env: AgiEnv, when: str) -> str:
    """Name the app files edited after the install record was written, when mtimes tell."""
    from .install import edited_since_install, name_files

    edited = edited_since_install(env)
    if edited:
        return f"app code changed since {when}: {name_files(edited)}"
    return f"the app's code, pyproject or Python version changed since {when}"


def check_compiled_worker(env: AgiEnv) -> Check:
    from .install import InstallRecord

    if not _cluster(env).cython:
        return Check("compiled worker", True, f"cython disabled (cython = false in {env.settings_path})")
    fix = "run INSTALL with cython enabled (`agi-jupyter install APP --modes c`)"
    record = InstallRecord.load(env)
    compiled = Path(record.compiled) if record and record.compiled else None
    if compiled is None or not compiled.is_file():
        shown = compiled or f"{env.cython_dir} (not built)"
        return Check("compiled worker", False, f"no compiled worker: {shown}", fix)
    if compiled.stat().st_mtime_ns < env.worker_path.stat().st_mtime_ns:
        return Check("compiled worker", False, f"{compiled} is older than {env.worker_path}", fix)
    return Check("compiled worker", True, f"{compiled} is newer than {env.worker_path}")


def check_compiler(env: AgiEnv) -> Check:
    from .modes import find_c_compiler

    if not _cluster(env).cython:
        return Check("C compiler", True, "not needed: cython disabled")
    compiler = find_c_compiler()
    if compiler:
        return Check("C compiler", True, f"{compiler} (for the Cython build)")
    return Check(
        "C compiler",
        False,
        "cython is enabled but no C compiler (cc, gcc, clang) is on PATH",
        "install one, e.g. `apt-get install build-essential`, or disable cython",
    )


# ----- folders ----------------------------------------------------------------------------------
def check_folders(env: AgiEnv) -> Check:
    folders: list[tuple[str, Callable[[], Path], str]] = [
        ("logs", lambda: env.log_dir, "AGI_LOG_DIR"),
        ("share", lambda: env.share_dir, "AGI_SHARE_DIR"),
        ("exports", lambda: env.export_dir, "AGILAB_EXPORT_ABS"),
        ("service", lambda: env.service_dir, "AGI_SHARE_DIR"),
    ]
    problems, fixes, good = [], [], []
    for label, folder_of, variable in folders:
        folder = folder_of()
        problem = _write_probe(folder)
        if problem:
            problems.append(f"{label} folder {folder}: {problem}")
            fixes.append(f"make {folder} writable or point {variable} elsewhere")
        else:
            good.append(str(folder))
    if problems:
        return Check("writable folders", False, "; ".join(problems), "; ".join(dict.fromkeys(fixes)))
    return Check("writable folders", True, f"writable: {', '.join(good)}")


def _write_probe(folder: Path) -> str | None:
    """Create ``folder`` and write then delete a probe file in it; None when that works."""
    probe = folder / f".agi-doctor-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("probe")
        probe.unlink()
    except OSError as error:
        return error.strerror or str(error)
    return None
