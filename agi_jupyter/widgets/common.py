"""Pieces every tab shares: the context (with the observed state), the action runner, the log view and the snippet view.

Tabs are thin views: they build a request object, show its snippet, and on click hand the same
request to the public ``AGI`` API through :class:`Actions`, which runs it in a worker thread so
the notebook stays responsive, refuses a second click while it runs, and reports failures.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import ipywidgets as widgets

from ..core.env import AgiEnv
from ..core.errors import AgiError
from ..core.settings import AppSettings
from .state import OrchestratorState, read_settings_digest

logger = logging.getLogger(__name__)

MAX_LOG_LINES = 400


class Actions:
    """Runs one named action at a time per name, off the kernel's event loop."""

    def __init__(self) -> None:
        self.running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(
        self,
        name: str,
        work: Callable[[], Coroutine[Any, Any, Any] | Any],
        *,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        controls: list[widgets.Widget],
    ) -> bool:
        """Start ``work`` unless ``name`` is already running; False when refused (double click)."""
        with self._lock:
            if name in self.running and self.running[name].is_alive():
                return False
            thread = threading.Thread(
                target=self._run, args=(name, work, on_done, on_error, controls), name=f"agi-{name}", daemon=True
            )
            self.running[name] = thread
        for control in controls:
            control.disabled = True
        thread.start()
        return True

    def _run(
        self,
        name: str,
        work: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        controls: list[widgets.Widget],
    ) -> None:
        try:
            value = work()
            if asyncio.iscoroutine(value):
                value = asyncio.run(value)
        except BaseException as error:  # shown to the user; the controls come back first
            logger.debug("%s failed", name, exc_info=True)
            _enable(controls)
            on_error(error)
            return
        _enable(controls)  # before the callback, so that it may disable what no longer applies
        try:
            on_done(value)
        except BaseException as error:  # a view bug must still be shown
            logger.debug("showing the result of %s failed", name, exc_info=True)
            on_error(error)

    def busy(self, name: str) -> bool:
        thread = self.running.get(name)
        return thread is not None and thread.is_alive()

    def wait(self, timeout: float = 120.0) -> None:
        """Wait for every running action (tests and scripted use)."""
        deadline = time.monotonic() + timeout
        for thread in list(self.running.values()):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise TimeoutError(f"action {thread.name} still running after {timeout} s")


def _enable(controls: list[widgets.Widget]) -> None:
    for control in controls:
        control.disabled = False


class Context:
    """What the tabs of one Orchestrator share: the app, the action runner and the observed state.

    Tabs talk to each other only through ``state`` (an :class:`~.state.OrchestratorState`): a tab
    sets a trait, the tabs that depend on it observe it by name.
    """

    def __init__(self, env: AgiEnv, cell_id: str | None, state: OrchestratorState | None = None) -> None:
        self.env = env
        self.cell_id = cell_id
        self.actions = Actions()
        self.state = state if state is not None else OrchestratorState.read(env)

    def settings(self) -> AppSettings:
        return AppSettings.load(self.env.settings_path)

    def settings_saved(self) -> None:
        """Record a save of app_settings.toml: tabs observing ``settings_digest`` rebuild what depends on it.

        A save that leaves every value as it was keeps the digest, and so notifies nobody.
        """
        self.state.settings_digest = read_settings_digest(self.env)


def wrap_row(children: list[widgets.Widget], **layout: str) -> widgets.HBox:
    """A row of widgets that wraps onto more lines in a narrow notebook instead of overflowing it."""
    return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap", **layout))


def error_text(error: BaseException) -> str:
    """What the user reads: the product's own message, else the exception's type and text."""
    return str(error) if isinstance(error, AgiError) else f"{type(error).__name__}: {error}"


class Message(widgets.HTML):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """A one-line status: neutral, success, warning or error, escaped.

    The kind shows as a mark before the text (✓, ⚠, ✗), not by colour alone, and the colours are
    JupyterLab's theme variables, so the line stays readable in the dark theme. ``text`` is the
    message without its mark.
    """

    def show(self, text: str, kind: str = "info") -> None:
        color, mark = MESSAGE_KINDS[kind]
        self.value = f'<span style="color:{color}; white-space:pre-wrap">{mark}{html.escape(text)}</span>'
        self.text = text
        self.kind = kind

    def clear(self) -> None:
        self.value, self.text, self.kind = "", "", "info"


