"""Install: the install snippet, INSTALL, live Install logs, elapsed time and outcome."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import ipywidgets as widgets

from ..core.install import InstallRecord
from ..core.requests import InstallRequest, resolve
from ..core.snippets import make_snippet
from .common import Context, LogView, Message, SnippetView, error_text, wrap_row
from .state import read_install_state

logger = logging.getLogger(__name__)


class InstallTab(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Provision the worker environment for the modes the settings enable."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.snippet = SnippetView(context)
        self.button = widgets.Button(
            description="INSTALL",
            icon="download",
            button_style="primary",
            tooltip="build the worker environment for the modes the settings enable (the code above)",
        )
        self.button.on_click(lambda _: self.start())
        self.elapsed = widgets.Label()
        self.outcome = Message()
        self.logs = LogView("Install logs")
        self.record: InstallRecord | None = InstallRecord.load(context.env)
        self.request = InstallRequest()
        context.state.observe(lambda _: self.refresh(), names="settings_digest")
        self.refresh()
        state = context.state.install
        self.outcome.show(state.reason, "ok" if state.installed else "warn")
        super().__init__([self.snippet, wrap_row([self.button, self.elapsed]), self.outcome, self.logs])

    def refresh(self) -> None:
        """The request of the settings toggles, resolved (it says the modes it installs); show its snippet."""
        self.request = resolve(self.context.env, InstallRequest())
        self.snippet.show(make_snippet(self.context.env, "install", self.request))

    def start(self) -> None:
        from ..core.engine import AGI

        request = self.request
        self.logs.clear()
        self.logs.expand()
        started = time.monotonic()
        running = threading.Event()
        running.set()
        self.outcome.show("installing...")

        def tick() -> None:
            while running.is_set():
                self.elapsed.value = f"{time.monotonic() - started:.0f} s"
                time.sleep(0.5)

        def done(record: InstallRecord) -> None:
            running.clear()
            self.record = record
            self.logs.flush()
            self.elapsed.value = f"{time.monotonic() - started:.1f} s"
            self.outcome.show(f"installed in {record.seconds:.2f} s; log: {record.log}", "ok")
            self.context.state.install = read_install_state(self.context.env)  # the Run tab re-gates RUN

        def failed(error: BaseException) -> None:
            running.clear()
            self.logs.flush()
            self.outcome.show(
                f"install failed: {error_text(error)} (the previous install, if any, stays usable)", "error"
            )

        if self.context.actions.start(
            "install",
            lambda: AGI.install(self.context.env, request, on_line=self.logs.append),
            on_done=done,
            on_error=failed,
            controls=[self.button],
        ):
            threading.Thread(target=tick, daemon=True).start()

    @property
    def last_request(self) -> Any:
        return self.request
