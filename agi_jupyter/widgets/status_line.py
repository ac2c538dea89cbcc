"""The status line on top of the Orchestrator: the app at a glance, each part a link to its tab.

Installed or not (and stale), plan saved or not, the last run (mode, seconds, when) and the
service's status: four facts a user otherwise collects from four tabs. Each part is a small
button that opens the tab where the fact is made or changed. The line observes the shared
:class:`~.state.OrchestratorState` by trait name, so it is right the moment any tab changes one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import ipywidgets as widgets

from ..core.env import AgiEnv
from .state import InstallState, LastRun, OrchestratorState

logger = logging.getLogger(__name__)

MARKS = {"ok": "✓", "warning": "⚠", "missing": "✗", "none": "·"}
STYLES = {"ok": "success", "warning": "warning", "missing": "danger", "none": ""}


def install_part(install: InstallState) -> tuple[str, str, str]:
    """(kind, text, tooltip) for the install state."""
    if install.status == "installed":
        return "ok", f"installed {_short(install.when)}", install.reason
    if install.status == "stale":
        return "warning", "install stale", install.reason
    return "missing", "not installed", install.reason or "run INSTALL (Install tab)"


def plan_part(stamp: str) -> tuple[str, str, str]:
    if not stamp:
        return "none", "no plan saved", "CHECK DISTRIBUTE builds and saves the plan (Distribute tab); RUN does too"
    built = stamp.split(" ")[0]
    return "ok", f"plan saved {_short(built)}", f"saved distribution built {built}"


def run_part(last: LastRun | None, recorded: tuple[str, float, str] | None) -> tuple[str, str, str]:
    if last is not None:
        what = "benchmark" if last.mode is None else f"mode {last.label}"
        return "ok", f"last run: {what}, {last.seconds:.2f} s, {_short(last.when)}", f"finished {last.when}"
    if recorded is not None:
        label, seconds, when = recorded
        return "none", f"last recorded run: {label}, {seconds:.2f} s, {_short(when)}", f"from benchmark.json ({when})"
    return "none", "no run yet", "RUN (Run tab) runs the plan in the chosen mode"


def service_part(status: str) -> tuple[str, str, str]:
    if not status or status in ("idle", "stopped"):
        return "none", f"service {status or 'not started'}", "START (Service tab) starts persistent worker loops"
    kind = {"running": "ok", "degraded": "warning", "unknown": "warning"}.get(status, "missing")
    return kind, f"service {status}", f"the service's last known status: {status}"


def recorded_run(env: AgiEnv) -> tuple[str, float, str] | None:
    """The newest mode timing in benchmark.json (label, seconds, when), for a fresh Orchestrator."""
    from ..core.benchmark import load_table

    table = load_table(env)
    rows = [row for row in (table or {}).get("rows", []) if row.get("seconds") is not None]
    if not table or not rows:
        return None
    newest = max(rows, key=lambda row: str(row.get("when") or ""))
    return str(newest["label"]), float(newest["seconds"]), str(newest.get("when") or table.get("updated", ""))


def _short(when: str) -> str:
    """``2026-12-01T17:05:09+0000`` -> ``12-01 17:05`` (the date matters across days, seconds do not)."""
    text = when.replace("T", " ")
    return text[5:16] if len(text) >= 16 else text


class StatusLine(widgets.HBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Four link-buttons: install, plan, last run, service; ``open_tab(title)`` is called on a click."""

    def __init__(self, env: AgiEnv, state: OrchestratorState, open_tab: Callable[[str], None]) -> None:
        self.env, self.state = env, state
        self.parts = {
            "Install": widgets.Button(),
            "Distribute": widgets.Button(),
            "Run": widgets.Button(),
            "Service": widgets.Button(),
        }
        for title, button in self.parts.items():
            button.layout = widgets.Layout(width="auto")
            button.on_click(lambda _, title=title: open_tab(title))
        self.recorded = recorded_run(env)
        state.observe(lambda _: self.refresh(), names=["install", "saved_plan", "last_run", "service_status"])
        self.refresh()
        super().__init__(list(self.parts.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self.add_class("agi-status-line")

    def refresh(self) -> None:
        values = {
            "Install": install_part(self.state.install),
            "Distribute": plan_part(self.state.saved_plan),
            "Run": run_part(self.state.last_run, self.recorded),
            "Service": service_part(self.state.service_status),
        }
        for title, (kind, text, tooltip) in values.items():
            button = self.parts[title]
            button.description = f"{MARKS[kind]} {text}"
            button.button_style = STYLES[kind]
            button.tooltip = f"{tooltip} — click to open the {title} tab"