MESSAGE_KINDS = {  # kind -> (CSS colour, mark before the text)
    "info": ("inherit", ""),
    "ok": ("var(--jp-success-color1)", "✓ "),
    "warn": ("var(--jp-warn-color1)", "⚠ "),
    "error": ("var(--jp-error-color1)", "✗ "),
}


LEVELS = ("info", "warning", "error")
"""Log line levels, least severe first; the log view's filter shows a level and the ones after it."""
LEVEL_CHOICES = (("all lines", "info"), ("warnings and errors", "warning"), ("errors only", "error"))
_ERROR_LINE = re.compile(
    r"^Traceback \(most recent call last\)|\b\w*(Error|Exception)\b|\b(error|errors|failed|fatal|critical)\b",
    re.IGNORECASE,
)
_WARNING_LINE = re.compile(r"\w*Warning\b|\b(warn|warning|warnings|ignored|ignoring|cancelled|cancel)\b", re.IGNORECASE)


def line_level(line: str, previous: str = "info") -> str:
    """The level of a log line: ``"error"``, ``"warning"`` or ``"info"``.

    The engine's lines carry no level of their own (they are the worker's prints and the
    engine's progress sentences), so a line is classified by the words the engine and Python
    use: a traceback, an ``...Error``/``...Exception`` name, "error", "failed", "fatal",
    "critical" make an error ("mode 3: cython and pool failed: ..."); a ``...Warning`` name,
    "warning", "ignored", "cancelled" make a warning ("ignored an event from a Dask worker");
    anything else is info. An indented line (a traceback's frames, a wrapped message) keeps the
    level of the line it continues, ``previous``.
    """
    if line[:1].isspace() and line.strip() and previous != "info":
        return previous
    if _ERROR_LINE.search(line):
        return "error"
    if _WARNING_LINE.search(line):
        return "warning"
    return "info"


