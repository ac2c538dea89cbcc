"""Data: LOAD DATA previews the app's newest output in place; EXPORT writes chosen columns to CSV.

The tab is a view over :mod:`agi_jupyter.core.data`: the same functions a cell would call.
The preview survives re-running the cell that shows the Orchestrator: the tab remembers the
file it last loaded for the app (per kernel), and a fresh tab previews it, or the newest
output, at once without a click (a preview reads only the first rows). A RUN of the same
Orchestrator that wrote files (the shared state's ``last_run``) loads the newest output the same way.

EXPORT writes only inside the app's export dir and never onto an app output; it replaces an
existing export only when the "overwrite" box is ticked. Each refusal shows inline at once,
before anything is read or written.
"""

from __future__ import annotations

import html
import logging
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..core.data import DataError, ExportResult, Preview, export, export_target, newest_output, preview
from .common import Context, Message, error_text
from .state import LastRun

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 10

_last_loaded: dict[str, Path] = {}
"""app folder -> the output file its Data tab last loaded, so a re-created tab shows it again."""
_cache_lock = threading.Lock()


class DataTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Preview the newest output of the app and export a selection of its columns."""

    def __init__(self, context: Context, rows: int = PREVIEW_ROWS) -> None:
        self.context = context
        self.rows = rows
        self.current: Preview | None = None
        self.load = widgets.Button(
            description="LOAD DATA",
            icon="table",
            button_style="primary",
            tooltip="preview the newest output file of the app",
        )
        self.load.on_click(lambda _: self.start_load())
        self.summary = widgets.HTML()
        self.dtypes = widgets.HTML()
        self.preview = widgets.HTML()
        self.columns = widgets.SelectMultiple(options=[], rows=8, description="columns")
        self.select_all = widgets.Checkbox(value=False, description="Select all", indent=False)
        self.select_all.observe(self._select_all_changed, names="value")
        self.columns.observe(self._columns_changed, names="value")
        self.target = widgets.Text(
            value=str(context.env.export_path),
            description="export to",
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
            description="EXPORT", icon="file-export", tooltip="write the selected columns to the target CSV file"
        )
        self.export.on_click(lambda _: self.start_export())
        self.message = Message()
        self.last_export: ExportResult | None = None
        self._syncing = False
        self._restore()
        context.state.observe(self._ran, names="last_run")
        super().__init__(
            [
                widgets.HBox([self.load]),
                self.summary,
                self.dtypes,
                self.preview,
                widgets.HTML("<b>Prepare data for export</b>"),
                widgets.HBox([self.columns, self.select_all]),
                self.target,
                widgets.HBox([self.export, self.overwrite]),
                self.message,
            ]
        )

    # ----- loading ----------------------------------------------------------------------------
    def _restore(self) -> None:
        """Show the last loaded (or newest) output right away: the preview outlives the widget."""
        with _cache_lock:
            path = _last_loaded.get(self._key())
        try:
            if path is None or not path.is_file():
                path = newest_output(self.context.env)
            if path is not None:
                self._show(preview(path, self.rows))
        except Exception as error:  # noqa: BLE001 - a broken file must not break the widget
            logger.debug("cannot restore the preview of %s", self._key(), exc_info=True)
            self.message.show(error_text(error), "warn")

    def _ran(self, change: dict[str, Any]) -> None:
        """A RUN that wrote files is previewed at once, as a fresh tab would show it."""
        run: LastRun | None = change["new"]
        if run is not None and run.outputs:
            self.start_load()

    def _key(self) -> str:
        return str(self.context.env.app_path)

    def start_load(self) -> bool:
        """LOAD DATA in the background; False when a load is already running."""
        env, rows = self.context.env, self.rows
        self.message.show("looking for the newest output...")

        def load() -> Preview:
            path = newest_output(env, required=True)
            assert path is not None  # required=True raises DataError instead of returning None
            return preview(path, rows)

        return self.context.actions.start(
            "load-data",
            load,
            on_done=self._loaded,
            on_error=lambda error: self.message.show(error_text(error), "error"),
            controls=[self.load],
        )

    def _loaded(self, loaded: Preview) -> None:
        with _cache_lock:
            _last_loaded[self._key()] = loaded.path
        self._show(loaded)
        self.message.show(f"loaded {loaded.path.name}: {loaded.shape[0]} rows, {loaded.shape[1]} columns", "ok")

    def _show(self, loaded: Preview) -> None:
        self.current = loaded
        rows, width = loaded.shape
        self.summary.value = (
            f"<b>{html.escape(str(loaded.path))}</b><br>{rows} rows × {width} columns, "
            f"modified {loaded.modified:%Y-%m-%d %H:%M:%S}"
        )
        self.dtypes.value = (
            "<small>"
            + ", ".join(
                f"<code>{html.escape(name)}</code>: {html.escape(kind)}" for name, kind in loaded.dtypes.items()
            )
            + "</small>"
        )
        self.preview.value = (
            '<div style="overflow:auto; max-height:24em">'
            + loaded.head.to_html(max_rows=self.rows, escape=True, index=False, border=0, classes="agi-data-preview")
            + f"</div><small>first {min(self.rows, rows)} of {rows} rows</small>"
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
            target = export_target(self.target.value, env, overwrite=overwrite, source=self.current.path)
        except DataError as error:
            self.message.show(f"not exported: {error}", "error")
            return False
        source = self.current.path
        self.message.show(f"exporting {len(columns)} column(s) to {target}...")
        return self.context.actions.start(
            "export-data",
            lambda: export(source, columns, target, env, overwrite=overwrite),
            on_done=self._exported,
            on_error=lambda error: self.message.show(f"not exported: {error_text(error)}", "error"),
            controls=[self.export],
        )

    def _exported(self, result: ExportResult) -> None:
        self.last_export = result
        self.message.show(f"wrote {result.rows} rows, {len(result.columns)} columns to {result.path}", "ok")
