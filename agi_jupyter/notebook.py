"""Kernel side of agi-jupyter's JupyterLab extension: insert cells, report settings digests.

The kernel opens a comm to the target ``agi_jupyter.cells`` with one message as its ``data``;
the extension (``labextension/src/comm.ts``) answers with one reply on that comm, and the kernel
closes it. The protocol is written down in ``labextension/README.md``:

- ``{"type": "ping"}`` -> ``{"status": "ok", "type": "pong", "version": "0.1.0"}``
- ``{"type": "insert", "code": str, "cell_id": str, "metadata": {"action", "app", "digest"}}``
  -> ``{"status": "ok", "cell_id": <new cell>, "index": <its position>}``
- ``{"type": "digest", "app": str, "digest": str}`` -> ``{"status": "ok", "type": "digest",
  "stale": <number of that app's snippet cells made from another digest>}``

Any message may also be answered ``{"status": "error", "message": ...}``. When nothing answers
(no JupyterLab, the extension missing, Voilà, VS Code), the caller gets
``{"status": "timeout", "message": ...}`` instead, so it can offer the code to copy.

Nothing here ever waits for a reply: a button click runs inside a comm handler, and the reply is
another shell message the kernel cannot process while that handler blocks. Replies are delivered
to a callback instead -- exactly once per message: the reply, or the timeout, whichever is first.
This module imports no widget library; the Orchestrator widget builds on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import comm

from ._version import __version__

__all__ = ["CELL_TARGET", "PROTOCOL_VERSION", "CellInserter", "Request", "current_cell_id"]

CELL_TARGET = "agi_jupyter.cells"
"""The comm target the JupyterLab extension registers on every notebook's kernel."""

PROTOCOL_VERSION = __version__
"""The version a current extension reports in its ``pong``: the package's own version (one source,
``labextension/package.json``; see agi_jupyter/_version.py)."""

DEFAULT_TIMEOUT = 3.0
"""Seconds to wait for the extension before telling the caller nobody answered."""

Reply = dict[str, Any]
OnReply = Callable[[Reply], None]

_log = logging.getLogger(__name__)


def current_cell_id() -> str | None:
    """The id of the notebook cell being executed, or None when it is unknown.

    JupyterLab puts it in the execute request's metadata. Call this while the cell that
    creates the widget runs (at display time): a button click arrives as a comm message,
    which carries no cell id.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return None
    shell = get_ipython()
    get_parent = getattr(shell, "get_parent", None)
    if get_parent is None:
        return None
    try:
        cell_id = get_parent()["metadata"]["cellId"]
    except (KeyError, TypeError):
        return None
    return cell_id if isinstance(cell_id, str) and cell_id else None


class Request:
    """One message sent to the extension, waiting for its reply or its timeout.

    Whichever comes first is handed to ``on_reply``; the other is ignored. The comm is closed
    either way, so a frontend that answers late finds it gone.
    """

    def __init__(self, message: Mapping[str, Any], on_reply: OnReply | None, timeout: float) -> None:
        self.message: dict[str, Any] = dict(message)
        self.reply: Reply | None = None
        self._on_reply = on_reply
        self._timeout = timeout
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._on_timeout)
        self._timer.daemon = True
        self.comm: comm.base_comm.BaseComm | None = None
        try:
            self.comm = comm.create_comm(target_name=CELL_TARGET, data=self.message)
        except Exception:  # noqa: BLE001 - no usable kernel: the timeout tells the caller nobody answered
            _log.debug("could not open a %s comm", CELL_TARGET, exc_info=True)
        else:
            self.comm.on_msg(self._on_comm_msg)
            self.comm.on_close(self._on_comm_close)
        self._timer.start()

    @property
    def done(self) -> bool:
        """True once the reply (or the timeout) has been delivered."""
        return self.reply is not None

    def _on_comm_msg(self, msg: Mapping[str, Any]) -> None:
        try:
            data = msg["content"]["data"]
        except (KeyError, TypeError):
            data = None
        if not isinstance(data, Mapping) or "status" not in data:
            data = {"status": "error", "message": f"the JupyterLab extension sent a malformed reply: {data!r}"}
        self._deliver(dict(data))

    def _on_comm_close(self, _msg: Mapping[str, Any]) -> None:
        # A frontend without the extension closes our comm at once: no reply can come any more.
        self._deliver(self._unanswered("the frontend closed the comm without answering"))

    def _on_timeout(self) -> None:
        self._deliver(self._unanswered(f"no answer within {self._timeout:g} s"))

    def _unanswered(self, why: str) -> Reply:
        return {
            "status": "timeout",
            "message": (
                f"no JupyterLab extension answered ({why}): agi-jupyter's extension is not "
                "enabled here (classic Notebook, Voilà, VS Code...). Copy the code below into a cell."
            ),
        }

    def _deliver(self, reply: Reply) -> None:
        with self._lock:
            if self.reply is not None:
                return  # the other one came first
            self.reply = reply
        self._timer.cancel()
        try:
            if self.comm is not None:
                self.comm.close()
        except Exception:  # noqa: BLE001 - a kernel shutting down must not hide the reply
            _log.debug("closing the %s comm failed", CELL_TARGET, exc_info=True)
        if self._on_reply is None:
            return
        try:
            self._on_reply(reply)
        except Exception:  # noqa: BLE001 - a widget's callback must not break the comm; logged in full
            _log.exception("the reply callback for a %r message failed", self.message.get("type"))


class CellInserter:
    """Talks to the JupyterLab extension: inserts cells, reports digests, detects it.

    Every method sends one message and returns at once with its :class:`Request`; the reply
    (or ``{"status": "timeout", ...}`` after ``timeout`` seconds) reaches ``on_reply`` later,
    exactly once, possibly from a timer thread. Outside a kernel the comm is a dummy one that
    nobody answers, so callers get the timeout.
    """

    def insert(
        self,
        code: str,
        cell_id: str,
        metadata: Mapping[str, str],
        on_reply: OnReply,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Request:
        """Insert ``code`` as a new code cell right below the cell ``cell_id``.

        ``metadata`` holds the snippet's marker: ``action`` (e.g. "run"), ``app`` and the
        settings ``digest`` it was generated from. The extension stores it in the cell's
        ``agi_jupyter`` metadata; a snippet with the same action and app already inserted below
        that cell is replaced rather than stacked. The reply names the new cell:
        ``{"status": "ok", "cell_id": ..., "index": ...}``.
        """
        if not isinstance(code, str) or not isinstance(cell_id, str):
            raise TypeError("code and cell_id must be strings")
        marker = {key: metadata.get(key) for key in ("action", "app", "digest")}
        missing = [key for key, value in marker.items() if not isinstance(value, str)]
        if missing:
            raise ValueError(f"the snippet metadata needs string values for {', '.join(missing)}")
        message = {"type": "insert", "code": code, "cell_id": cell_id, "metadata": marker}
        return Request(message, on_reply, timeout)

    def ping(self, on_reply: OnReply, timeout: float = DEFAULT_TIMEOUT) -> Request:
        """Ask whether the extension is there: ``{"status": "ok", "type": "pong", "version"}``."""
        return Request({"type": "ping"}, on_reply, timeout)

    def report_digest(
        self, app: str, digest: str, on_reply: OnReply | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> Request:
        """Tell the extension the current settings digest of ``app``.

        It flags that app's snippet cells generated from another digest as stale and answers
        how many there are: ``{"status": "ok", "type": "digest", "stale": <count>}``.
        """
        return Request({"type": "digest", "app": app, "digest": digest}, on_reply, timeout)