def download_link(text: str, file_name: str, label: str) -> str:
    """An ``<a download>`` link whose ``data:`` URL holds ``text``: saved by the browser, no server round trip."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return (
        f'<a download="{html.escape(file_name, quote=True)}" href="data:text/plain;charset=utf-8;base64,{encoded}" '
        f'title="save these lines as {html.escape(file_name, quote=True)}">{html.escape(label)}</a>'
    )


class LogView(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """Bounded log lines, newest visible, updated at most every ``interval`` seconds.

    Tools above the lines: a level filter (see :func:`line_level` for how a line gets its level),
    CLEAR (this view only; log files keep every line), a download link of the lines as a text
    file (regenerated on each refresh, a ``data:`` URL), and the log files the action wrote
    (:meth:`show_files`).
    """

    def __init__(self, title: str, interval: float = 0.25, max_lines: int = MAX_LOG_LINES) -> None:
        self.lines: deque[str] = deque(maxlen=max_lines)
        self.levels: deque[str] = deque(maxlen=max_lines)  # the level of each line, same order
        self.interval = interval
        self.file_name = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_").lower() + ".txt"
        self._pending = False
        self._lock = threading.Lock()
        self.view = widgets.HTML()
        self.level = widgets.Dropdown(
            options=LEVEL_CHOICES,
            value="info",
            description="show",
            tooltip="hide lines below this level (levels are read from the lines' words: error, failed, warning...)",
            layout=widgets.Layout(width="16em"),
        )
        self.clear_button = widgets.Button(
            description="CLEAR", icon="eraser", tooltip="empty this view (the log files keep every line)"
        )
        self.download = widgets.HTML(tooltip="the lines of this view, every level, as a text file")
        self.files = widgets.HTML()
        self.level.observe(lambda _: self.flush(), names="value")
        self.clear_button.on_click(lambda _: self.clear())
        tools = wrap_row([self.level, self.clear_button, self.download], align_items="center")
        self.box = widgets.Accordion(children=[widgets.VBox([tools, self.files, self.view])], titles=(title,))
        self.box.selected_index = None
        super().__init__([self.box])
        self.flush()

    def append(self, line: str) -> None:
        """Add a line (thread-safe); the view refreshes shortly after."""
        with self._lock:
            self.levels.append(line_level(line, self.levels[-1] if self.levels else "info"))
            self.lines.append(line)
            if self._pending:
                return
            self._pending = True
        timer = threading.Timer(self.interval, self.flush)
        timer.daemon = True
        timer.start()

    def shown_lines(self) -> list[str]:
        """The lines the level filter lets through, oldest first."""
        least = LEVELS.index(self.level.value)
        with self._lock:
            return [line for line, level in zip(self.lines, self.levels) if LEVELS.index(level) >= least]

    def flush(self) -> None:
        with self._lock:
            self._pending = False
            every = "\n".join(self.lines)
            count = len(self.lines)
        shown = self.shown_lines()
        hidden = count - len(shown)
        note = (
            f'<div style="color:var(--jp-ui-font-color2)">{hidden} line(s) below the level shown are hidden</div>'
            if hidden
            else ""
        )
        self.view.value = (
            f"{note}"
            '<div style="display:flex; flex-direction:column-reverse; max-height:18em; overflow:auto">'
            f'<pre style="margin:0; font-size:90%">{html.escape(chr(10).join(shown))}</pre></div>'
        )
        self.download.value = download_link(every, self.file_name, f"download ({count} lines)") if count else ""

    def clear(self) -> None:
        with self._lock:
            self.lines.clear()
            self.levels.clear()
        self.flush()

    def show_files(self, paths: list[str]) -> None:
        """Name the log files the action wrote (the whole story, where this view keeps the last lines)."""
        if not paths:
            self.files.value = ""
            return
        label = "log file" if len(paths) == 1 else "log files"
        names = ", ".join(f"<code>{html.escape(path)}</code>" for path in paths)
        self.files.value = f'<span style="font-size:90%">{label}: {names}</span>'

    def expand(self) -> None:
        self.box.selected_index = 0


class SnippetView(widgets.VBox):  # type: ignore[misc]  # ipywidgets is untyped: its classes are Any
    """The code an action runs, with "Insert as cell" (through the JupyterLab extension).

    When no extension answers in time (classic tools, Voilà, a plain Python session), the view
    says so and shows the code in a text area to copy.
    """

    def __init__(self, context: Context, timeout: float = 3.0) -> None:
        self.context = context
        self.timeout = timeout
        self.snippet: Any = None
        self.code = widgets.HTML()
        self.insert = widgets.Button(
            description="Insert as cell",
            icon="plus",
            tooltip="insert this code as a new cell below the Orchestrator's cell",
        )
        self.status = Message()
        self.copy = widgets.Textarea(
            tooltip="the code this action runs: select it and copy it into a cell",
            layout=widgets.Layout(width="100%", height="10em", display="none"),
        )
        self.insert.on_click(lambda _: self.insert_cell())
        super().__init__([self.code, wrap_row([self.insert, self.status]), self.copy])

    def show(self, snippet: Any) -> None:
        """Display a :class:`~agi_jupyter.core.snippets.Snippet`."""
        from ..core.snippets import write_script

        self.snippet = snippet
        self.code.value = f'<pre style="font-size:90%; margin:0.3em 0">{html.escape(snippet.code)}</pre>'
        self.copy.value = snippet.code
        try:
            write_script(self.context.env, snippet)  # AGI_<action>_<target>.py in the app's log folder
        except OSError as error:
            self.status.show(f"could not write the script file: {error}", "warn")

    def insert_cell(self) -> None:
        if self.snippet is None:
            return
        if not self.context.cell_id:
            self._replied({"status": "error", "message": "not running in a notebook cell: copy the code below"})
            return
        from ..notebook import CellInserter

        snippet = self.snippet
        self.status.show("inserting...")
        CellInserter().insert(
            snippet.code,
            self.context.cell_id,
            {"action": snippet.action, "app": snippet.app, "digest": snippet.digest},
            on_reply=self._replied,
            timeout=self.timeout,
        )

    def _replied(self, reply: dict[str, Any]) -> None:
        if reply.get("status") == "ok":
            self.status.show("inserted below the Orchestrator's cell", "ok")
            self.copy.layout.display = "none"
        else:
            self.status.show(reply.get("message") or "the cell could not be inserted: copy the code below", "warn")
            self.copy.layout.display = ""
