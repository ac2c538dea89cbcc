"""Settings: mode toggles with the live mode hint, scheduler, workers editor, verbosity, DIAGNOSE.

Each valid change is written to ``app_settings.toml`` at once (only that key, formatting kept);
an invalid host, slot count or scheduler address is shown next to the field and never saved.

The verbosity slider (``[cluster] verbose``) also sets the level of the ``agi_jupyter`` logger,
here when it moves and in the Orchestrator when it shows an app: 0 -> WARNING, 1 -> INFO,
2 and 3 -> DEBUG (3 also makes the app's workers print their most detailed lines). Only the
level changes; lines the user reads keep flowing through the tabs' log views.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

import ipywidgets as widgets

from ..core.errors import SettingsError
from ..core.logs import apply_verbosity
from ..core.modes import Capabilities, mode_hint
from ..core.settings import check_host, check_slots, save_settings, split_address
from .common import Context, Message, error_text

logger = logging.getLogger(__name__)

TOGGLES = (("pool", "pool"), ("cython", "cython"), ("rapids", "rapids"), ("cluster_enabled", "Dask"))


class WorkerRow(widgets.HBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    def __init__(self, host: str, slots: int, on_change: Any, on_remove: Any) -> None:
        self.host = widgets.Text(
            value=host, placeholder="host or IP", continuous_update=False, layout=widgets.Layout(width="16em")
        )
        self.slots = widgets.BoundedIntText(value=slots, min=0, max=4096, layout=widgets.Layout(width="7em"))
        self.remove = widgets.Button(icon="trash", tooltip="remove this host", layout=widgets.Layout(width="3em"))
        self.error = Message()
        self.host.observe(lambda _: on_change(), names="value")
        self.slots.observe(lambda _: on_change(), names="value")
        self.remove.on_click(lambda _: on_remove(self))
        super().__init__([self.host, widgets.Label("slots"), self.slots, self.remove, self.error])


class SettingsTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """The ``[cluster]`` settings of one app."""

    def __init__(self, context: Context) -> None:
        self.context = context
        cluster = context.settings().cluster
        self.capabilities = Capabilities.detect()
        self.toggles = {
            key: widgets.ToggleButton(value=getattr(cluster, key), description=label) for key, label in TOGGLES
        }
        for key, toggle in self.toggles.items():
            toggle.observe(lambda change, key=key: self._save({f"cluster.{key}": change["new"]}), names="value")
        self.hint = widgets.HTML()
        self.scheduler = widgets.Text(
            value=cluster.scheduler or "", description="scheduler", continuous_update=False, placeholder="host:port"
        )
        self.scheduler.observe(lambda change: self._scheduler(change["new"]), names="value")
        self.scheduler_error = Message()
        self.rows: list[WorkerRow] = []
        self.rows_box = widgets.VBox()
        for host, slots in cluster.workers.items():
            self._add_row(host, slots)
        self.add = widgets.Button(description="add host", icon="plus")
        self.add.on_click(lambda _: self._add_row("", 1))
        self.workers_error = Message()
        self.verbose = widgets.IntSlider(value=cluster.verbose, min=0, max=3, description="verbosity")
        self.verbose.observe(lambda change: self._verbosity(change["new"]), names="value")
        self.client = widgets.HTML("<i>Dask client: checking...</i>")
        self.diagnose = widgets.Button(description="DIAGNOSE", icon="stethoscope")
        self.diagnose.on_click(lambda _: self._diagnose())
        self.checks = widgets.HTML()
        self.message = Message()
        self._update_hint()
        threading.Thread(target=self._describe_client, daemon=True).start()
        super().__init__(
            [
                widgets.HTML("<b>Modes</b>"),
                widgets.HBox(list(self.toggles.values())),
                self.hint,
                widgets.HTML("<b>Dask</b>"),
                widgets.HBox([self.scheduler, self.scheduler_error]),
                self.client,
                widgets.HTML("<b>Workers</b> (host -> slots)"),
                self.rows_box,
                widgets.HBox([self.add, self.workers_error]),
                self.verbose,
                self.message,
                widgets.HBox([self.diagnose]),
                self.checks,
            ]
        )

    # ----- saving ---------------------------------------------------------------------------
    def _save(self, changes: dict[Any, Any]) -> bool:
        try:
            save_settings(self.context.env.settings_path, changes)
        except SettingsError as error:
            self.message.show(str(error), "error")
            return False
        self.message.show("saved to app_settings.toml", "ok")
        self._update_hint()
        self.context.settings_saved()
        return True

    def _verbosity(self, verbose: int) -> None:
        if self._save({"cluster.verbose": verbose}):
            apply_verbosity(verbose)

    def _update_hint(self) -> None:
        mode = self.context.settings().cluster.mode
        self.hint.value = f"<i>{html.escape(mode_hint(mode, self.capabilities))}</i>"

    def _scheduler(self, value: str) -> None:
        self.scheduler_error.clear()
        try:
            if value.strip():
                split_address(value)
        except ValueError as error:
            self.scheduler_error.show(f"not saved: {error}", "error")
            return
        self._save({"cluster.scheduler": value.strip()} if value.strip() else {"cluster.scheduler": ""})

    # ----- workers ----------------------------------------------------------------------------
    def _add_row(self, host: str, slots: int) -> None:
        row = WorkerRow(host, slots, self._workers_changed, self._remove_row)
        self.rows.append(row)
        self.rows_box.children = [*self.rows_box.children, row]

    def _remove_row(self, row: WorkerRow) -> None:
        self.rows.remove(row)
        self.rows_box.children = [child for child in self.rows_box.children if child is not row]
        self._workers_changed()

    def workers_value(self) -> dict[str, int] | None:
        """The editor's hosts and slots, or None (with row errors shown) when any row is invalid."""
        workers: dict[str, int] = {}
        valid = True
        for row in self.rows:
            row.error.clear()
            host = row.host.value.strip()
            try:
                check_host(host)
                if host in workers:
                    raise ValueError(f"{host!r} is listed twice")
                check_slots(host, row.slots.value)
            except ValueError as error:
                row.error.show(str(error), "error")
                valid = False
                continue
            workers[host] = row.slots.value
        return workers if valid else None

    def _workers_changed(self) -> None:
        self.workers_error.clear()
        workers = self.workers_value()
        if workers is None:
            self.workers_error.show("not saved: fix the marked rows", "error")
        elif not workers:
            self.workers_error.show("not saved: at least one host is needed", "error")
        else:
            self._save({"cluster.workers": workers})

    # ----- client and doctor ------------------------------------------------------------------
    def _describe_client(self) -> None:
        try:
            from distributed.client import default_client

            client = default_client()
            self.client.value = (
                f"Dask client: the kernel's own, at {html.escape(client.scheduler.address)} "
                f'(<a href="{client.dashboard_link}" target="_blank">dashboard</a>)'
            )
        except (ValueError, ImportError):
            from ..core.cluster import running_local

            handle = running_local()
            link = handle.dashboard_link if handle else None
            self.client.value = (
                f'Dask client: the local cluster the engine started (<a href="{link}" target="_blank">dashboard</a>)'
                if link
                else "Dask client: the scheduler above if it answers, else a local cluster "
                "started on 127.0.0.1 at the first Dask action"
            )

    def _diagnose(self) -> None:
        from ..core.doctor import run_checks

        self.checks.value = "<i>checking...</i>"
        self.context.actions.start(
            "diagnose",
            lambda: run_checks(self.context.env),
            on_done=self._show_checks,
            on_error=lambda error: self.message.show(error_text(error), "error"),
            controls=[self.diagnose],
        )

    def _show_checks(self, checks: list[Any]) -> None:
        self.last_checks = checks
        rows = "".join(
            f"<tr><td>{'✔' if check.ok else '✘'}</td><td>{html.escape(check.name)}</td>"
            f"<td>{html.escape(check.detail)}</td><td>{html.escape(check.fix)}</td></tr>"
            for check in checks
        )
        self.checks.value = f"<table><tr><th></th><th>check</th><th>detail</th><th>what to do</th></tr>{rows}</table>"
