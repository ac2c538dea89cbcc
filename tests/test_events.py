"""Runner events and slot results are typed and keep their wire format (issue 10).

Each round trip starts from the JSON the runner wrote before its events were typed (copied here
as literal dicts, written with ``json.dumps`` as the pipe carried them), parses it through
:func:`parse_event` and writes it again: the same line byte for byte, and the same object (keys
in the same order) on the Dask topic. A malformed event is a RunError naming the field.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agi_jupyter.core.errors import RunError
from agi_jupyter.core.events import (
    ChunkEvent,
    DoneEvent,
    ErrorEvent,
    Event,
    LogEvent,
    SlotEvent,
    SlotResult,
    parse_event,
    slot_result_of,
)
from agi_jupyter.core.jobs import ChunkPart, LocalJob, SlotPart, WorkerSpec
from agi_jupyter.core.run import topic_event
from agi_jupyter.core.runner import EventChannel, prints_as_events, run_job

PROBE_SRC = Path(__file__).parent / "apps" / "probe_project" / "src"

OLD_EVENTS: list[tuple[type[Any], dict[str, Any]]] = [
    (ChunkEvent, {"event": "chunk", "slot": 1, "label": "flight_0003", "seconds": 0.012345}),
    (LogEvent, {"event": "log", "slot": -1, "line": "[FlightWorker 0] read 3 files"}),
    (
        SlotEvent,
        {
            "event": "slot",
            "slot": 0,
            "seconds": 1.2345678901234,
            "outputs": ["/share/flight/out/a.parquet", "/share/flight/out/b.parquet"],
            "chunks": ["a", "b"],
            "pid": 4242,
        },
    ),
    (ErrorEvent, {"event": "error", "message": "slot 0: work item 'x' failed: ValueError('x')\nTraceback ..."}),
    (DoneEvent, {"event": "done", "status": 0}),
]


@pytest.mark.parametrize(("kind", "old"), OLD_EVENTS, ids=[old["event"] for _, old in OLD_EVENTS])
def test_each_event_kind_round_trips_its_wire_json(kind: type[Any], old: dict[str, Any]) -> None:
    line = json.dumps(old)  # as the event pipe carried it
    event = parse_event(line)
    assert type(event) is kind
    assert event.pipe_line() == line  # same bytes on the pipe
    assert event.wire() == old and list(event.wire()) == list(old)  # same object on the Dask topic, same key order
    assert parse_event(old) == event  # a Dask topic message parses to the same event
    assert parse_event(line.encode()) == event
    with pytest.raises(ValueError, match="frozen"):
        event.event = "other"


@pytest.mark.parametrize("old", [old for _, old in OLD_EVENTS[:2]], ids=["chunk", "log"])
def test_a_dask_topic_message_is_the_wire_object_plus_the_worker_the_scheduler_adds(old: dict[str, Any]) -> None:
    received = (1796145581.19, {**old, "worker": "tcp://127.0.0.1:36753"})  # as subscribe_topic hands it over
    event = topic_event(received)
    assert event == parse_event(old) and event.wire() == old
    assert received[1]["worker"] == "tcp://127.0.0.1:36753"  # the message itself is left as it was


def test_slot_results_round_trip_local_and_dask() -> None:
    local = {"slot": 2, "seconds": 0.5, "outputs": ["/share/o/c.csv"], "chunks": ["c"], "pid": 7}
    result = slot_result_of(local)
    assert result.wire() == local and list(result.wire()) == list(local)  # no "worker" key for a local slot
    assert json.dumps(SlotResult.model_validate_json(json.dumps(local)).wire()) == json.dumps(local)
    dask = {**local, "worker": "tcp://127.0.0.1:40001"}  # a Dask slot task's result names its worker
    assert slot_result_of(dask).wire() == dask and list(slot_result_of(dask).wire()) == list(dask)
    assert slot_result_of(result) is result
    event = SlotEvent.of(result)  # what a local runner reports for it
    assert event.wire() == {"event": "slot", **local} and list(event.wire()) == ["event", *local]
    assert event.result() == result


def test_a_malformed_event_names_the_field() -> None:
    with pytest.raises(RunError, match=r"malformed 'chunk' event \(field 'seconds': Field required\)"):
        parse_event('{"event": "chunk", "slot": 0, "label": "a"}')
    with pytest.raises(RunError, match=r"'chunk' event \(field 'slot': Input should be a valid integer"):
        parse_event({"event": "chunk", "slot": "zero", "label": "a", "seconds": 0.1})
    with pytest.raises(RunError, match=r"'log' event \(field 'colour': Extra inputs are not permitted\)"):
        parse_event({"event": "log", "slot": 0, "line": "x", "colour": "red"})
    with pytest.raises(RunError, match=r"'slot' event \(field 'outputs\.1': Input should be a valid string"):
        parse_event({"event": "slot", "slot": 0, "seconds": 1.0, "outputs": ["a", 3], "chunks": [], "pid": 1})
    with pytest.raises(RunError, match=r"malformed event \(field 'event': Input tag 'chunks' found"):
        parse_event('{"event": "chunks", "slot": 0}')
    with pytest.raises(RunError, match=r"malformed event \(field 'event': Unable to extract tag"):
        parse_event({"status": 0})
    with pytest.raises(RunError, match=r"malformed event \(Invalid JSON"):
        parse_event("[ERROR] not an event")
    with pytest.raises(RunError, match=r"malformed slot result \(field 'pid': Field required\)"):
        slot_result_of({"slot": 0, "seconds": 1.0, "outputs": [], "chunks": []})
    with pytest.raises(RunError, match=r"field 'slot': Input should be greater than or equal to 0"):
        slot_result_of({"slot": -1, "seconds": 1.0, "outputs": [], "chunks": [], "pid": 1})


def test_the_event_channel_writes_one_old_format_line_per_event() -> None:
    stream = io.StringIO()
    channel = EventChannel(stream)
    with prints_as_events(channel, 3):
        print("hello from slot 3")
    channel(DoneEvent(status=1))
    assert stream.getvalue().splitlines() == [
        json.dumps({"event": "log", "slot": 3, "line": "hello from slot 3"}),
        json.dumps({"event": "done", "status": 1}),
    ]


def test_a_job_reports_typed_events_that_parse_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the runner prepends the app's src
    spec = WorkerSpec(
        worker_module="probe_worker.probe_worker",
        worker_package="probe_worker",
        worker_class="ProbeWorker",
        args_module="probe.app_args",
        args_class="ProbeArgs",
        args={"items": 3, "delay": 0.0, "data_out": "probe"},
        share_dir=str(tmp_path),
        verbose=0,
        paths=[str(PROBE_SRC)],
    )
    job = LocalJob(
        spec=spec,
        slot_count=2,
        slots=[
            SlotPart(slot=0, chunks=[ChunkPart(label="item0", items=["item0"])]),
            SlotPart(slot=1, chunks=[ChunkPart(label="item1", items=["item1"]), ChunkPart(label="item2", items=[])]),
        ],
        order=[(0, 0), (1, 0), (1, 1)],
    )
    events: list[Event] = []
    try:
        assert run_job(job.wire(), events.append) == 0
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] in ("probe", "probe_worker")]:
            del sys.modules[name]
    assert [type(event) for event in events] == [ChunkEvent] * 3 + [SlotEvent] * 2
    assert [parse_event(event.pipe_line()) for event in events] == events  # what the engine reads back
    chunks = [event for event in events if isinstance(event, ChunkEvent)]
    assert [(event.slot, event.label) for event in chunks] == [(0, "item0"), (1, "item1"), (1, "item2")]
    results = [event.result() for event in events if isinstance(event, SlotEvent)]
    assert [(result.slot, result.chunks, result.worker) for result in results] == [
        (0, ["item0"], None),
        (1, ["item1", "item2"], None),
    ]
    assert list(json.loads(events[-1].pipe_line())) == ["event", "slot", "seconds", "outputs", "chunks", "pid"]
