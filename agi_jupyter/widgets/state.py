"""The state the tabs of one Orchestrator share, as traits they observe by name.

Modelled on ipywidgets itself: a tab that changes something sets a trait, and every tab that
depends on it has called ``state.observe(handler, names="...")``. This replaces a bus of string
events: each shared fact is now a typed value with a current value (a tab built late reads it
instead of waiting for the next event), notifies only when it really changes, and the list below
says who depends on it.

Traits, who sets them and who observes them:

``settings_digest``
    Digest of ``app_settings.toml`` (the one :func:`~agi_jupyter.core.snippets.settings_digest`
    stamps on snippets). Set by whoever saves settings (Settings tab, the args editor on the
    Distribute tab, the Service tab's gate thresholds) through :meth:`Context.settings_saved`.
    Observed by the Install, Distribute and Run tabs (new request and snippet) and the
    Orchestrator (tells the JupyterLab extension, which marks stale snippet cells).
``install``
    :class:`InstallState`: installed / stale / missing and why. Set by the Install tab after
    INSTALL. Observed by the Run tab (RUN is enabled only over a valid install).
``saved_plan``
    Stamp of the saved distribution (``""`` when none). Set by the Distribute tab (CHECK
    DISTRIBUTE, SAVE) and the Run tab (a RUN rebuilds a stale plan). Observed by the Distribute
    tab (shows the plan the next RUN uses and whether it is stale).
``service_status``
    The service's last known status (``running``, ``degraded``, ``error``, ``idle``,
    ``stopped``, ``unknown``; ``""`` before any snapshot). Set by the Service tab. No tab depends
    on it; notebook code may observe it.
``last_run``
    :class:`LastRun`: mode, seconds, when, outputs. Set by the Run tab. Observed by the Data tab
    (previews the new output).

Several fields changed together are batched with ``hold_trait_notifications()``: this is a plain
``HasTraits`` (no front-end model, so no comm), which has no ``hold_sync``; holding the
notifications gives the same effect here: each changed trait notifies once, after all are set.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from traitlets import HasTraits, Instance, Unicode

from ..core.env import AgiEnv

logger = logging.getLogger(__name__)

INSTALL_STATUSES = ("installed", "stale", "missing")


@dataclass(frozen=True)
class InstallState:
    """Whether the app's worker environment may run, and a sentence saying so (or what to do).

    Frozen and compared by value, so re-reading an unchanged install notifies nobody while a new
    install (a new ``when``) does.
    """

    status: str = "missing"  # one of INSTALL_STATUSES
    reason: str = ""
    when: str = ""  # the install record's time; "" without a record

    def __post_init__(self) -> None:
        if self.status not in INSTALL_STATUSES:
            raise ValueError(f"install status {self.status!r} is not one of {', '.join(INSTALL_STATUSES)}")

    @property
    def installed(self) -> bool:
        return self.status == "installed"


@dataclass(frozen=True)
class LastRun:
    """What the last RUN of this Orchestrator did: enough for other tabs to react, not the whole result."""

    mode: int | None  # None for a benchmark of every allowed mode
    label: str
    seconds: float  # the run's own time; for a benchmark, the modes' times added
    when: str  # local time the run finished
    outputs: int = 0  # files the run wrote (a benchmark: 0, it keeps no outputs of its own)


class OrchestratorState(HasTraits):
    """What the tabs of one Orchestrator share; see the module docstring for who sets and observes each trait."""

    settings_digest = Unicode("", help="digest of app_settings.toml, as snippets carry it")
    install = Instance(InstallState, kw={}, help="installed / stale / missing and why")
    saved_plan = Unicode("", help="stamp of the saved distribution, '' when there is none")
    service_status = Unicode("", help="the service's last known status, '' before any snapshot")
    last_run = Instance(LastRun, allow_none=True, help="the last RUN of this Orchestrator, None before any")

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        for name in self.trait_names():  # materialise lazy defaults, so assigning one is no change
            getattr(self, name)

    @classmethod
    def read(cls, env: AgiEnv) -> OrchestratorState:
        """The state as the app's files say it is now (digest, install, saved plan)."""
        return cls(
            settings_digest=read_settings_digest(env), install=read_install_state(env), saved_plan=read_plan_stamp(env)
        )


def read_settings_digest(env: AgiEnv) -> str:
    """The settings digest, or ``""`` when the settings cannot be read (the tabs say why when they load them)."""
    from ..core.snippets import settings_digest

    try:
        return settings_digest(env)
    except Exception:  # a malformed file: the Orchestrator reports it while building the tabs
        logger.debug("no settings digest for %s", env.app, exc_info=True)
        return ""


def read_install_state(env: AgiEnv) -> InstallState:
    """Installed (with when and modes), stale (installed, but the app changed since) or missing."""
    from ..core.install import InstallRecord, check_install
    from ..core.modes import Mode

    record = InstallRecord.load(env)
    try:
        record = check_install(env, Mode(0))
    except Exception as error:  # any reason is shown as it is
        logger.debug("no valid install of %s", env.app, exc_info=True)
        from .common import error_text

        status = "missing" if record is None else "stale"
        return InstallState(status, error_text(error), record.when if record else "")
    return InstallState(
        "installed",
        f"installed {record.when} (modes {Mode(record.modes_enabled).label}) in {record.seconds:.2f} s",
        record.when,
    )


def plan_stamp(distribution: Any) -> str:
    """Which plan this is: when it was built, and a digest of its slots (a Workplan edit keeps ``built``)."""
    content = json.dumps(distribution.plan.to_dict(), sort_keys=True, default=str)
    return f"{distribution.built} {hashlib.sha256(content.encode('utf-8')).hexdigest()[:12]}"


def read_plan_stamp(env: AgiEnv) -> str:
    """The stamp of the saved distribution, ``""`` when there is none (or it is unreadable)."""
    from ..core.distrib import load

    saved = load(env)
    return plan_stamp(saved) if saved is not None else ""


def last_run_of(value: Any) -> LastRun:
    """A :class:`LastRun` from what ``AGI.run`` returned: a RunResult, or a benchmark table."""
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if isinstance(value, dict):  # a benchmark table
        seconds = sum(row["seconds"] for row in value.get("rows", []) if row.get("seconds") is not None)
        return LastRun(mode=None, label="benchmark", seconds=float(seconds), when=when)
    return LastRun(
        mode=int(value.mode), label=value.label, seconds=float(value.seconds), when=when, outputs=len(value.outputs)
    )
