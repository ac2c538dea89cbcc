"""The kernel side of the labextension comm, with the real `comm` package outside a kernel.

Outside a kernel `comm.create_comm` gives a dummy comm that publishes nothing and that nobody
answers; replies are injected through the handler the code registered with `on_msg`, shaped
like a real comm_msg.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import comm
import pytest

from agi_jupyter.notebook import CELL_TARGET, CellInserter, current_cell_id

MARKER = {"action": "run", "app": "flight_project", "digest": "3f2a9c"}


@pytest.fixture
def opened(monkeypatch):
    """Every comm the code opens: (keyword arguments of create_comm, the real comm)."""
    calls = []
    real_create_comm = comm.create_comm

    def recording_create_comm(*args, **kwargs):
        created = real_create_comm(*args, **kwargs)
        calls.append((kwargs, created))
        return created

    monkeypatch.setattr(comm, "create_comm", recording_create_comm)
    return calls


class Replies:
    """An on_reply callback that records every call and signals the first one."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.arrived = threading.Event()

    def __call__(self, reply: dict) -> None:
        self.calls.append(reply)
        self.arrived.set()


def comm_msg(data: dict) -> dict:
    return {"header": {"msg_type": "comm_msg"}, "content": {"comm_id": "x", "data": data}}


def test_insert_sends_the_protocol_message_to_the_cells_target(opened):
    replies = Replies()
    CellInserter().insert("print(1)", "cell-7", MARKER, replies, timeout=5)

    ((kwargs, created),) = opened
    assert kwargs["target_name"] == CELL_TARGET == "agi_jupyter.cells"
    assert kwargs["data"] == {"type": "insert", "code": "print(1)", "cell_id": "cell-7", "metadata": MARKER}
    created.handle_msg(comm_msg({"status": "ok"}))  # end the request: no timer left behind


def test_ping_and_digest_messages_have_the_protocol_shape(opened):
    inserter = CellInserter()
    inserter.ping(Replies(), timeout=5)
    inserter.report_digest("flight_project", "3f2a9c", timeout=5)

    assert [kwargs["data"] for kwargs, _ in opened] == [
        {"type": "ping"},
        {"type": "digest", "app": "flight_project", "digest": "3f2a9c"},
    ]
    for _, created in opened:
        created.handle_msg(comm_msg({"status": "ok"}))


def test_a_reply_reaches_on_reply_once_and_cancels_the_timeout(opened):
    replies = Replies()
    request = CellInserter().insert("x = 1", "cell-1", MARKER, replies, timeout=0.2)
    ((_, created),) = opened
    answer = {"status": "ok", "cell_id": "new-cell", "index": 3}

    created.handle_msg(comm_msg(answer))
    created.handle_msg(comm_msg({"status": "ok", "cell_id": "again", "index": 4}))

    assert replies.calls == [answer]
    time.sleep(0.2 + 0.3)  # past the moment the timeout would have fired
    assert replies.calls == [answer]
    assert request.done and request.reply == answer
    assert created._closed  # the kernel closes the comm once answered


def test_the_timeout_fires_once_when_nothing_answers_and_a_late_reply_is_ignored(opened):
    replies = Replies()
    request = CellInserter().insert("x = 1", "cell-1", MARKER, replies, timeout=0.05)
    ((_, created),) = opened

    assert replies.arrived.wait(5), "the timeout never fired"
    created.handle_msg(comm_msg({"status": "ok", "cell_id": "late", "index": 1}))

    assert len(replies.calls) == 1
    assert replies.calls[0]["status"] == "timeout"
    assert "copy the code" in replies.calls[0]["message"].lower()
    assert request.reply == replies.calls[0]
    assert created._closed


def test_outside_a_kernel_ping_degrades_to_the_timeout(opened):
    replies = Replies()
    CellInserter().ping(replies, timeout=0.05)  # must not raise
    assert replies.arrived.wait(5)
    assert [reply["status"] for reply in replies.calls] == ["timeout"]


def test_a_frontend_closing_the_comm_unanswered_reports_at_once(opened):
    replies = Replies()
    CellInserter().ping(replies, timeout=5)
    ((_, created),) = opened

    created.handle_close({"content": {"comm_id": created.comm_id, "data": {}}})
    created.handle_msg(comm_msg({"status": "ok", "type": "pong", "version": "0.1.0"}))

    assert [reply["status"] for reply in replies.calls] == ["timeout"]


def test_a_malformed_reply_becomes_an_error(opened):
    replies = Replies()
    CellInserter().ping(replies, timeout=5)
    ((_, created),) = opened
    created.handle_msg({"content": {}})
    assert replies.calls[0]["status"] == "error"


def test_report_digest_without_callback_just_sends(opened):
    request = CellInserter().report_digest("flight_project", "abc", timeout=0.05)
    request._timer.join(5)
    assert request.reply["status"] == "timeout"


def test_a_failing_callback_does_not_break_the_comm_handler(opened):
    def broken(reply):
        raise RuntimeError("widget gone")

    CellInserter().ping(broken, timeout=5)
    ((_, created),) = opened
    created.handle_msg(comm_msg({"status": "ok", "type": "pong", "version": "0.1.0"}))  # no raise


def test_insert_rejects_incomplete_snippet_metadata():
    with pytest.raises(ValueError, match="digest"):
        CellInserter().insert("x", "cell-1", {"action": "run", "app": "a"}, Replies())


def test_current_cell_id_is_none_outside_a_kernel():
    assert current_cell_id() is None


def test_current_cell_id_reads_the_execute_request_metadata(monkeypatch):
    class Shell:
        def __init__(self, parent):
            self.parent = parent

        def get_parent(self):
            return self.parent

    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell({"metadata": {"cellId": "abc-123"}}))
    assert current_cell_id() == "abc-123"
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell({"metadata": {}}))  # a comm message
    assert current_cell_id() is None


def test_the_module_imports_no_widget_library():
    code = "import sys, agi_jupyter.notebook; print('ipywidgets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
