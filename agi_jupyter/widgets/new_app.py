"""The "New app..." form of the Orchestrator's app picker: a name, a template, CREATE and CANCEL.

CREATE calls the public :func:`agi_jupyter.new_app` (what ``agi-jupyter new`` runs) and hands
the new folder to ``on_created``; CANCEL hands control back with ``on_cancel``. Errors (a bad
name, an existing folder) stay in the form's message line, so the user can correct them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import ipywidgets as widgets

from ..core.errors import AgiError
from .common import Message, wrap_row

logger = logging.getLogger(__name__)

NEW_APP = "New app…"
"""The picker's entry that opens the form (no app folder can have this name: they end in _project)."""


class NewAppForm(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Create an app from a template under ``apps_path``.

    Parameters
    ----------
    apps_path:
        Where the app goes (``None``: ``AGI_APPS_PATH``, as for ``agi-jupyter new``).
    on_created:
        Called with the new app folder after a successful CREATE.
    on_cancel:
        Called when the user gives up (CANCEL).
    """

    def __init__(
        self,
        apps_path: str | os.PathLike[str] | None,
        on_created: Callable[[Path], None],
        on_cancel: Callable[[], None],
    ) -> None:
        from ..core.scaffold import TEMPLATES

        self.apps_path = apps_path
        self.on_created = on_created
        self.on_cancel = on_cancel
        self.app_name = widgets.Text(
            description="name",
            placeholder="e.g. sales_report",
            tooltip="the new app's name: lower-case letters, digits and _ (its folder is <name>_project)",
            layout=widgets.Layout(width="24em", max_width="100%"),
        )
        self.template = widgets.Dropdown(
            options=[(f"{t.name}: {t.description}", t.name) for t in TEMPLATES.values()],
            value="pandas",
            description="template",
            tooltip="what the new app starts from; each one runs as it is and says where to edit in its README",
            layout=widgets.Layout(width="48em", max_width="100%"),
        )
        self.create = widgets.Button(
            description="CREATE",
            icon="plus",
            button_style="primary",
            tooltip="create the app folder (settings, arguments, manager, worker, test, README) and show it",
        )
        self.cancel = widgets.Button(
            description="CANCEL", icon="times", tooltip="close this form and go back to the app shown before"
        )
        self.message = Message()
        self.create.on_click(lambda _: self.submit())
        self.cancel.on_click(lambda _: self.on_cancel())
        title = widgets.HTML("<b>New app</b>")
        super().__init__([title, self.app_name, self.template, wrap_row([self.create, self.cancel]), self.message])
        self.add_class("agi-new-app")

    def reset(self) -> None:
        """An empty form, as when it is opened."""
        self.app_name.value = ""
        self.message.clear()

    def submit(self) -> Path | None:
        """Create the app; the message line says what went wrong, if anything."""
        from .. import new_app

        try:
            folder = new_app(self.app_name.value, self.template.value, self.apps_path)
        except (AgiError, OSError) as error:
            logger.debug("creating %r failed", self.app_name.value, exc_info=True)
            self.message.show(str(error), "error")
            return None
        self.message.show(f"created {folder}", "ok")
        self.on_created(folder)
        return folder
