"""Data: LOAD DATA reads every output file of the last run (or of a chosen one); EXPORT writes chosen columns to CSV.

The tab is a view over :mod:`agi_jupyter.core.data` (loading, export) and
:mod:`agi_jupyter.core.outputs` (which files each run wrote): the same functions a cell would call
(``load_run(env, run, limit=...)``, ``export(frame, columns, target, env)``). A run's files are
concatenated, with a ``source_file`` column naming each row's file, up to the row limit; a note
says when the limit applies. The "run" list holds the runs whose outputs are still there,
newest first; choosing one loads it.

The loaded data survives re-running the cell that shows the Orchestrator: the tab remembers
what it last loaded for the app (per kernel) and a fresh tab shows it at once; without one, it
loads the latest run in the background. A RUN of the same Orchestrator that wrote files (the
shared state's ``last_run``) loads the latest run the same way.

EXPORT writes only inside the app's export dir and never onto an app output; it replaces an
existing export only when the "overwrite" box is ticked. Each refusal shows inline at once,
before anything is read or written.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

import ipywidgets as widgets

from ..core.data import ROW_LIMIT, ExportResult, LoadedRun, export, export_target, load_run
from ..core.outputs import DataError, OutputRun, list_runs
from .common import Context, Message, error_text, wrap_row
from .state import LastRun

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 10
LATEST = ""  # the run list's first entry: whichever run is the latest when LOAD DATA reads

_last_loaded: dict[str, LoadedRun] = {}
"""app folder -> what its Data tab last loaded, so a re-created tab shows it again without reading."""
_cache_lock = threading.Lock()


class DataTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Load every output file of a run of the app and export a selection of its columns."""

    def __init__(self, context: Context, rows: int = PREVIEW_ROWS, limit: int = ROW_LIMIT) -> None:
        self.context = context
        self.rows = rows
        self.current: LoadedRun | None = None
        self.runs: list[OutputRun] = []
        self.load = widgets.Button(
            description="LOAD DATA",
            icon="table",
            button_style="primary",
            tooltip="read every output file of the chosen run (the latest by default), up to the row limit",
        )
        self.load.on_click(lambda _: self.start_load())
        self.run_choice = widgets.Dropdown(
            options=[("latest run", LATEST)],
            value=LATEST,
            description="run",
            tooltip="the run whose output files to load: the latest, or an earlier one still on disk",
            layout=widgets.Layout(width="36em", max_width="100%"),
        )
        self.run_choice.observe(self._run_chosen, names="value")
        self.limit = widgets.BoundedIntText(
            value=limit,
            min=0,
            max=100_000_000,
            description="row limit",
            tooltip="load at most this many rows of the run (0: every row)",
            layout=widgets.Layout(width="14em"),
        )
        self.limit_note = Message()
        self.summary = widgets.HTML()
        self.dtypes = widgets.HTML()
        self.preview = widgets.HTML()
        self.columns = widgets.SelectMultiple(options=[], rows=8, description="columns")
        self.columns.tooltip = "the columns EXPORT writes"
        self.select_all = widgets.Checkbox(
            value=False, description="Select all", indent=False, tooltip="select every column for EXPORT"
        )
        self.select_all.observe(self._select_all_changed, names="value")
        self.columns.observe(self._columns_changed, names="value")
        self.target = widgets.Text(
            value=str(context.env.export_path),
            description="export to",
            tooltip="the CSV file EXPORT writes, inside the app's export folder",
            continuous_update=False,
            layout=widgets.Layout(width="100%"),
        )
        self.overwrite = widgets.Checkbox(
            value=False,
            description="overwrite an existing export",
            indent=False,
            tooltip="replace the target file if it already exists",
        )
        self.export = widgets.Button(
            description="EXPORT",
            icon="file-export",
            tooltip="write the selected columns of the loaded rows to the target CSV file",
        )
        self.export.on_click(lambda _: self.start_export())
        self.message = Message()
        self.last_export: ExportResult | None = None
        self._syncing = False
        self._restore()
        context.state.observe(self._ran, names="last_run")
        super().__init__(
            [
                wrap_row([self.load, self.run_choice, self.limit]),
                self.limit_note,
                self.summary,
                self.dtypes,
                self.preview,
                widgets.HTML("<b>Prepare data for export</b>"),
                wrap_row([self.columns, self.select_all]),
                self.target,
                wrap_row([self.export, self.overwrite]),
                self.message,
            ]
        )

    # ----- loading ----------------------------------------------------------------------------
    def _restore(self) -> None:
        """Show what this app's tab last loaded right away; without it, load the latest run in the background."""
        with _cache_lock:
            loaded = _last_loaded.get(self._key())
        if loaded is not None and all(item.path.is_file() for item in loaded.run.files):
            self._show_runs([loaded.run])
            self._show(loaded)
            return
        try:
            runs = list_runs(self.context.env)
        except Exception as error:  # noqa: BLE001 - unreadable args or folders must not break the widget
            logger.debug("cannot list the runs of %s", self._key(), exc_info=True)
            self.message.show(error_text(error), "warn")
            return
        self._show_runs(runs)
        if runs:
            self.start_load(quiet=True)

    def _ran(self, change: dict[str, Any]) -> None:
        """A RUN that wrote files is loaded at once (its latest run), as a fresh tab would show it."""
        run: LastRun | None = change["new"]
        if run is not None and run.outputs:
            self._choose(LATEST)
            self.start_load()

    def _run_chosen(self, change: dict[str, Any]) -> None:
        if not self._syncing:
            self.start_load()

    def _choose(self, key: str) -> None:
        self._syncing = True
        try:
            self.run_choice.value = key
        finally:
            self._syncing = False

    def _key(self) -> str:
        return str(self.context.env.app_path)

    def start_load(self, quiet: bool = False) -> bool:
        """LOAD DATA in the background (the chosen run, up to the row limit); False when one is already running."""
        env = self.context.env
        key = self.run_choice.value or None
        limit = int(self.limit.value) or None
        if not quiet:
            self.message.show(
                "reading the output files of the " + ("latest run..." if key is None else "chosen run...")
            )

        def load() -> tuple[LoadedRun, list[OutputRun]]:
            runs = list_runs(env)
            return load_run(env, key, limit=limit), runs

        return self.context.actions.start(
            "load-data",
            load,
            on_done=self._loaded,
            on_error=lambda error: self.message.show(error_text(error), "error"),
            controls=[self.load, self.run_choice],
        )

    def _loaded(self, value: tuple[LoadedRun, list[OutputRun]]) -> None:
        loaded, runs = value
        with _cache_lock:
            _last_loaded[self._key()] = loaded
        self._show_runs(runs)
        self._show(loaded)
        files = len(loaded.run.files)
        text = f"loaded {files} file{'s' if files != 1 else ''}: {loaded.shape[0]:,} rows, {loaded.shape[1]} columns"
        if loaded.skipped:
            names = ", ".join(path.name for path, _ in loaded.skipped)
            self.message.show(f"{text}; skipped {len(loaded.skipped)} unreadable file(s): {names}", "warn")
        else:
            self.message.show(text, "ok")

    def _show_runs(self, runs: list[OutputRun]) -> None:
        """The run list: "latest run", then each run still on disk, newest first (the choice kept if still there)."""
        self.runs = list(runs)
        options = [("latest run", LATEST)] + [(run.label, run.key) for run in runs]
        chosen = self.run_choice.value if any(key == self.run_choice.value for _, key in options) else LATEST
        self._syncing = True
        try:
            self.run_choice.options = options
            self.run_choice.value = chosen
        finally:
            self._syncing = False

    def _show(self, loaded: LoadedRun) -> None:
        self.current = loaded
        rows, width = loaded.shape
        files = len(loaded.run.files)
        self.summary.value = (
            f"<b>{html.escape(loaded.run.label)}</b><br>{files} file{'s' if files != 1 else ''} in "
            f"<code>{html.escape(str(loaded.folder))}</code>: {loaded.total_rows:,} rows; loaded {rows:,} × "
            f"{width} columns; last written {loaded.modified:%Y-%m-%d %H:%M:%S}"
        )
        if loaded.note:
            self.limit_note.show(loaded.note + ": raise the row limit (0 for all) and LOAD DATA to see more", "warn")
        else:
            self.limit_note.clear()
        self.dtypes.value = (
            "<small>"
            + ", ".join(
                f"<code>{html.escape(name)}</code>: {html.escape(kind)}" for name, kind in loaded.dtypes.items()
            )
            + "</small>"
        )
        self.preview.value = (
            '<div style="overflow:auto; max-height:24em">'
            + loaded.frame.head(self.rows).to_html(
                max_rows=self.rows, escape=True, index=False, border=0, classes="agi-data-preview"
            )
            + f"</div><small>first {min(self.rows, rows):,} of {rows:,} loaded rows</small>"
        )
        kept = [column for column in self.columns.value if column in loaded.dtypes]
        self._syncing = True
        try:
            self.columns.options = loaded.columns
            self.columns.value = tuple(loaded.columns) if self.select_all.value else tuple(kept)
        finally:
            self._syncing = False

    # ----- column selection -------------------------------------------------------------------------
    def _select_all_changed(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            self.columns.value = tuple(self.columns.options) if change["new"] else ()
        finally:
            self._syncing = False

    def _columns_changed(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:  # the box follows the selection: ticked exactly when every column is chosen
            self.select_all.value = bool(self.columns.options) and len(change["new"]) == len(self.columns.options)
        finally:
            self._syncing = False

    # ----- export -----------------------------------------------------------------------------------
    def start_export(self) -> bool:
        """Check the selection and target at once (inline error, nothing written), then export."""
        env = self.context.env
        columns = list(self.columns.value)
        overwrite = bool(self.overwrite.value)
        if self.current is None:
            self.message.show("nothing loaded: LOAD DATA first (RUN the app if it has no output yet)", "error")
            return False
        try:
            if not columns:
                raise DataError("no columns selected: choose at least one column to export (or Select all)")
            target = export_target(self.target.value, env, overwrite=overwrite)
        except DataError as error:
            self.message.show(f"not exported: {error}", "error")
            return False
        loaded = self.current
        self.message.show(f"exporting {len(columns)} column(s) to {target}...")
        return self.context.actions.start(
            "export-data",
            lambda: export(loaded.frame, columns, target, env, overwrite=overwrite),
            on_done=self._exported,
            on_error=lambda error: self.message.show(f"not exported: {error_text(error)}", "error"),
            controls=[self.export],
        )

    def _exported(self, result: ExportResult) -> None:
        self.last_export = result
        text = f"wrote {result.rows} rows, {len(result.columns)} columns to {result.path}"
        loaded = self.current
        if loaded is not None and loaded.truncated:  # the export is what was loaded: say the run has more
            text += f" (the loaded rows: the run has {loaded.total_rows:,}; raise the row limit to export them all)"
        self.message.show(text, "ok")
