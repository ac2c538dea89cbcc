"""Run: mode selector, Benchmark (of chosen modes), RUN / CANCEL, progress, Run logs, the result
summary, the Benchmark results (table, token legend and bar chart, from benchmark.json) and the
benchmark history (seconds per mode over the last benchmarks, from benchmark_history.json).

The mode follows the Settings tab's mode toggles (``settings_digest``) until the user picks
another one: that choice is an override, said as such, kept across settings changes, and
"follow the settings" drops it. The modes to benchmark default to every mode the settings allow
(the request then leaves ``modes`` out, as the engine's default); choosing a subset puts
``modes=[...]`` in the request, so in the snippet too.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

import ipywidgets as widgets

from ..core.benchmark import TOKEN_LETTERS, BenchmarkHistory, load_table, read_history
from ..core.errors import AgiError
from ..core.install import check_install
from ..core.modes import ALL_MODES, Capabilities, Mode, available_modes
from ..core.requests import RunRequest, resolve
from ..core.run import RunControl, RunResult
from ..core.snippets import make_snippet
from .common import Context, LogView, Message, SnippetView, error_text, wrap_row
from .state import last_run_of, read_plan_stamp

logger = logging.getLogger(__name__)

RUN_TOOLTIP = "run the plan in the chosen mode, or benchmark the chosen modes (the code above)"


class RunTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Run one mode, or benchmark the chosen modes (by default every mode the settings allow)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.capabilities = Capabilities.detect()
        self.settings_mode = self._read_settings_mode() or Mode.PYTHON
        self.override: Mode | None = None  # the user's pick when it differs from the settings' mode
        self.chosen: list[Mode] | None = None  # modes to benchmark; None: every mode the settings allow
        self._syncing = False  # set while the tab itself moves a control, so that is not taken as a pick
        self.mode = widgets.Dropdown(
            options=[(mode.label, int(mode)) for mode in ALL_MODES],
            value=int(self.settings_mode),
            description="mode",
            tooltip="the mode RUN uses: the Settings tab's mode until you pick another one here",
        )
        self.follow = widgets.Button(
            description="follow the settings",
            icon="undo",
            tooltip="drop the mode picked here: RUN uses the Settings tab's mode again, and follows its changes",
        )
        self.mode_note = Message()
        self.benchmark = widgets.Checkbox(
            value=False,
            description="Benchmark",
            indent=False,
            tooltip="run each chosen mode on the same plan, rank them in benchmark.json and add them to the history",
        )
        self.benchmark_modes = widgets.SelectMultiple(
            description="modes",
            rows=4,
            tooltip="the modes to benchmark (ctrl/shift-click for several); "
            "default: every mode the settings allow that this machine can run",
        )
        self.all_modes = widgets.Button(
            description="all allowed",
            icon="check-square",
            tooltip="benchmark every mode the settings allow again (and follow the settings' changes)",
        )
        self.run = widgets.Button(description="RUN", icon="play", button_style="success", tooltip=RUN_TOOLTIP)
        self.cancel = widgets.Button(
            description="CANCEL",
            icon="stop",
            button_style="danger",
            disabled=True,
            tooltip="stop the running run, on every worker, and say whether the stop was confirmed",
        )
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="20em"))
        self.progress_text = widgets.Label()
        self.why = Message()
        self.outcome = Message()
        self.summary = widgets.HTML()
        self.logs = LogView("Run logs")
        self.snippet = SnippetView(context)
        self.table = widgets.HTML()
        self.legend = widgets.HTML()
        self.chart_box = widgets.Box()
        self.history_note = Message()
        self.history_table = widgets.HTML()
        self.history_box = widgets.Box()
        self.control: RunControl | None = None
        self.result: RunResult | None = None
        self.benchmark_table: dict[str, Any] | None = None
        self.history: BenchmarkHistory | None = None
        self.request = RunRequest()
        self._logs_before: set[str] = set()
        self._update_benchmark_modes()
        self.mode.observe(self._mode_picked, names="value")
        self.benchmark_modes.observe(self._modes_picked, names="value")
        self.benchmark.observe(lambda _: self.refresh(), names="value")
        self.follow.on_click(lambda _: self.follow_settings())
        self.all_modes.on_click(lambda _: self.benchmark_allowed())
        self.run.on_click(lambda _: self.start())
        self.cancel.on_click(lambda _: self.stop())
        context.state.observe(lambda _: self.refresh(), names="install")
        context.state.observe(lambda _: self.settings_changed(), names="settings_digest")
        self.benchmark_row = wrap_row([self.benchmark_modes, self.all_modes])
        self.history_section = widgets.VBox(
            [widgets.HTML("<b>Benchmark history</b>"), self.history_note, self.history_box, self.history_table]
        )
        self.history_section.add_class("agi-benchmark-history")
        self.refresh()
        self.show_benchmark(load_table(context.env))
        self.show_history()
        super().__init__(
            [
                wrap_row([self.mode, self.follow, self.benchmark]),
                self.mode_note,
                self.benchmark_row,
                self.snippet,
                wrap_row([self.run, self.cancel, self.progress, self.progress_text]),
                self.why,
                self.outcome,
                self.summary,
                self.logs,
                widgets.HTML("<b>Benchmark results</b>"),
                self.table,
                self.legend,
                self.chart_box,
                self.history_section,
            ]
        )

    # ----- the mode: the settings' one, or the user's override ------------------------------------
    def _read_settings_mode(self) -> Mode | None:
        try:
            return self.context.settings().cluster.mode
        except Exception:  # malformed settings: the Settings tab says why; keep the mode we had
            logger.debug("no settings mode for %s", self.context.env.app, exc_info=True)
            return None

    def _set_quietly(self, control: widgets.Widget, **values: Any) -> None:
        self._syncing = True
        try:
            for name, value in values.items():
                setattr(control, name, value)
        finally:
            self._syncing = False

    def _mode_picked(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            picked = Mode(change["new"])
            self.override = None if picked == self.settings_mode else picked
        self.refresh()

    def follow_settings(self) -> None:
        """Drop the override: RUN uses the settings' mode, now and after each settings change."""
        self.override = None
        self._set_quietly(self.mode, value=int(self.settings_mode))
        self.refresh()

    def settings_changed(self) -> None:
        """The settings were saved: follow their mode (unless overridden) and what they allow to benchmark."""
        mode = self._read_settings_mode()
        if mode is not None:  # unreadable settings keep the mode we had (Mode(0) is falsy: no ``or``)
            self.settings_mode = mode
        if self.override is None:
            self._set_quietly(self.mode, value=int(self.settings_mode))
        self._update_benchmark_modes()
        self.refresh()

    # ----- the modes to benchmark -------------------------------------------------------------------
    def allowed(self) -> list[Mode]:
        """Every mode the settings allow that this machine can run (the engine's default for a benchmark)."""
        return available_modes(self.settings_mode, self.capabilities)

    def _update_benchmark_modes(self) -> None:
        allowed = self.allowed()
        chosen = allowed if self.chosen is None else [mode for mode in self.chosen if mode in allowed]
        self._set_quietly(
            self.benchmark_modes,
            options=[(f"{mode.label} ({mode.token})", int(mode)) for mode in allowed],
            value=tuple(int(mode) for mode in chosen),
        )

    def _modes_picked(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            picked = sorted(Mode(value) for value in change["new"])
            self.chosen = None if picked == self.allowed() else picked
        self.refresh()

    def benchmark_allowed(self) -> None:
        """Benchmark every mode the settings allow again (the default)."""
        self.chosen = None
        self._update_benchmark_modes()
        self.refresh()

    def _show_choices(self) -> None:
        settings = f"{int(self.settings_mode)} ({self.settings_mode.label.split(': ', 1)[1]})"
        if self.override is None:
            self.mode_note.show(f"follows the settings' mode {settings}")
        else:
            self.mode_note.show(f"mode {self.override.label} overrides the settings' mode {settings}", "warn")
        self.follow.layout.display = "" if self.override is not None and not self.benchmark.value else "none"
        self.benchmark_row.layout.display = "" if self.benchmark.value else "none"

    # ----- request, snippet and the install gate -------------------------------------------------
    def refresh(self) -> None:
        benchmark = self.benchmark.value
        if benchmark:
            self.request = (
                RunRequest(benchmark=True) if self.chosen is None else RunRequest(benchmark=True, modes=self.chosen)
            )
        else:
            self.request = RunRequest(mode=Mode(self.mode.value))
        self.request = resolve(self.context.env, self.request)  # what runs, literally: mode, workers, args
        self.snippet.show(make_snippet(self.context.env, "benchmark" if benchmark else "run", self.request))
        self.mode.disabled = benchmark
        self._show_choices()
        try:
            if benchmark and not self.benchmark_modes.value:
                raise AgiError("choose at least one mode to benchmark")
            check_install(self.context.env, Mode(0) if benchmark else Mode(self.mode.value))
        except Exception as error:  # shown as the reason RUN is disabled
            logger.debug("RUN disabled for mode %s", self.mode.value, exc_info=True)
            self.run.disabled = True
            self.run.tooltip = error_text(error)
            self.why.show(f"RUN is disabled: {error_text(error)}", "warn")
            return
        if not self.context.actions.busy("run"):
            self.run.disabled = False
        self.run.tooltip = RUN_TOOLTIP
        self.why.clear()

    # ----- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        from ..core.engine import AGI

        if self.context.actions.busy("run"):
            return  # a second click while running: the running run keeps its controls
        request = self.request
        self.control = RunControl()
        self.logs.clear()
        self.logs.show_files([])
        self._logs_before = set(self._run_logs())
        self.logs.expand()
        self.progress.value, self.progress.max = 0, 1
        self.progress_text.value = ""
        self.outcome.show("running...")
        self.cancel.disabled = False

        def progress(done: int, total: int) -> None:
            self.progress.max = max(total, 1)
            self.progress.value = min(done, self.progress.max)
            self.progress_text.value = f"{done}/{total} chunks"

        started = self.context.actions.start(
            "run",
            lambda: AGI.run(
                self.context.env, request, on_line=self.logs.append, on_progress=progress, control=self.control
            ),
            on_done=self._done,
            on_error=self._failed,
            controls=[self.run, self.mode, self.follow, self.benchmark, self.benchmark_modes, self.all_modes],
        )
        if not started:
            self.cancel.disabled = True

    def stop(self) -> None:
        control = self.control
        if control is None:
            return
        self.outcome.show("cancelling...")
        threading.Thread(target=lambda: self._cancelled(control.cancel()), daemon=True).start()

    def _cancelled(self, confirmed: bool | None) -> None:
        self.outcome.show(
            "cancelled: everything the run started is stopped"
            if confirmed
            else "cancel requested, but the stop could not be confirmed (see the Dask dashboard)",
            "warn",
        )

    def _run_logs(self) -> list[str]:
        """The ``run_*.log`` files in the app's log folder (each RUN, and each mode of a benchmark, writes one)."""
        return sorted(str(path) for path in self.context.env.log_dir.glob("run_*.log"))

    def _show_log_files(self, result: RunResult | None = None) -> None:
        """Name the log files of the run that ended: the result's own, else the ones that appeared since it began."""
        if result is not None and result.log:
            self.logs.show_files([result.log])
        else:
            self.logs.show_files([path for path in self._run_logs() if path not in self._logs_before])

    def _done(self, value: Any) -> None:
        self.cancel.disabled = True
        self.logs.flush()
        self._show_log_files(value if isinstance(value, RunResult) else None)
        if isinstance(value, RunResult):
            self.result = value
            self.outcome.show(f"mode {value.label} done in {value.seconds:.2f} s", "ok")
            per_worker = ", ".join(f"{name}: {seconds:.2f} s" for name, seconds in value.worker_seconds.items())
            self.summary.value = (
                f"<b>{html.escape(value.label)}</b> ({value.token}) — {value.seconds:.3f} s, "
                f"{value.chunks} chunks, {len(value.outputs)} output files<br>"
                f"per worker: {html.escape(per_worker)}<br><i>{html.escape(value.plan)}</i>"
            )
        else:
            self.outcome.show("benchmark done: see the Benchmark results and history below", "ok")
        self.show_benchmark(load_table(self.context.env))
        self.show_history()
        self.refresh()
        state = self.context.state
        with state.hold_trait_notifications():  # observers see the run and the plan it used together
            state.last_run = last_run_of(value)
            state.saved_plan = read_plan_stamp(self.context.env)  # a stale plan was rebuilt by this run

    def _failed(self, error: BaseException) -> None:
        self.cancel.disabled = True
        self.logs.flush()
        self._show_log_files()
        if self.control is not None and self.control.cancelled:
            if self.control.confirmed is not None:  # else the cancelling thread reports when it knows
                self._cancelled(self.control.confirmed)
        else:
            self.outcome.show(f"run failed: {error_text(error)}", "error")
        self.refresh()
        self.context.state.saved_plan = read_plan_stamp(self.context.env)  # planning may have come before the failure

    # ----- benchmark results and history ----------------------------------------------------------
    def show_benchmark(self, table: dict[str, Any] | None) -> None:
        self.benchmark_table = table
        if not table or not table.get("rows"):
            self.table.value = "<i>no benchmark yet: tick Benchmark and RUN</i>"
            self.legend.value = ""
            return
        cells = []
        for row in table["rows"]:
            seconds = "failed" if row["seconds"] is None else f"{row['seconds']:.3f}"
            fastest = (
                ' style="font-weight:bold; background:color-mix(in srgb, var(--jp-success-color1) 22%, transparent)"'
                if row.get("order") == 1
                else ""
            )
            delta = "" if row.get("delta") is None else f"{row['delta']:.3f}"
            percent = "" if row.get("delta_percent") is None else f"{row['delta_percent']:.1f} %"
            note = html.escape(row.get("error", "")) or ("single run" if row.get("single_run") else "")
            cells.append(
                f"<tr{fastest}><td>{row['mode']}</td><td><code>{html.escape(row['token'])}</code></td>"
                f"<td>{html.escape(row['label'])}</td><td>{seconds}</td>"
                f"<td>{row.get('order') or ''}</td><td>{delta}</td><td>{percent}</td>"
                f"<td>{html.escape(when_text(row.get('when', '')))}</td><td>{html.escape(ran_on(row))}</td>"
                f"<td>{note}</td></tr>"
            )
        self.table.value = (
            f"<i>updated {html.escape(when_text(table.get('updated', '')))} by {html.escape(table.get('host', ''))}"
            f" (python {html.escape(table.get('python', ''))})</i>"
            "<table><tr><th>mode</th><th>token</th><th>label</th><th>seconds</th><th>order</th><th>delta</th>"
            "<th>delta %</th><th>date</th><th>ran on</th><th></th></tr>" + "".join(cells) + "</table>"
        )
        self.legend.value = token_legend(sorted({Mode(row["mode"]) for row in table["rows"]}))
        self.chart_box.children = [benchmark_chart(table["rows"])]

    def show_history(self) -> None:
        """The benchmark history as a chart of seconds per mode, and a table of when and where each ran."""
        try:
            history = read_history(self.context.env)
        except AgiError as error:
            self.history = None
            self.history_note.show(error_text(error), "error")
            self.history_box.children, self.history_table.value = [], ""
            return
        self.history = history
        if history is None or not history.entries:
            self.history_note.show("no benchmark history yet: each benchmark adds an entry")
            self.history_box.children, self.history_table.value = [], ""
            return
        self.history_note.show(
            f"the last {len(history.entries)} benchmark(s), from {self.context.env.benchmark_history_path}"
        )
        self.history_box.children = [history_chart(history)]
        self.history_table.value = history_rows(history)


def when_text(moment: str) -> str:
    """``2026-11-28T01:15:02+0000`` as ``2026-11-28 01:15:02``."""
    return moment[:19].replace("T", " ")


def ran_on(row: dict[str, Any]) -> str:
    """Where a row's mode ran: locally or on the cluster, on how many nodes, from which host."""
    nodes = row.get("nodes") or 0
    where = row.get("variant", "")
    if nodes:
        where += f", {nodes} node{'s' if nodes != 1 else ''}"
    return f"{where} ({row['where']})" if row.get("where") else where


def token_legend(modes: list[Mode]) -> str:
    """What the tokens mean: each letter, then each token of ``modes`` with its label."""
    letters = "; ".join(f"<code>{letter}</code> {html.escape(meaning)}" for letter, meaning in TOKEN_LETTERS)
    tokens = ", ".join(f"<code>{mode.token}</code> = {html.escape(mode.label)}" for mode in modes)
    return (
        '<div style="font-size:90%; color:var(--jp-ui-font-color2)">'
        "tokens list the mode bits in <code>rdcp</code> order: "
        f"{letters}.<br>here: {tokens}</div>"
    )


def history_rows(history: BenchmarkHistory) -> str:
    """One line per benchmark of the history: its number on the chart, date, host and fastest mode."""
    lines = []
    for number, entry in enumerate(history.entries, start=1):
        fastest = next((row for row in entry.rows if row.order == 1), None)
        best = f"{fastest.token} in {fastest.seconds:.3f} s" if fastest and fastest.seconds is not None else "none"
        places = sorted({ran_on({"variant": row.variant, "nodes": row.nodes}) for row in entry.rows})
        lines.append(
            f"<tr><td>#{number}</td><td>{html.escape(when_text(entry.when))}</td><td>{html.escape(entry.host)}</td>"
            f"<td>{html.escape('; '.join(places))}</td>"
            f"<td>{' '.join(Mode(mode).token for mode in entry.modes)}</td><td>{html.escape(best)}</td></tr>"
        )
    return (
        '<table style="font-size:90%"><tr><th></th><th>date</th><th>host</th><th>ran on</th><th>modes</th>'
        "<th>fastest</th></tr>" + "".join(lines) + "</table>"
    )


def history_chart(history: BenchmarkHistory) -> widgets.Widget:
    """Seconds per mode across the history: one line per mode (its token), benchmark numbers across."""
    import bqplot as bq

    x_scale, y_scale = bq.LinearScale(), bq.LinearScale(min=0)
    marks = []
    for index, (mode, points) in enumerate(history.series().items()):
        marks.append(
            bq.Lines(
                x=[number for number, _ in points],
                y=[seconds for _, seconds in points],
                scales={"x": x_scale, "y": y_scale},
                colors=[bq.CATEGORY10[index % len(bq.CATEGORY10)]],
                labels=[f"{Mode(mode).token} ({mode})"],
                display_legend=True,
                marker="circle",
                tooltip=bq.Tooltip(fields=["x", "y"], labels=["benchmark", "seconds"]),
            )
        )
    numbers = sorted({number for points in history.series().values() for number, _ in points})
    axes = [  # a tick per benchmark (fractional ticks would repeat the numbers)
        bq.Axis(scale=x_scale, label="benchmark (see the table below)", tick_format="d", tick_values=numbers),
        bq.Axis(scale=y_scale, side="left", label="seconds"),
    ]
    return bq.Figure(
        marks=marks,
        axes=axes,
        title=f"seconds per mode over the last {len(history.entries)} benchmark(s)",
        legend_location="top-right",
        fig_margin={"top": 50, "bottom": 50, "left": 60, "right": 20},
        layout=widgets.Layout(width="36em", max_width="100%", height="20em"),
    )


def benchmark_chart(rows: list[dict[str, Any]]) -> widgets.Widget:
    """Bars of seconds per mode, the fastest in green."""
    import bqplot as bq

    done = [row for row in rows if row["seconds"] is not None]
    x_scale, y_scale = bq.OrdinalScale(), bq.LinearScale(min=0)
    bars = bq.Bars(
        x=[row["token"] for row in done],
        y=[row["seconds"] for row in done],
        scales={"x": x_scale, "y": y_scale},
        colors=["#2da44e" if row.get("order") == 1 else "#8c959f" for row in done],
        color_mode="element",
        tooltip=bq.Tooltip(fields=["x", "y"], labels=["mode", "seconds"]),
    )
    axes = [bq.Axis(scale=x_scale, label="mode"), bq.Axis(scale=y_scale, side="left", label="seconds")]
    fastest = next((row for row in done if row.get("order") == 1), None)
    title = f"fastest: {fastest['label']} ({fastest['seconds']:.3f} s)" if fastest else ""
    return bq.Figure(
        marks=[bars],
        axes=axes,
        title=title,
        fig_margin={"top": 50, "bottom": 50, "left": 60, "right": 20},
        layout=widgets.Layout(width="36em", max_width="100%", height="20em"),
    )
