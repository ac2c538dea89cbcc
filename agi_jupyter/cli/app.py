"""``agi-jupyter``: the engine without a notebook, for CI jobs, scripts and monitors.

Each subcommand calls the same public engine function a notebook cell awaits (``AGI.install``,
``AGI.get_distrib``, ``AGI.run``, ``AGI.serve``), with the same request fields, so a command line
and a notebook cannot disagree (``serve`` and ``health`` live in :mod:`agi_jupyter.cli.service`).
Engine log lines stream to stderr as they come; stdout carries only the answer (a short human
summary, or exactly one JSON document with ``--json``), so ``agi-jupyter run APP --json | jq`` works.

``--verbose`` (INFO) and ``--debug`` (DEBUG, with tracebacks of product errors) make the
``agi_jupyter`` loggers speak on stderr, given before or after the subcommand; by default only
warnings do. They never change stdout.

Exit codes: 0 success; 1 a product error (``error: <message>`` on stderr, no traceback) or an
unexpected failure (with its traceback); 2 a usage error (argparse's own); 130 interrupted
(Ctrl-C cancels a run's worker processes first). ``health`` exits with its gate code instead
(0 pass, 2 unhealthy, 3 degraded, 4 idle, 5 restarts) and 1 on any other failure, its usage
errors included, so a monitor never reads a typo as "unhealthy".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import shlex
import sys
import traceback
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import AgiError
from .table import format_columns

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..core.modes import Mode
    from ..core.run import RunResult

    # what add_subparsers returns (typeshed names the class only privately; not subscriptable at runtime)
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

logger = logging.getLogger("agi_jupyter.cli")  # the package logger until main moves into __init__
PACKAGE_LOGGER = "agi_jupyter"
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand and return its exit code (argparse usage errors return 2)."""
    parser = build_parser()
    try:
        options = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) and usage errors (2) end here, not the caller
        code = int(stop.code or 0)
        given = sys.argv[1:] if argv is None else argv
        return 1 if code == 2 and given[:1] == ["health"] else code  # health's 2 means "unhealthy"
    with logging_to_stderr(options.log_level):
        return _execute(options)


def _execute(options: argparse.Namespace) -> int:
    """Run the parsed subcommand, turning failures into exit codes; always close the engine."""
    logger.debug("agi-jupyter %s with %s", options.name, _given(options))
    try:
        command: Callable[[argparse.Namespace], int] = options.command  # the handler _command set
        return command(options)
    except AgiError as error:
        logger.debug("%s failed", options.name, exc_info=True)  # where a product error came from, with --debug
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        logger.debug("%s interrupted", options.name, exc_info=True)
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - a bug: show where, and still close the cluster
        traceback.print_exc()
        return 1
    finally:
        _close_engine()


