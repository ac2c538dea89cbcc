"""The Orchestrator: one app's life in six tabs — Settings, Install, Distribute, Run, Service, Data —
under a status line that shows the app at a glance."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ipywidgets as widgets

from ..core.env import AgiEnv, list_apps
from ..core.errors import AgiError
from ..core.logs import apply_verbosity
from .common import Context, Message, error_text, wrap_row
from .new_app import NEW_APP, NewAppForm
from .state import OrchestratorState, read_settings_digest
from .status_line import StatusLine

logger = logging.getLogger(__name__)

TABS = ("Settings", "Install", "Distribute", "Run", "Service", "Data")


class Orchestrator(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Settings, install, distribute, run, serve and export an app from the notebook.

    Every button runs the public ``AGI`` call its snippet shows; "Insert as cell" puts that
    snippet below this cell. Re-creating the Orchestrator in the same kernel reuses the Dask
    client, the warm worker processes and a running service.

    Parameters
    ----------
    app:
        App folder name (``"flight_project"``), target (``"flight"``) or path. ``None`` shows an
        app picker over the apps path. The picker's last entry, "New app…", opens a form that
        creates an app from a template there (as ``agi-jupyter new`` does) and shows it.
    apps_path:
        Folder of apps; ``None`` uses ``AGI_APPS_PATH`` or the bundled examples.
    """

    def __init__(self, app: str | os.PathLike[str] | None = None, apps_path: str | Path | None = None) -> None:
        from ..notebook import current_cell_id

        self.apps_path = apps_path
        self.cell_id = current_cell_id()
        self.message = Message()
        names = list_apps(apps_path)
        self.picker = widgets.Dropdown(
            options=[*names, NEW_APP],
            description="app",
            tooltip=f"the app to show: its settings, install, plan, runs, service and data; {NEW_APP} creates one",
            value=self._initial(app, names),
            layout=widgets.Layout(width="24em", max_width="100%"),
        )
        self.picker.observe(self._picked, names="value")
        self.new_app = NewAppForm(apps_path, on_created=self.app_created, on_cancel=self.close_new_app)
        self.new_app.layout.display = "none"
        self._shown_before: str | None = None  # the picker's value when "New app…" was chosen
        self.tabs = widgets.Tab()
        self.status = widgets.Box()  # the status line of the app shown (see show_app)
        self.context: Context | None = None
        super().__init__([wrap_row([self.picker, self.message]), self.new_app, self.status, self.tabs])
        self.add_class("agi-orchestrator")
        if app is not None and self.picker.value is None:
            self.show_app(app)
        elif self.picker.value:
            self.show_app(self.picker.value)

    @staticmethod
    def _initial(app: str | os.PathLike[str] | None, names: list[str]) -> str | None:
        if app is None:
            return names[0] if names else None
        name = Path(app).name if os.sep in str(app) else str(app)
        name = name if name.endswith("_project") else f"{name}_project"
        return name if name in names else None

    def _picked(self, change: dict[str, str | None]) -> None:
        """A picker choice: "New app…" opens the form; an app closes it and shows that app."""
        chosen = change["new"]
        if chosen == NEW_APP:
            self._shown_before = change["old"]
            self.new_app.reset()
            self.new_app.layout.display = ""
            return
        self.new_app.layout.display = "none"
        if chosen is not None and not (self.env is not None and self.env.app == chosen and self.tabs.children):
            self.show_app(chosen)

    def close_new_app(self) -> None:
        """CANCEL: hide the form, the picker back on the app shown before."""
        self.new_app.layout.display = "none"
        self.picker.value = self._shown_before if self._shown_before in self.picker.options else None

    def app_created(self, folder: Path) -> None:
        """CREATE succeeded: list the new app in the picker and show it."""
        names = list_apps(self.apps_path)
        self.picker.options = [*names, NEW_APP]  # the value, "New app…", is among them: it stays
        if folder.name in names:
            self.picker.value = folder.name
        else:  # made under another apps path (AGI_APPS_PATH changed meanwhile): show it from its folder
            self.new_app.layout.display = "none"
            self.show_app(folder)
        if not self.message.text:  # no error showing the app: say where it is and what to read first
            self.message.show(f"created {folder}: its README.md says how to run it and which file to edit", "ok")

    def show_app(self, app: str | os.PathLike[str]) -> None:
        """Show the tabs of ``app``."""
        try:
            env = AgiEnv(app, apps_path=self.apps_path)
        except AgiError as error:
            self.message.show(str(error), "error")
            return
        self.message.clear()
        self.context = Context(env, self.cell_id)
        try:
            apply_verbosity(self.context.settings().cluster.verbose)
            self.tabs.children = build_tabs(self.context)
        except Exception as error:  # e.g. a malformed app_settings.toml: say which file and line
            logger.debug("the tabs of %s cannot be built", env.app, exc_info=True)
            self.tabs.children = []
            self.message.show(f"{env.app} cannot be shown: {error_text(error)}", "error")
            return
        self.tabs.titles = TABS
        self.status.children = [StatusLine(env, self.context.state, self.open_tab)]
        self.context.state.observe(lambda _: self.report_digest(), names="settings_digest")
        self.report_digest()

    def report_digest(self) -> None:
        """Tell the JupyterLab extension the settings digest, so it marks stale snippet cells."""
        if not self.cell_id or self.context is None:
            return  # not in a notebook: no extension to tell
        from ..notebook import CellInserter

        digest = self.context.state.settings_digest or read_settings_digest(self.context.env)
        CellInserter().report_digest(self.context.env.app, digest)

    @property
    def state(self) -> OrchestratorState | None:
        """What the tabs share (settings digest, install, saved plan, service status, last run), observable by name."""
        return self.context.state if self.context else None

    @property
    def env(self) -> AgiEnv | None:
        return self.context.env if self.context else None

    def open_tab(self, title: str) -> None:
        """Select the tab called ``title`` (the status line's links)."""
        self.tabs.selected_index = TABS.index(title)

    def tab(self, title: str) -> widgets.Widget:
        """The tab called ``title`` (for scripts and tests)."""
        return self.tabs.children[TABS.index(title)]


def build_tabs(context: Context) -> list[widgets.Widget]:
    from .data_tab import DataTab
    from .distribute_tab import DistributeTab
    from .install_tab import InstallTab
    from .run_tab import RunTab
    from .service_tab import ServiceTab
    from .settings_tab import SettingsTab

    return [
        SettingsTab(context),
        InstallTab(context),
        DistributeTab(context),
        RunTab(context),
        ServiceTab(context),
        DataTab(context),
    ]
