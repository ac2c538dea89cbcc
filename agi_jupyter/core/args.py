"""The app's argument model: load it, validate ``[args]`` against it, describe it for a form.

Apps declare their arguments as a pydantic v2 model ``<Target>Args`` in ``app_args.py``. The
model gives types, defaults, choices (``Literal`` or ``Enum``), bounds and help text
(``Field(description=...)``), so a form can be generated from it and bad values get one clear
message per field.
"""

from __future__ import annotations

import enum
import logging
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .env import AgiEnv, is_data_path
from .errors import ArgsError
from .settings import AppSettings, save_settings

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArgField:
    """What a form needs to know about one argument."""

    name: str
    kind: str  # "bool", "int", "float", "str", "path" (a Path or a data path), "choice", "list", "other"
    default: Any
    required: bool
    choices: tuple[Any, ...] = ()
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None


def validate_args(model: type[BaseModel], values: dict[str, Any], *, source: str = "[args]") -> BaseModel:
    """Validate ``values`` with ``model``; unknown keys are errors too (they are usually typos).

    Raises :class:`ArgsError` whose ``errors`` maps each bad field to its message.
    """
    errors: dict[str, str] = {}
    known = set(model.model_fields)
    for name in values:
        if name not in known:
            errors[name] = f"not an argument of {model.__name__} (known: {', '.join(sorted(known))})"
    try:
        validated = model.model_validate({k: v for k, v in values.items() if k in known})
    except ValidationError as error:
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"]) or "(model)"
            errors.setdefault(name, _message(problem))
        validated = None
    if errors:
        raise ArgsError(_refusal(source, model, errors), errors)
    assert validated is not None
    return validated


def _refusal(source: str, model: type[BaseModel], errors: dict[str, str]) -> str:
    lines = "; ".join(f"{name}: {message}" for name, message in errors.items())
    return f"{source}: invalid arguments for {model.__name__}: {lines}"


def _message(problem: ErrorDetails) -> str:
    given = problem.get("input")
    text = problem["msg"]
    if problem["type"] != "missing":
        text += f" (got {given!r})"
    return text


def load_args(env: AgiEnv, overrides: dict[str, Any] | None = None) -> BaseModel:
    """The app's validated arguments: ``[args]`` from its settings, then ``overrides``."""
    model = env.args_model()
    given = dict(overrides or {})
    saved = f"{env.settings_path} [args]"
    try:
        return validate_args(model, {**AppSettings.load(env.settings_path).args, **given}, source=saved)
    except ArgsError as error:
        source = _blame(error.errors, given, saved)
        raise ArgsError(_refusal(source, model, error.errors), error.errors) from None


def _blame(errors: dict[str, str], given: dict[str, Any], saved: str) -> str:
    """Which values were bad: the given params, the saved ``[args]``, or both.

    A bad ``--arg`` used to be reported against the settings file, which was fine.
    """
    fields = {name.split(".", 1)[0] for name in errors}
    model_rule = "(model)" in fields  # a rule over several fields: any value may be at fault
    from_params = sorted(fields & given.keys())
    from_file = sorted(fields - given.keys() - {"(model)"})
    params = "params (e.g. --arg)"
    if model_rule and given:
        return f"{params} over {saved}"
    if from_params and from_file:
        return f"{params} ({', '.join(from_params)}) and {saved} ({', '.join(from_file)})"
    return params if from_params else saved


def save_args(env: AgiEnv, values: dict[str, Any]) -> BaseModel:
    """Validate ``values`` (merged over the saved ones) and write only the keys that changed.

    The merged arguments are validated twice: at once, for a quick answer on bad input, and
    again under the settings lock on what the file holds at that moment, because another
    process may have saved other arguments since. Rules that span fields (``x_min < x_max``)
    would otherwise pass in each process and fail in the stored combination. Nothing is
    written when either check fails, so the saved arguments stay usable.
    """
    model = env.args_model()
    source = f"{env.settings_path} [args]"
    snapshot = AppSettings.load(env.settings_path).args
    validated = validate_args(model, {**snapshot, **values}, source=source)
    dumped = validated.model_dump(mode="json")
    changed = {name: dumped[name] for name in values if snapshot.get(name) != dumped[name]}
    if not changed:
        return validated
    stored: list[BaseModel] = []

    def check(updated: AppSettings) -> None:
        stored.append(_validate_stored(model, updated.args, {**snapshot, **changed}, source))

    save_settings(env.settings_path, {("args", name): value for name, value in changed.items()}, check=check)
    return stored[-1]


def _validate_stored(
    model: type[BaseModel], stored: dict[str, Any], expected: dict[str, Any], source: str
) -> BaseModel:
    """Validate the arguments a save would store; say so when another process changed them meanwhile."""
    try:
        return validate_args(model, stored, source=source)
    except ArgsError as error:
        if stored == expected:
            raise
        others = sorted(name for name in stored.keys() | expected.keys() if stored.get(name) != expected.get(name))
        logger.info("%s: save refused, another process changed %s meanwhile", source, ", ".join(others))
        raise ArgsError(
            f"{error} -- not saved: another process saved {', '.join(others)} since these values "
            "were checked, and together they are invalid; reload the arguments and try again",
            error.errors,
        ) from None


def describe_args(model: type[BaseModel]) -> list[ArgField]:
    """One :class:`ArgField` per model field, in declaration order."""
    return [_describe(name, info) for name, info in model.model_fields.items()]


def _describe(name: str, info: Any) -> ArgField:
    annotation = _strip_optional(info.annotation)
    kind, choices = _kind(annotation)
    if kind == "str" and is_data_path(name, info):
        kind = "path"  # a str holding a data path (DataPath, data_in, data_out): the form shows it as text
    minimum = maximum = None
    for constraint in info.metadata:
        minimum = _first(constraint, ("ge", "gt"), minimum)
        maximum = _first(constraint, ("le", "lt"), maximum)
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    if isinstance(default, enum.Enum):
        default = default.value
    if isinstance(default, Path):
        default = str(default)
    return ArgField(
        name=name,
        kind=kind,
        default=default,
        required=required,
        choices=choices,
        help=info.description or "",
        minimum=minimum,
        maximum=maximum,
    )


def _first(constraint: Any, names: tuple[str, ...], current: float | None) -> float | None:
    for attribute in names:
        value: float | None = getattr(constraint, attribute, None)  # annotated_types Ge/Gt/Le/Lt bounds
        if value is not None:
            return value
    return current


def _strip_optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``; ``Annotated[X, ...]`` (a ``DataPath | None``, say) -> ``X``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return _strip_optional(members[0])
    if origin is typing.Annotated:
        return _strip_optional(typing.get_args(annotation)[0])
    return annotation


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "choice", tuple(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "choice", tuple(member.value for member in annotation)
    if origin in (list, tuple, set):
        return "list", ()
    for kind, python_type in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if annotation is python_type:
            return kind, ()
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path", ()
    return "other", ()