@contextlib.contextmanager
def logging_to_stderr(level: int) -> Iterator[None]:
    """The ``agi_jupyter`` loggers at ``level`` on stderr for one command, then as they were.

    Restoring matters because ``main`` also runs inside other processes (tests, a notebook):
    a second call must not add a second handler, and the host's logging must be left alone.
    The handler writes to the ``sys.stderr`` of this call (a caller's capture included).
    """
    package = logging.getLogger(PACKAGE_LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    previous = package.level
    package.setLevel(level)
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(previous)


def _given(options: argparse.Namespace) -> dict[str, Any]:
    """The options as given, for a debug line (the handler function is not an option)."""
    return {name: value for name, value in vars(options).items() if name != "command"}


def build_parser() -> argparse.ArgumentParser:
    """The ``agi-jupyter`` parser: install, distrib, run, doctor, new, serve, health, cluster."""
    from .cluster import add_command as add_cluster_command
    from .service import add_commands

    parser = argparse.ArgumentParser(
        prog="agi-jupyter", description="Install, distribute, run and serve agi-jupyter apps; check a service's health."
    )
    _verbosity_options(parser, default=logging.WARNING)
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")
    install = _command(commands, "install", _install, "provision the app's worker environment")
    install.add_argument(
        "--modes",
        metavar="MODE",
        help="modes to prepare for: 0-15, a token like _d_p, "
        "letters like dp, or several joined by commas (default: the settings' toggles)",
    )
    install.add_argument("--isolated", action="store_true", help="do not let the worker env see the kernel's packages")
    install.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    distrib = _command(commands, "distrib", _distrib, "build and save the work plan (CHECK DISTRIBUTE)")
    _arg_option(distrib)
    run = _command(commands, "run", _run, "run the plan in one mode, or benchmark several")
    choice = run.add_mutually_exclusive_group()
    choice.add_argument(
        "--mode", metavar="MODE", help="0-15, a token like _d_p or letters like dp (default: the settings' toggles)"
    )
    choice.add_argument("--benchmark", action="store_true", help="run every allowed mode and write benchmark.json")
    run.add_argument("--modes", metavar="MODE,MODE", help="with --benchmark: the modes to run, comma separated")
    _arg_option(run)
    run.add_argument("--pool", choices=("process", "thread"), help="kind of pool for the pool bit")
    run.add_argument("--pool-width", type=int, metavar="N", help="pool size (default: CPU count)")
    _command(commands, "doctor", _doctor, "check settings, cluster, install and folders; say how to fix", where=False)
    _new_command(commands)
    add_commands(commands)
    add_cluster_command(commands)
    return parser


def _verbosity_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """``-v/--verbose`` and ``--debug``: the level of the ``agi_jupyter`` loggers on stderr.

    Every subcommand accepts them too, with ``default=SUPPRESS`` there so that a subcommand which
    was not given one keeps the level set before it (``agi-jupyter --debug run ...``).
    """
    levels = parser.add_mutually_exclusive_group()
    levels.add_argument(
        "-v",
        "--verbose",
        dest="log_level",
        action="store_const",
        const=logging.INFO,
        default=default,
        help="log what the engine does (INFO) on stderr",
    )
    levels.add_argument(
        "--debug",
        dest="log_level",
        action="store_const",
        const=logging.DEBUG,
        default=default,
        help="log everything (DEBUG) on stderr, tracebacks of errors included",
    )


def _command(
    commands: Subcommands,
    name: str,
    handler: Callable[[argparse.Namespace], int],
    text: str,
    *,
    where: bool = True,
    json_output: bool = True,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=text, description=text)
    parser.set_defaults(command=handler)
    _verbosity_options(parser, default=argparse.SUPPRESS)
    parser.add_argument("app", metavar="APP", help="app name (flight or flight_project) or its folder")
    parser.add_argument(
        "--apps-path",
        metavar="DIR",
        help="folder of *_project apps (default: AGI_APPS_PATH, else the bundled examples)",
    )
    if where:
        parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler host[:port]")
        parser.add_argument(
            "--worker", action="append", metavar="HOST=SLOTS", help="a worker host and its slots; repeat"
        )
    if json_output:
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return parser


def _new_command(commands: Subcommands) -> None:
    from ..core.scaffold import TEMPLATES

    text = "create a new app folder from a template (settings, args, manager, worker, test, README)"
    parser = commands.add_parser("new", help=text, description=text)
    parser.set_defaults(command=_new)
    _verbosity_options(parser, default=argparse.SUPPRESS)
    parser.add_argument("app", metavar="NAME", help="the new app's name (demo or demo_project): lower case, a-z 0-9 _")
    parser.add_argument(
        "--template",
        choices=tuple(TEMPLATES),
        default="pandas",
        help="; ".join(f"{t.name}: {t.description}" for t in TEMPLATES.values()) + " (default: pandas)",
    )
    parser.add_argument("--apps-path", metavar="DIR", help="folder to create it in (default: AGI_APPS_PATH)")


def _arg_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--arg",
        action="append",
        metavar="NAME=VALUE",
        help='an app argument for this call; VALUE is JSON when it parses (12, true, ["a"]); repeat',
    )


