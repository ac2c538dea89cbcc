"""Run: mode selector, Benchmark all modes, RUN / CANCEL, progress, Run logs, the result summary
and the Benchmark results (table and bar chart, read from benchmark.json)."""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

import ipywidgets as widgets

from ..core.benchmark import load_table
from ..core.install import check_install
from ..core.modes import ALL_MODES, Mode
from ..core.requests import RunRequest
from ..core.run import RunControl, RunResult
from ..core.snippets import make_snippet
from .common import Context, LogView, Message, SnippetView, error_text
from .state import last_run_of, read_plan_stamp

logger = logging.getLogger(__name__)


class RunTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Run one mode, or benchmark every mode the settings allow."""

    def __init__(self, context: Context) -> None:
        self.context = context
        settings_mode = context.settings().cluster.mode
        self.mode = widgets.Dropdown(
            options=[(mode.label, int(mode)) for mode in ALL_MODES], value=int(settings_mode), description="mode"
        )
        self.benchmark = widgets.Checkbox(value=False, description="Benchmark all modes", indent=False)
        self.run = widgets.Button(description="RUN", icon="play", button_style="success")
        self.cancel = widgets.Button(description="CANCEL", icon="stop", button_style="danger", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="20em"))
        self.progress_text = widgets.Label()
        self.why = Message()
        self.outcome = Message()
        self.summary = widgets.HTML()
        self.logs = LogView("Run logs")
        self.snippet = SnippetView(context)
        self.table = widgets.HTML()
        self.chart_box = widgets.Box()
        self.control: RunControl | None = None
        self.result: RunResult | None = None
        self.benchmark_table: dict[str, Any] | None = None
        self.request = RunRequest()
        for control in (self.mode, self.benchmark):
            control.observe(lambda _: self.refresh(), names="value")
        self.run.on_click(lambda _: self.start())
        self.cancel.on_click(lambda _: self.stop())
        context.state.observe(lambda _: self.refresh(), names=["install", "settings_digest"])
        self.refresh()
        self.show_benchmark(load_table(context.env))
        super().__init__(
            [
                widgets.HBox([self.mode, self.benchmark]),
                self.snippet,
                widgets.HBox([self.run, self.cancel, self.progress, self.progress_text]),
                self.why,
                self.outcome,
                self.summary,
                self.logs,
                widgets.HTML("<b>Benchmark results</b>"),
                self.table,
                self.chart_box,
            ]
        )

    # ----- request, snippet and the install gate -------------------------------------------------
    def refresh(self) -> None:
        benchmark = self.benchmark.value
        self.request = RunRequest(benchmark=True) if benchmark else RunRequest(mode=Mode(self.mode.value))
        self.snippet.show(make_snippet(self.context.env, "benchmark" if benchmark else "run", self.request))
        self.mode.disabled = benchmark
        try:
            check_install(self.context.env, Mode(0) if benchmark else Mode(self.mode.value))
        except Exception as error:  # shown as the reason RUN is disabled
            logger.debug("RUN disabled for mode %s", self.mode.value, exc_info=True)
            self.run.disabled = True
            self.run.tooltip = error_text(error)
            self.why.show(f"RUN is disabled: {error_text(error)}", "warn")
            return
        if not self.context.actions.busy("run"):
            self.run.disabled = False
        self.run.tooltip = ""
        self.why.clear()

    # ----- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        from ..core.engine import AGI

        if self.context.actions.busy("run"):
            return  # a second click while running: the running run keeps its controls
        request = self.request
        self.control = RunControl()
        self.logs.clear()
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
            controls=[self.run, self.mode, self.benchmark],
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

    def _done(self, value: Any) -> None:
        self.cancel.disabled = True
        self.logs.flush()
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
            self.outcome.show(f"benchmark of {len(value['rows'])} modes done", "ok")
        self.show_benchmark(load_table(self.context.env))
        self.refresh()
        state = self.context.state
        with state.hold_trait_notifications():  # observers see the run and the plan it used together
            state.last_run = last_run_of(value)
            state.saved_plan = read_plan_stamp(self.context.env)  # a stale plan was rebuilt by this run

    def _failed(self, error: BaseException) -> None:
        self.cancel.disabled = True
        self.logs.flush()
        if self.control is not None and self.control.cancelled:
            if self.control.confirmed is not None:  # else the cancelling thread reports when it knows
                self._cancelled(self.control.confirmed)
        else:
            self.outcome.show(f"run failed: {error_text(error)}", "error")
        self.refresh()
        self.context.state.saved_plan = read_plan_stamp(self.context.env)  # planning may have come before the failure

    # ----- benchmark results ------------------------------------------------------------------------
    def show_benchmark(self, table: dict[str, Any] | None) -> None:
        self.benchmark_table = table
        if not table or not table.get("rows"):
            self.table.value = "<i>no benchmark yet: tick Benchmark all modes and RUN</i>"
            return
        cells = []
        for row in table["rows"]:
            seconds = "failed" if row["seconds"] is None else f"{row['seconds']:.3f}"
            fastest = ' style="font-weight:bold; background:#dafbe1"' if row.get("order") == 1 else ""
            delta = "" if row.get("delta") is None else f"{row['delta']:.3f}"
            percent = "" if row.get("delta_percent") is None else f"{row['delta_percent']:.1f} %"
            note = html.escape(row.get("error", "")) or ("single run" if row.get("single_run") else "")
            cells.append(
                f"<tr{fastest}><td>{row['mode']}</td><td>{html.escape(row['label'])}</td><td>{seconds}</td>"
                f"<td>{row.get('order') or ''}</td><td>{delta}</td><td>{percent}</td><td>{note}</td></tr>"
            )
        self.table.value = (
            "<table><tr><th>mode</th><th>label</th><th>seconds</th><th>order</th><th>delta</th>"
            "<th>delta %</th><th></th></tr>" + "".join(cells) + "</table>"
        )
        self.chart_box.children = [benchmark_chart(table["rows"])]


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
    return bq.Figure(marks=[bars], axes=axes, title=title, layout=widgets.Layout(width="36em", height="18em"))
