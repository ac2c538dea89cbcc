"""Reading and writing the engine's JSON files through typed models.

The install record, the saved distribution and the benchmark table are each a pydantic model
or a pydantic dataclass (next to the module that owns the file). Every read goes through :func:`read_record`, so a
malformed file is one error naming the file and the field (pydantic's location, e.g.
``plan.slots.0.1.weight``) instead of a ``KeyError`` far from the file; every write goes through
:func:`write_record`, atomically. The models keep the wire format: ``schema`` is the JSON key,
``schema_name`` its Python name (``schema`` is taken by pydantic), and keys are not renamed.

Only pydantic is imported here: the worker process and ``import agi_jupyter`` stay light.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from .errors import AgiError
from .files import write_json_atomic

logger = logging.getLogger(__name__)

Record = TypeVar("Record")
MAX_PROBLEMS = 5  # a file broken everywhere is named with its first few fields, not a page of them


class FileRecord(BaseModel):
    """Base of the engine's file records: immutable, ``schema`` on the wire, unknown keys refused.

    A record is a value read from or about to be written to disk; changing one means building
    the next one (``model_copy(update=...)``), so a half-updated record is never saved.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, strict=True)

    def wire(self) -> dict[str, Any]:
        """The JSON object as it is written to disk (JSON keys, JSON values)."""
        return self.model_dump(mode="json", by_alias=True)


def field_problems(error: ValidationError) -> str:
    """A pydantic error as ``field 'a.b': what is wrong`` parts, so a message names the field."""
    problems = error.errors()
    parts = []
    for problem in problems[:MAX_PROBLEMS]:
        location = ".".join(str(part) for part in problem["loc"])
        parts.append(f"field {location!r}: {problem['msg']}" if location else problem["msg"])
    if len(problems) > MAX_PROBLEMS:
        parts.append(f"and {len(problems) - MAX_PROBLEMS} more")
    return "; ".join(parts)


_adapters: dict[type, TypeAdapter[Any]] = {}


def adapter(kind: type) -> TypeAdapter[Any]:
    """The validator and serialiser of a record type (a model or a pydantic dataclass), built once."""
    found = _adapters.get(kind)
    if found is None:
        found = _adapters[kind] = TypeAdapter(kind)
    return found


def parse_record(
    text: str | bytes, kind: type[Record], source: Path | str, error_type: type[AgiError], hint: str = ""
) -> Record:
    """``text`` (JSON) validated as ``kind``; ``error_type`` naming ``source`` and the field otherwise."""
    try:
        record: Record = adapter(kind).validate_json(text)
        return record
    except ValidationError as error:
        message = f"{source}: malformed {kind.__name__} ({field_problems(error)})"
        raise error_type(f"{message}; {hint}" if hint else message) from None


def wire_of(record: Any) -> dict[str, Any]:
    """The JSON object of a record (model or pydantic dataclass), with its JSON key names."""
    data: dict[str, Any] = adapter(type(record)).dump_python(record, mode="json", by_alias=True)
    return data


def read_record(path: Path, kind: type[Record], error_type: type[AgiError], hint: str = "") -> Record | None:
    """The record in ``path``, or None when there is no such file.

    A file that exists but cannot be read, is not JSON, or does not fit ``kind`` raises
    ``error_type`` naming the file and the field; ``hint`` says what to do about it.
    """
    try:
        text = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise error_type(f"{path}: cannot be read ({error})" + (f"; {hint}" if hint else "")) from None
    return parse_record(text, kind, path, error_type, hint)


def write_record(path: Path, record: Any, *, indent: int | None = None) -> None:
    """Write ``record`` (as its wire form) to ``path`` atomically, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, wire_of(record), indent=indent)
