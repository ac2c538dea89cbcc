"""Service: START / STATUS / HEALTH gate / STOP of the persistent worker loops, and SUBMIT.

Every button builds a :class:`~agi_jupyter.core.requests.ServeRequest` from the fields, shows
its snippet, and hands that very object to ``AGI.serve``: what the snippet says is what ran
(``last_request``). The HEALTH gate thresholds are ``[cluster.service_health]`` in
app_settings.toml, saved as they change and validated first, so a value the gate would reject
is never written. The last snapshot and verdict stay on the tab as plain attributes.

SUBMIT is off, with the reason beside it, until a service runs (the shared state's
``service_status``): tasks queued without loops would only wait. Under the health table, the
operator summary (:func:`~agi_jupyter.core.service.operator.operator_summary`: late and missing
heartbeats, oldest pending task, tasks per minute, restarts) follows every action; EXPORT writes
it with the health snapshot to ``operator.json`` beside ``health.json``.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import ipywidgets as widgets
from pydantic import ValidationError

from ..core.errors import AgiError, SettingsError
from ..core.requests import ServeRequest, SubmitRequest, resolve
from ..core.service.health import GateResult, gate
from ..core.service.operator import OperatorSnapshot, OperatorSummary, operator_summary, write_operator_snapshot
from ..core.settings import ServiceHealthSettings, save_settings
from ..core.snippets import make_snippet
from .common import Context, LogView, Message, SnippetView, error_text, wrap_row

logger = logging.getLogger(__name__)

ACTION = "service"  # one name for every button: a second click while any of them runs is refused
EXPORT_ACTION = "service-export"
SERVING = ("running", "degraded", "error", "unknown")
"""Statuses with loops to take submitted tasks (``unknown``: another process runs them; ``error``:
the loops are down, and the next STATUS restarts them)."""
COLUMNS = ("worker", "healthy", "reason", "future_state", "heartbeat_state", "heartbeat_age_sec")
REQUEST_FIELDS = {  # ServeRequest field -> label; kinds and defaults come from the model itself
    "heartbeat_timeout": "heartbeat timeout (s)",
    "done_ttl_hours": "done TTL (h)",
    "failed_ttl_hours": "failed TTL (h)",
    "heartbeat_ttl_hours": "heartbeat TTL (h)",
    "done_max_files": "done max files",
    "failed_max_files": "failed max files",
    "heartbeat_max_files": "heartbeat max files",
}
FIELD_TOOLTIPS = {
    "heartbeat_timeout": "seconds without a heartbeat after which a loop counts as unhealthy",
    "done_ttl_hours": "hours a finished task's file is kept in done/",
    "failed_ttl_hours": "hours a failed task's file is kept in failed/",
    "heartbeat_ttl_hours": "hours an old heartbeat file is kept",
    "done_max_files": "most task files kept in done/ (the oldest go first)",
    "failed_max_files": "most task files kept in failed/ (the oldest go first)",
    "heartbeat_max_files": "most heartbeat files kept (the oldest go first)",
}
_STYLE = {"description_width": "12em"}


class ServiceTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Run, watch and gate service mode for one app."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.payload: dict[str, Any] | None = None
        self.verdict: GateResult | None = None
        self.last_request: ServeRequest | SubmitRequest | None = None
        self.operator: OperatorSummary | None = None
        self.exported: OperatorSnapshot | None = None
        self.task_ids: list[str] = []
        self.started: list[str] = []  # actions accepted by the runner, in order (refused clicks are not)
        self.fields: dict[str, widgets.ValueWidget] = {}
        for name, label in REQUEST_FIELDS.items():
            default = ServeRequest.model_fields[name].default
            kind = widgets.IntText if isinstance(default, int) else widgets.FloatText
            self.fields[name] = kind(value=default, description=label, tooltip=FIELD_TOOLTIPS[name], style=_STYLE)
        self.settings_message = Message()
        saved = self._saved_thresholds()
        self.allow_idle = widgets.Checkbox(
            value=saved.allow_idle,
            description="allow idle",
            tooltip="the HEALTH gate passes a service with no loop running",
            style=_STYLE,
        )
        self.max_unhealthy = widgets.IntText(
            value=saved.max_unhealthy,
            description="max unhealthy",
            tooltip="the most unhealthy loops the HEALTH gate passes",
            style=_STYLE,
        )
        self.max_restart_rate = widgets.FloatText(
            value=saved.max_restart_rate,
            description="max restart rate",
            tooltip="the highest share of restarted loops (0 to 1) the HEALTH gate passes",
            style=_STYLE,
        )
        self._resetting = False
        for name, control in self.thresholds_controls().items():
            control.observe(lambda change, name=name: self._threshold_changed(name, change), names="value")
        self.buttons = {
            action: widgets.Button(description=label, icon=icon, tooltip=tooltip)
            for action, label, icon, tooltip in (
                ("start", "START", "play", "start one service loop per Dask worker slot"),
                ("status", "STATUS", "sync", "check every loop, restart the unhealthy ones, write health.json"),
                ("health", "HEALTH gate", "heartbeat", "check the loops, then judge the snapshot by the gate"),
                ("stop", "STOP", "stop", "stop the loops (the task in hand finishes first)"),
                ("submit", "SUBMIT", "paper-plane", SUBMIT_TOOLTIP),
            )
        }
        for action, button in self.buttons.items():
            button.on_click(lambda _, action=action: self.run(action))
        self.start, self.status, self.health, self.stop, self.submit = self.buttons.values()
        self.snippet = SnippetView(context)
        self.message = Message()
        self.verdict_view = Message()
        self.submit_note = Message()
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        self.operator_view = widgets.HTML()
        self.export = widgets.Button(
            description="EXPORT",
            icon="file-export",
            tooltip="write the operator summary and the health snapshot to operator.json beside health.json",
        )
        self.export.on_click(lambda _: self.export_operator())
        self.export_message = Message()
        self.logs = LogView("Service logs")  # not ``log``: that is the widget's logger trait
        self._show_request_snippet("status")
        context.state.observe(lambda change: self._sync_submit(), names="service_status")
        self._restore()
        self._sync_submit()
        super().__init__(
            [
                widgets.HTML("<b>Service</b> (persistent worker loops; tasks queue as files)"),
                wrap_row([widgets.VBox(list(self.fields.values())[:4]), widgets.VBox(list(self.fields.values())[4:])]),
                widgets.HTML("<b>HEALTH gate</b> <small>([cluster.service_health], saved as you change it)</small>"),
                wrap_row([self.allow_idle, self.max_unhealthy, self.max_restart_rate]),
                self.settings_message,
                self.snippet,
                wrap_row([*self.buttons.values(), self.submit_note]),
                self.message,
                self.verdict_view,
                self.summary,
                self.table,
                widgets.HTML("<b>Operator summary</b>"),
                self.operator_view,
                wrap_row([self.export, self.export_message]),
                self.logs,
            ]
        )

    # ----- the gate's thresholds --------------------------------------------------------------
    def thresholds_controls(self) -> dict[str, widgets.ValueWidget]:
        return {
            "allow_idle": self.allow_idle,
            "max_unhealthy": self.max_unhealthy,
            "max_restart_rate": self.max_restart_rate,
        }

    def _saved_thresholds(self) -> ServiceHealthSettings:
        try:
            return self.context.settings().cluster.service_health
        except SettingsError as error:
            self.settings_message.show(f"{error}; showing the defaults", "error")
            return ServiceHealthSettings()

    def thresholds(self) -> ServiceHealthSettings:
        """The thresholds as the fields show them (always valid: invalid edits are reverted)."""
        return ServiceHealthSettings(
            allow_idle=bool(self.allow_idle.value),
            max_unhealthy=int(self.max_unhealthy.value),
            max_restart_rate=float(self.max_restart_rate.value),
        )

    def _threshold_changed(self, name: str, change: dict[str, Any]) -> None:
        if self._resetting:
            return
        try:
            valid = ServiceHealthSettings(**{**self._saved_thresholds().model_dump(), name: change["new"]})
            save_settings(self.context.env.settings_path, {f"cluster.service_health.{name}": getattr(valid, name)})
        except (ValidationError, SettingsError) as error:
            reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
            self._resetting = True
            try:
                self.thresholds_controls()[name].value = change["old"]
            finally:
                self._resetting = False
            self.settings_message.show(
                f"{name} = {change['new']!r} not saved: {reason}; kept {change['old']!r}", "error"
            )
            return
        self.settings_message.show(f"saved {name} = {getattr(valid, name)!r} to app_settings.toml", "ok")
        self.context.settings_saved()

    # ----- actions ----------------------------------------------------------------------------
    def request(self, action: str) -> ServeRequest:
        """The ServeRequest the fields describe; AgiError naming the bad field when one is invalid."""
        values = {name: control.value for name, control in self.fields.items()}
        try:
            # resolved: the snippet writes out the workers and arguments the loops start with
            return resolve(self.context.env, ServeRequest(action=action, **values))
        except ValidationError as error:
            problems = "; ".join(
                f"{REQUEST_FIELDS.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in error.errors()
            )
            raise AgiError(f"not run: {problems}") from None

    def _show_request_snippet(self, action: str) -> None:
        try:
            self.snippet.show(make_snippet(self.context.env, "serve", self.request(action)))
        except AgiError as error:
            self.message.show(error_text(error), "error")

    def run(self, action: str) -> bool:
        """Run one button's action in the background; False when refused (busy or invalid fields)."""
        from ..core.engine import AGI

        env = self.context.env
        request: ServeRequest | SubmitRequest
        work: Callable[[], Coroutine[Any, Any, list[str] | dict[str, Any]]]  # task ids, or the health snapshot
        try:
            if action == "submit":
                blocked = submit_blocked(self.context.state.service_status)
                if blocked:
                    raise AgiError(f"SUBMIT not started: {blocked}")
                submit = request = resolve(env, SubmitRequest())
                snippet = make_snippet(env, "submit", submit)
                work = lambda: AGI.submit(env, submit, on_line=self.logs.append)  # noqa: E731
            else:
                serve = request = self.request(action)
                snippet = make_snippet(env, "serve", serve)
                work = lambda: AGI.serve(env, serve, on_line=self.logs.append)  # noqa: E731
        except AgiError as error:
            self.message.show(error_text(error), "error")
            return False
        if self.context.actions.busy(ACTION):
            self.message.show(f"{action.upper()} not started: another service action is still running", "warn")
            return False
        self.message.show(f"{action.upper()}...")
        if not self.context.actions.start(
            ACTION,
            work,
            on_done=lambda value: self._done(action, value),
            on_error=self._failed,
            controls=list(self.buttons.values()),
        ):
            self.message.show(f"{action.upper()} not started: another service action is still running", "warn")
            return False
        self.started.append(action)
        self.last_request = request
        self.snippet.show(snippet)
        self.logs.expand()
        return True

    def _failed(self, error: BaseException) -> None:
        self.logs.flush()
        self.message.show(error_text(error), "error")
        self._sync_submit()  # the runner gave every button back

    def _done(self, action: str, value: Any) -> None:
        self.logs.flush()
        self._sync_submit()
        if action == "submit":
            self.task_ids = list(value)
            self.message.show(f"queued {len(value)} task(s); STATUS shows the queue", "ok")
            self.show_operator(None)
            return
        self.payload = value
        if action == "health":
            self.verdict = gate(value, self.thresholds())
            verdict = self.verdict
            if verdict.passed:
                self.verdict_view.show(f"PASS: {verdict.reason}", "ok")
            else:
                self.verdict_view.show(f"FAIL code {verdict.code}: {verdict.reason}", "error")
        self.message.show(f"{action.upper()} done: service is {value.get('status')}", "ok")
        self.show_payload(value)
        self.show_operator(value)
        self.context.state.service_status = str(value.get("status") or "unknown")

    def _restore(self) -> None:
        """Re-running the cell shows the last snapshot, re-judged by today's heartbeats (no Dask needed).

        ``payload`` stays None: it is what an action of this tab returned.
        """
        if not (self.context.env.service_dir / "health.json").is_file():
            return
        try:
            from ..core.service import read_health

            snapshot = read_health(self.context.env)
            self.show_payload(snapshot)
            self.show_operator(snapshot)
            self.context.state.service_status = str(snapshot.get("status") or "unknown")
        except (AgiError, OSError, KeyError, ValueError) as error:
            self.message.show(f"last health snapshot unreadable: {error_text(error)}", "warn")

    # ----- SUBMIT only with loops to take the tasks --------------------------------------------------
    def _sync_submit(self) -> None:
        """SUBMIT follows the service status: off, with the reason beside it, while no service runs.

        Called when the status changes and after every action (the runner turns every button back
        on when an action ends, before its callback).
        """
        status = self.context.state.service_status
        blocked = submit_blocked(status)
        self.submit.disabled = bool(blocked)
        self.submit.tooltip = f"SUBMIT is off: {blocked}" if blocked else SUBMIT_TOOLTIP
        if blocked:
            self.submit_note.show(blocked, "warn")
        elif status == "error":
            self.submit_note.show("no loop is healthy: tasks wait in pending/ until STATUS restarts one", "warn")
        else:
            self.submit_note.clear()

    # ----- the operator summary ---------------------------------------------------------------------
    def show_operator(self, payload: dict[str, Any] | None) -> None:
        """The operator summary of the snapshot ``payload`` (None: the recorded one), computed by the engine."""
        try:
            summary = operator_summary(self.context.env, payload)
        except (AgiError, OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
            logger.debug("no operator summary for %s", self.context.env.app, exc_info=True)
            self.operator_view.value = f"<i>no operator summary: {html.escape(error_text(error))}</i>"
            return
        self.operator = summary
        self.operator_view.value = operator_html(summary)

    def export_operator(self) -> bool:
        """EXPORT in the background: operator.json (summary + health snapshot) beside health.json."""
        env = self.context.env
        self.export_message.show("writing the operator snapshot...")
        return self.context.actions.start(
            EXPORT_ACTION,
            lambda: write_operator_snapshot(env),
            on_done=self._exported,
            on_error=lambda error: self.export_message.show(f"not exported: {error_text(error)}", "error"),
            controls=[self.export],
        )

    def _exported(self, record: OperatorSnapshot) -> None:
        self.exported = record
        self.operator = record.summary
        self.operator_view.value = operator_html(record.summary)
        self.export_message.show(f"wrote {record.path} (from a cell: write_operator_snapshot(env))", "ok")

    # ----- the snapshot -------------------------------------------------------------------------
    def show_payload(self, payload: dict[str, Any]) -> None:
        """Status, queue counts, restarts and the per-worker health table of a snapshot."""
        queue = payload.get("queue", {})
        restarts = payload.get("restart_reasons") or {}
        lines = [
            f"status <b>{html.escape(str(payload.get('status')))}</b>; workers healthy "
            f"{payload.get('workers_healthy_count', 0)}, unhealthy {payload.get('workers_unhealthy_count', 0)}, "
            f"restarted {payload.get('workers_restarted_count', 0)}",
            "queue: " + ", ".join(f"{name} {queue.get(name, 0)}" for name in ("pending", "running", "done", "failed")),
        ]
        if restarts:
            lines.append(
                "restarted: "
                + ", ".join(f"{html.escape(worker)} ({html.escape(reason)})" for worker, reason in restarts.items())
            )
        if payload.get("path"):
            lines.append(f"snapshot: <code>{html.escape(str(payload['path']))}</code>")
        self.summary.value = "<br>".join(lines)
        self.table.value = health_table(payload.get("worker_health") or [])


SUBMIT_TOOLTIP = "queue one task per plan chunk for the running loops"
UNHEALTHY_ROW = ' class="agi-unhealthy" style="background:color-mix(in srgb, var(--jp-error-color1) 20%, transparent)"'


def submit_blocked(status: str) -> str:
    """Why SUBMIT is off while the service has this status; ``""`` when it is on."""
    if status in SERVING:
        return ""
    if status == "stopped":
        return "the service is stopped: START it, then SUBMIT"
    return "no service is running: START it first (tasks need a loop to do them)"


def operator_html(summary: OperatorSummary) -> str:
    """The summary's sentences, one per line; what needs a look (late, missing, restarted) marked ⚠, in red."""
    alarming = {
        0: summary.late_heartbeat_count,
        1: summary.missing_heartbeat_count,
        4: summary.restart_count,
    }
    lines = []
    for number, line in enumerate(summary.lines()):
        text = html.escape(line)
        lines.append(f'<span style="color:var(--jp-error-color1)">⚠ {text}</span>' if alarming.get(number) else text)
    return "<br>".join(lines)


def health_table(rows: list[dict[str, Any]]) -> str:
    """The worker rows as an HTML table; unhealthy rows carry ``agi-unhealthy`` and a red tint (their
    ``healthy`` cell says False: the tint is not the only sign)."""
    if not rows:
        return "<i>no worker loops</i>"
    head = "".join(f"<th>{name}</th>" for name in COLUMNS)
    body = []
    for row in rows:
        marked = UNHEALTHY_ROW if not row.get("healthy") else ""
        cells = "".join(
            f"<td>{html.escape('' if row.get(name) is None else str(row.get(name)))}</td>" for name in COLUMNS
        )
        body.append(f"<tr{marked}>{cells}</tr>")
    return f'<table class="agi-health"><tr>{head}</tr>{"".join(body)}</table>'