# ----- values -------------------------------------------------------------------------------
def parse_assignments(texts: list[str] | None) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; values are JSON when they parse (``12``, ``true``), else strings."""
    values: dict[str, Any] = {}
    for text in texts or []:
        name, equals, raw = text.partition("=")
        if not equals or not name.strip():
            raise AgiError(f"--arg {text!r}: expected NAME=VALUE, e.g. --arg flights=12")
        try:
            values[name.strip()] = json.loads(raw)
        except ValueError:
            values[name.strip()] = raw
    return values


def parse_workers(texts: list[str] | None) -> dict[str, int] | None:
    """``HOST=SLOTS`` pairs as the workers dict; None when none were given (use the settings)."""
    if not texts:
        return None
    from ..core.settings import check_host, check_slots

    workers: dict[str, int] = {}
    for text in texts:
        host, equals, slots = text.rpartition("=")
        if not equals:
            raise AgiError(f"--worker {text!r}: expected HOST=SLOTS, e.g. 127.0.0.1=2")
        number: object = int(slots) if slots.strip().lstrip("-").isdigit() else slots
        try:
            workers[check_host(host)] = check_slots(host, number)  # the settings' own checks and messages
        except ValueError as error:
            raise AgiError(f"--worker {text!r}: {error}") from None
    return workers


def parse_modes(text: str) -> list[Mode]:
    """Comma-separated modes, each anything ``Mode.parse`` accepts."""
    from ..core.modes import Mode

    return [Mode.parse(part.strip()) for part in text.split(",") if part.strip()]


# ----- commands -----------------------------------------------------------------------------
def _install(options: argparse.Namespace) -> int:
    from ..core.engine import AGI
    from ..core.modes import Mode

    fields: dict[str, Any] = {"isolated": options.isolated, "force": options.force}
    if options.modes is not None:
        fields["modes_enabled"] = Mode(0)
        for mode in parse_modes(options.modes):  # "0,2" prepares for both: their bits together
            fields["modes_enabled"] |= mode
    record = _await(AGI.install(_env(options), on_line=_log, **fields, **_where(options)))
    if options.json:
        return _print_json(asdict(record))
    mode = Mode(record.modes_enabled)
    compiled = f"\ncompiled worker: {record.compiled}" if record.compiled else ""
    print(
        f"installed {record.app}: modes {mode.label} ({mode.token}) in {record.seconds:.2f} s\n"
        f"worker python: {record.python}{compiled}\nlog: {record.log}"
    )
    return 0


def _distrib(options: argparse.Namespace) -> int:
    from ..core.engine import AGI
    from ..core.plan import worker_slots

    distribution = _await(
        AGI.get_distrib(_env(options), on_line=_log, params=parse_assignments(options.arg), **_where(options))
    )
    if options.json:
        return _print_json({**distribution.to_dict(), "reason": distribution.reason})
    plan = distribution.plan
    print(distribution.reason)
    for slot, chunks, load in zip(worker_slots(distribution.workers), plan.slots, plan.loads):
        plural = "s" if len(chunks) != 1 else ""
        print(f"{slot.name}: {len(chunks)} chunk{plural}, load {load:g} {plan.weights_unit}".rstrip())
    return 0


def _run(options: argparse.Namespace) -> int:
    from ..core.engine import AGI
    from ..core.modes import Mode
    from ..core.run import RunControl

    if options.modes and not options.benchmark:
        raise AgiError("--modes lists the modes of a benchmark: add --benchmark (or run one mode with --mode)")
    fields: dict[str, Any] = {"params": parse_assignments(options.arg), **_where(options)}
    if options.mode is not None:
        fields["mode"] = Mode.parse(options.mode)
    if options.benchmark:
        fields.update(benchmark=True, modes=parse_modes(options.modes) if options.modes else None)
    fields.update(
        {key: value for key, value in (("pool", options.pool), ("pool_width", options.pool_width)) if value is not None}
    )
    control = RunControl()
    outcome = _await(
        AGI.run(_env(options), on_line=_log, on_progress=_progress_printer(), control=control, **fields),
        on_cancel=control.cancel,
    )
    if options.json:
        return _print_json(outcome if isinstance(outcome, dict) else outcome.to_dict())
    print(format_table(outcome) if isinstance(outcome, dict) else format_result(outcome))
    return 0


def _doctor(options: argparse.Namespace) -> int:
    from ..core.doctor import run_checks, summary

    env = _env(options)
    checks = run_checks(env)
    passed = all(check.ok for check in checks)
    if options.json:
        _print_json({"app": env.app, "ok": passed, "checks": [asdict(check) for check in checks]})
    else:
        print(summary(checks))
    return 0 if passed else 1


NEXT_MODES = {"pandas": "5", "dag": "5", "cpu": "7"}  # what install prepares: pool and dask, and cpu's Cython build


def _new(options: argparse.Namespace) -> int:
    from ..core.env import setting
    from ..core.scaffold import new_app

    folder = new_app(options.app, options.template, options.apps_path)
    target = folder.name.removesuffix("_project")
    configured = setting("AGI_APPS_PATH")
    default_root = Path(configured).expanduser().resolve() if configured else None
    where = "" if default_root == folder.parent else f" --apps-path {shlex.quote(str(folder.parent))}"
    print(
        f"created {folder} from the {options.template} template\n"
        f"next:\n"
        f"  agi-jupyter install {target}{where} --modes {NEXT_MODES[options.template]}\n"
        f"  agi-jupyter distrib {target}{where}\n"
        f"  agi-jupyter run {target}{where}\n"
        f"edit: {folder / 'README.md'} says which file does what"
    )
    return 0


# ----- output -------------------------------------------------------------------------------
def format_result(result: RunResult) -> str:
    """A run in a few lines: mode, overall and per-worker seconds, how many files it wrote."""
    lines = [
        f"mode {result.label} ({result.token}): {result.seconds:.3f} s, {result.chunks} chunks, "
        f"{len(result.outputs)} output file{'s' if len(result.outputs) != 1 else ''}"
    ]
    lines += [f"  {worker}: {seconds:.3f} s" for worker, seconds in result.worker_seconds.items()]
    return "\n".join(lines)


def format_table(table: dict[str, Any]) -> str:
    """benchmark.json as a plain-text table, fastest first; failed modes show their error."""
    header = ("mode", "label", "seconds", "timing", "order", "delta", "delta %")
    rows = [header]
    for row in table.get("rows", []):
        if row.get("status") != "ok":
            rows.append((row["token"], row["label"], "-", "failed", "-", "-", row.get("error", "")))
            continue
        rows.append(
            (
                row["token"],
                row["label"],
                f"{row['seconds']:.3f}",
                row["timing"],
                str(row["order"]),
                f"{row['delta']:.3f}",
                f"{row['delta_percent']:.1f}",
            )
        )
    return format_columns(rows)


def _print_json(data: Any) -> int:
    print(json.dumps(data, indent=2, default=str))
    return 0


# ----- plumbing -----------------------------------------------------------------------------
def _env(options: argparse.Namespace) -> Any:
    from ..core.env import AgiEnv

    return AgiEnv(options.app, apps_path=options.apps_path)


def _where(options: argparse.Namespace) -> dict[str, Any]:
    """The scheduler and workers given on the command line (absent -> the app's settings)."""
    where: dict[str, Any] = {"workers": parse_workers(options.worker)}
    if options.scheduler:
        where["scheduler"] = options.scheduler
    return {key: value for key, value in where.items() if value is not None}


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _progress_printer() -> Callable[[int, int], None]:
    """``progress N/M`` on stderr, at most about every tenth of the chunks (and at the end)."""
    shown = {"tenth": -1}

    def report(done: int, total: int) -> None:
        if done == 0:  # a new run starts (a benchmark runs several)
            shown["tenth"] = -1
        tenth = 10 * done // total if total else 10
        if tenth > shown["tenth"]:
            shown["tenth"] = tenth
            print(f"progress {done}/{total}", file=sys.stderr, flush=True)

    return report


def _await(action: Coroutine[Any, Any, Any], on_cancel: Callable[[], Any] | None = None) -> Any:
    """Run an engine coroutine; Ctrl-C cancels the engine's work (``on_cancel``) before exiting."""

    async def guarded() -> Any:
        try:
            return await action
        except asyncio.CancelledError:
            if on_cancel is not None:
                on_cancel()
            raise

    return asyncio.run(guarded())


def _close_engine() -> None:
    """Close what the engine started: its local Dask cluster and warm worker processes.

    A command line has no next run to keep them warm for; ``sys.modules`` is checked so that
    ``--help`` and usage errors do not import the engine just to close nothing.
    """
    engine = sys.modules.get("agi_jupyter.core.engine")
    if engine is not None:
        engine.AGI.close()
    local = sys.modules.get("agi_jupyter.core.local")
    if local is not None:
        local.close_local_workers()
