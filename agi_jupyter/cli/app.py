"""``install``, ``distrib``, ``run`` and ``doctor``: an app's life cycle from the command line.

Each calls the engine function a notebook cell awaits (``AGI.install``, ``AGI.get_distrib``,
``AGI.run``) with the same request fields; ``doctor`` runs the same checks as the notebook's.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..core.errors import AgiError
from .engine import run_engine
from .options import app_command, app_env, arg_option, parse_assignments, parse_modes, where
from .output import print_json, progress_printer, say
from .table import format_columns

if TYPE_CHECKING:
    from ..core.run import RunResult
    from .options import Subcommands

logger = logging.getLogger(__name__)


def add_commands(commands: Subcommands) -> None:
    """Register ``install``, ``distrib``, ``run`` and ``doctor`` on the ``agi-jupyter`` subcommands."""
    install = app_command(commands, "install", _install, "provision the app's worker environment")
    install.add_argument(
        "--modes",
        metavar="MODE",
        help="modes to prepare for: 0-15, a token like _d_p, "
        "letters like dp, or several joined by commas (default: the settings' toggles)",
    )
    install.add_argument("--isolated", action="store_true", help="do not let the worker env see the kernel's packages")
    install.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    distrib = app_command(commands, "distrib", _distrib, "build and save the work plan (CHECK DISTRIBUTE)")
    arg_option(distrib)
    run = app_command(commands, "run", _run, "run the plan in one mode, or benchmark several")
    choice = run.add_mutually_exclusive_group()
    choice.add_argument(
        "--mode", metavar="MODE", help="0-15, a token like _d_p or letters like dp (default: the settings' toggles)"
    )
    choice.add_argument("--benchmark", action="store_true", help="run every allowed mode and write benchmark.json")
    run.add_argument("--modes", metavar="MODE,MODE", help="with --benchmark: the modes to run, comma separated")
    arg_option(run)
    run.add_argument("--pool", choices=("process", "thread"), help="kind of pool for the pool bit")
    run.add_argument("--pool-width", type=int, metavar="N", help="pool size (default: CPU count)")
    doctor = "check settings, cluster, install and folders; say how to fix"
    app_command(commands, "doctor", _doctor, doctor, where=False)


# ----- commands -----------------------------------------------------------------------------
def _install(options: argparse.Namespace) -> int:
    from ..core.engine import AGI
    from ..core.modes import Mode

    fields: dict[str, Any] = {"isolated": options.isolated, "force": options.force}
    if options.modes is not None:
        fields["modes_enabled"] = Mode(0)
        for mode in parse_modes(options.modes):  # "0,2" prepares for both: their bits together
            fields["modes_enabled"] |= mode
    record = run_engine(AGI.install(app_env(options), on_line=say, **fields, **where(options)))
    if options.json:
        return print_json(asdict(record))
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

    distribution = run_engine(
        AGI.get_distrib(app_env(options), on_line=say, params=parse_assignments(options.arg), **where(options))
    )
    if options.json:
        return print_json({**distribution.to_dict(), "reason": distribution.reason})
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
    fields: dict[str, Any] = {"params": parse_assignments(options.arg), **where(options)}
    if options.mode is not None:
        fields["mode"] = Mode.parse(options.mode)
    if options.benchmark:
        fields.update(benchmark=True, modes=parse_modes(options.modes) if options.modes else None)
    fields.update(
        {key: value for key, value in (("pool", options.pool), ("pool_width", options.pool_width)) if value is not None}
    )
    control = RunControl()
    outcome = run_engine(
        AGI.run(app_env(options), on_line=say, on_progress=progress_printer(), control=control, **fields),
        on_cancel=control.cancel,
    )
    if options.json:
        return print_json(outcome if isinstance(outcome, dict) else outcome.to_dict())
    print(format_table(outcome) if isinstance(outcome, dict) else format_result(outcome))
    return 0


def _doctor(options: argparse.Namespace) -> int:
    from ..core.doctor import run_checks, summary

    env = app_env(options)
    checks = run_checks(env)
    passed = all(check.ok for check in checks)
    if options.json:
        print_json({"app": env.app, "ok": passed, "checks": [asdict(check) for check in checks]})
    else:
        print(summary(checks))
    return 0 if passed else 1


# ----- output -------------------------------------------------------------------------------
def format_result(result: RunResult) -> str:
    """A run in a few lines: mode, overall and per-worker seconds, how many files it wrote."""
    lines = [
        f"mode {result.label} ({result.token}): {result.seconds:.3f} s, {result.chunks} chunks, "
        f"{len(result.outputs)} output file{'s' if len(result.outputs) != 1 else ''}"
    ]
    lines += [f"  {worker}: {seconds:.3f} s" for worker, seconds in result.worker_seconds.items()]
    if result.outputs:
        lines.append(f"outputs: {os.path.commonpath([os.path.dirname(path) for path in result.outputs])}")
    if result.log:
        lines.append(f"log: {result.log}")
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
