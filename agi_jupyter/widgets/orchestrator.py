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
        app picker over the apps path.
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
            options=names,
            description="app",
            tooltip="the app to show: its settings, install, plan, runs, service and data",
            value=self._initial(app, names),
            layout=widgets.Layout(width="24em", max_width="100%"),
        )
        self.picker.observe(lambda change: self.show_app(change["new"]), names="value")
        self.tabs = widgets.Tab()
        self.status = widgets.Box()  # the status line of the app shown (see show_app)
        self.context: Context | None = None
        super().__init__([wrap_row([self.picker, self.message]), self.status, self.tabs])
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
