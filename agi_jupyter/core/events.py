"""What a worker process sends back: its events, and what each worker slot returns.

A runner (:mod:`agi_jupyter.core.runner`) reports events while it runs: a chunk done, an output
line, a slot's result, an error, the job done. They cross a process boundary twice over: a local
runner writes each as one JSON line on its event pipe (read by :mod:`agi_jupyter.core.local`),
a Dask slot task logs each on its run's Dask topic (read by :mod:`agi_jupyter.core.run`). Each
kind is a frozen model here, and :data:`Event` is their union, told apart by the ``event`` key.
The receiving side parses through :func:`parse_event`, so an event that does not fit is one
RunError naming the field, not a ``KeyError`` in the middle of a run.

:class:`SlotResult` is what one worker slot ran: its chunks, its outputs, how long it took.
A local run gets it in the ``slot`` event, a Dask run as its slot task's result.

The wire format is the one the engine always read: each event's :meth:`~EventModel.wire` is
the JSON object it sent before it was typed (same keys in the same order, same values), sent as
that object on the Dask topic and as ``json.dumps`` of it on the pipe. Building an event is one
plain pydantic validation (events go out per chunk). Only pydantic is imported here, because
the worker environment imports this module too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, TypeAdapter, ValidationError

from .errors import RunError
from .records import MAX_PROBLEMS


class EventModel(BaseModel):
    """Base of the event models: immutable, strict types, unknown keys refused (as the job models)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    def wire(self) -> dict[str, Any]:
        """The JSON object as it goes on the Dask topic (and, JSON-encoded, on the event pipe)."""
        return self.model_dump(mode="json")

    def pipe_line(self) -> str:
        """The event as one line of the event pipe (without its newline)."""
        return json.dumps(self.wire())


class SlotResult(EventModel):
    """What one worker slot ran: its chunk labels in order, the files it wrote, its time and process.

    ``seconds`` counts the slot's hooks (start to stop), not the wait for other slots. ``worker``
    is the Dask worker's address (a Dask slot only; a local slot's result has no such key).
    """

    slot: NonNegativeInt
    seconds: NonNegativeFloat
    outputs: list[str]
    chunks: list[str]
    pid: int
    worker: str | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON object, without ``worker`` when there is none (a local slot's result)."""
        data = self.model_dump(mode="json")
        if data["worker"] is None:
            del data["worker"]
        return data


class ChunkEvent(EventModel):
    """A chunk is done: its slot, its label, how long it took."""

    event: Literal["chunk"] = "chunk"
    slot: NonNegativeInt
    label: str
    seconds: NonNegativeFloat


class LogEvent(EventModel):
    """A line the worker printed inside the runner (slot -1: outside any one slot's work)."""

    event: Literal["log"] = "log"
    slot: int
    line: str


class SlotEvent(EventModel):
    """A slot's result, as a local runner reports it after its slots ran (the fields of :class:`SlotResult`)."""

    event: Literal["slot"] = "slot"
    slot: NonNegativeInt
    seconds: NonNegativeFloat
    outputs: list[str]
    chunks: list[str]
    pid: int

    @classmethod
    def of(cls, result: SlotResult) -> SlotEvent:
        """The event that reports ``result``."""
        return cls(
            slot=result.slot, seconds=result.seconds, outputs=result.outputs, chunks=result.chunks, pid=result.pid
        )

    def result(self) -> SlotResult:
        """The slot result this event reports."""
        return SlotResult(slot=self.slot, seconds=self.seconds, outputs=self.outputs, chunks=self.chunks, pid=self.pid)


class ErrorEvent(EventModel):
    """The job failed: the message (a work item's error and traceback, or what was malformed)."""

    event: Literal["error"] = "error"
    message: str


class DoneEvent(EventModel):
    """The job ended, with its status (0: success); always the job's last event."""

    event: Literal["done"] = "done"
    status: int


Event = Annotated[ChunkEvent | LogEvent | SlotEvent | ErrorEvent | DoneEvent, Field(discriminator="event")]
_events: TypeAdapter[Event] = TypeAdapter(Event)
_slot_results: TypeAdapter[SlotResult] = TypeAdapter(SlotResult)


def parse_event(data: str | bytes | Mapping[str, Any]) -> Event:
    """An event from its pipe line (JSON) or its topic message (the JSON object).

    One that does not fit is a RunError naming the kind and the field, e.g. ``malformed 'chunk'
    event (field 'seconds': Input should be a valid number)``.
    """
    try:
        if isinstance(data, (str, bytes)):
            return _events.validate_json(data)
        return _events.validate_python(data)
    except ValidationError as error:
        kind = _kind(data)
        what = f"{kind!r} event" if kind is not None else "event"
        raise RunError(f"malformed {what} ({_fields(error, kind)})") from None


def slot_result_of(data: SlotResult | Mapping[str, Any]) -> SlotResult:
    """``data`` as a SlotResult; a mapping that does not fit is a RunError naming the field."""
    if isinstance(data, SlotResult):
        return data
    try:
        return _slot_results.validate_python(data)
    except ValidationError as error:
        raise RunError(f"malformed slot result ({_fields(error, None)})") from None


def _kind(data: str | bytes | Mapping[str, Any]) -> str | None:
    """The event kind the data claims, when it names a known one (for the error message)."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    kind = data.get("event") if isinstance(data, Mapping) else None
    return kind if kind in ("chunk", "log", "slot", "error", "done") else None


def _fields(error: ValidationError, kind: str | None) -> str:
    """``field 'x': what is wrong; ...``, the union's tag (``kind``) left out of each location."""
    problems = error.errors()
    parts = []
    for problem in problems[:MAX_PROBLEMS]:
        location = list(problem["loc"])
        if kind is not None and location[:1] == [kind]:
            location = location[1:]
        if problem["type"] in ("union_tag_not_found", "union_tag_invalid"):
            location = ["event"]
        name = ".".join(str(part) for part in location)
        parts.append(f"field {name!r}: {problem['msg']}" if name else problem["msg"])
    if len(problems) > MAX_PROBLEMS:
        parts.append(f"and {len(problems) - MAX_PROBLEMS} more")
    return "; ".join(parts)
