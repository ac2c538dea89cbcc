"""``agi-jupyter serve`` and ``agi-jupyter health``: service mode without a notebook.

``serve`` runs one service action through ``AGI.serve`` (the same request a notebook cell
sends) and prints the health snapshot it wrote. ``health`` needs no Dask at all: it re-judges the
saved snapshot by the heartbeats on disk, evaluates the HEALTH gate with the app's
``[cluster.service_health]`` thresholds (or the overrides given) and exits with the gate code, so
cron, systemd or a Prometheus textfile collector can act on it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from ..core.errors import AgiError
from .engine import run_engine
from .options import app_command, app_env, arg_option, parse_assignments, where
from .output import print_json, say
from .table import format_columns

if TYPE_CHECKING:
    from pathlib import Path

    from ..core.service.records import HealthSnapshot
    from .options import Subcommands

logger = logging.getLogger(__name__)

SERVE_TEXT = "start, check or stop the service's persistent worker loops (service mode)"
SERVE_EPILOG = (
    "serve start runs the loops on the Dask client this command selects, and the loops belong to the "
    "process that started them. When that client is a local cluster this command started (no "
    "scheduler answered), the loops end when the command exits: use --scheduler ADDR to serve on a "
    "lasting cluster (e.g. one started with `dask scheduler` and `dask worker`). Loops there outlive the "
    "command; the scheduler keeps a record of them, so a later serve command (or a notebook) on the same "
    "scheduler finds them, shows their health and can stop them."
)
HEALTH_TEXT = "check the service health snapshot against [cluster.service_health]; exit with the gate code"
HEALTH_EPILOG = (
    "Needs no Dask: the last snapshot is re-judged by the heartbeats on disk. Exit codes: 0 pass; "
    "1 any other failure (unknown app, unreadable snapshot, invalid override, unwritable --textfile, "
    "usage error); 2 unhealthy workers over --max-unhealthy; 3 status error, degraded or unknown; "
    "4 idle or stopped while idle is not allowed; 5 restart rate over --max-restart-rate."
)
OPTIONS = {"allow_idle": "--allow-idle", "max_unhealthy": "--max-unhealthy", "max_restart_rate": "--max-restart-rate"}


def add_commands(commands: Subcommands) -> None:
    """Register ``serve`` and ``health`` on the ``agi-jupyter`` subcommands."""
    serve = app_command(commands, "serve", _serve, SERVE_TEXT)
    serve.epilog = SERVE_EPILOG
    serve.add_argument("action", choices=("start", "status", "health", "stop"), help="the service action")
    serve.add_argument(
        "--heartbeat-timeout",
        type=float,
        metavar="S",
        help="seconds without a heartbeat before a loop is unhealthy (default 10)",
    )
    serve.add_argument(
        "--health-output",
        metavar="PATH",
        help="write the snapshot there (relative: under AGI_SHARE_DIR); default service/<app>/health.json",
    )
    serve.add_argument(
        "--close-cluster", action="store_true", help="with stop: also close a local cluster the engine started"
    )
    arg_option(serve)
    health = app_command(commands, "health", _health, HEALTH_TEXT, where=False, json_output=False)
    health.epilog = HEALTH_EPILOG
    health.add_argument("--health-output", metavar="PATH", help="the snapshot to check (as for serve)")
    health.add_argument(
        "--format",
        choices=("json", "prometheus"),
        default="json",
        help="stdout: the snapshot and verdict as JSON, or Prometheus text exposition",
    )
    health.add_argument(
        "--operator",
        action="store_true",
        help="also print the operator summary (late and missing heartbeats, oldest pending task, tasks per "
        "minute, restarts) to stderr, and add it to the JSON as 'operator'",
    )
    health.add_argument(
        "--textfile",
        metavar="PATH",
        help="also write the Prometheus text there, atomically "
        "(for node_exporter's textfile collector: a *.prom file in its directory)",
    )
    health.add_argument(
        "--allow-idle",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="whether an idle or stopped service passes (default: the settings)",
    )
    health.add_argument("--max-unhealthy", metavar="N", help="unhealthy workers tolerated (default: the settings)")
    health.add_argument(
        "--max-restart-rate", metavar="X", help="restarted/running loops tolerated, 0 to 1 (default: the settings)"
    )


# ----- serve --------------------------------------------------------------------------------
def _serve(options: argparse.Namespace) -> int:
    from ..core.engine import AGI

    fields: dict[str, Any] = {
        "action": options.action,
        "params": parse_assignments(options.arg),
        "close_cluster": options.close_cluster,
        **where(options),
    }
    if options.heartbeat_timeout is not None:
        fields["heartbeat_timeout"] = options.heartbeat_timeout
    if options.health_output:
        fields["health_output_path"] = options.health_output
    env = app_env(options)
    payload = run_engine(AGI.serve(env, on_line=say, **fields))
    if options.action == "start":
        say(_lifetime_note(payload))
    elsewhere = loops_elsewhere(env, payload)
    if elsewhere:
        say(
            f"warning: {len(elsewhere)} service loop(s) still beat on {', '.join(elsewhere)} but were started by "
            "another process: this command cannot see or stop them (restart those Dask workers to end them)"
        )
    if options.json:
        return print_json(payload)
    print(format_snapshot(payload))
    return 0


def _lifetime_note(payload: dict[str, Any]) -> str:
    """After START: how long the loops will live, given the cluster they run on."""
    from ..core import cluster

    handle = cluster.running_local()  # the one cluster this command closes when it exits
    owned = handle.client if handle else None
    try:
        local = owned is not None and bool(
            set(owned.nthreads()) & set(payload.get("workers_healthy", []) + payload.get("workers_unhealthy", []))
        )
    except Exception:  # noqa: BLE001 - a note must not fail the command
        logger.debug("cannot tell whether the loops run on this command's cluster", exc_info=True)
        local = False
    if local:
        return (
            "note: the loops run on a local Dask cluster this command started; they end when it exits "
            "(use --scheduler ADDR to serve on a lasting cluster)"
        )
    return (
        "note: the loops run on a Dask cluster this command did not start and outlive it; a later serve "
        "command cannot see or stop them (see agi-jupyter serve --help)"
    )


def loops_elsewhere(env: Any, payload: dict[str, Any]) -> list[str]:
    """Workers whose loop still beats although this process's service does not know it."""
    from ..core.service.heartbeat import read_heartbeats
    from ..core.service.serve import queue_dir

    known = {row.get("worker") for row in payload.get("worker_health", [])}
    timeout, now = float(payload.get("heartbeat_timeout_sec") or 10.0), time.time()
    return sorted(
        worker
        for worker, beat in read_heartbeats(queue_dir(env) / "heartbeats").items()
        if worker not in known and beat.state != "stopped" and now - beat.timestamp <= timeout
    )


def format_snapshot(payload: dict[str, Any]) -> str:
    """A health snapshot for humans: status, queue, one line per worker, restarts."""
    from ..core.service.metrics import QUEUES

    queue = payload.get("queue", {})
    counts = ", ".join(
        f"{payload.get(f'workers_{name}_count', 0)} {name}" for name in ("healthy", "unhealthy", "restarted")
    )
    lines = [
        f"{payload.get('app')}: {payload.get('status')} (workers: {counts})",
        "queue: " + ", ".join(f"{name} {queue.get(name, 0)}" for name in QUEUES),
    ]
    header = ("worker", "healthy", "reason", "future_state", "heartbeat_state", "heartbeat_age_sec")
    rows = [header] + [tuple(_cell(row.get(column)) for column in header) for row in payload.get("worker_health", [])]
    if len(rows) > 1:
        lines.append(format_columns(rows))
    lines += [f"restarted {worker}: {reason}" for worker, reason in (payload.get("restart_reasons") or {}).items()]
    if payload.get("stopped"):
        lines.append("stopped loops on: " + ", ".join(payload["stopped"]))
    if payload.get("path"):
        lines.append(f"snapshot: {payload['path']}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value in (None, "") else str(value)


# ----- health -------------------------------------------------------------------------------
def _health(options: argparse.Namespace) -> int:
    from ..core.requests import ServeRequest
    from ..core.service import ServiceHealthCollector, gate, read_health
    from ..core.service.health import STATUSES
    from ..core.service.serve import health_path

    env = app_env(options)
    thresholds = health_thresholds(env, options)
    path = health_path(env, ServeRequest(health_output_path=options.health_output))
    logger.info("checking %s against %s", path, thresholds.model_dump())
    saved = _read_saved(path)
    try:
        payload = read_health(env, options.health_output)
    except (KeyError, TypeError, AttributeError, ValueError) as error:  # JSON, but not a snapshot
        raise AgiError(f"{path}: not a readable health snapshot ({type(error).__name__}: {error})") from None
    if saved is not None and saved.status not in STATUSES:
        payload["status"] = saved.status  # never re-judge a status this version does not know as healthy
    verdict = gate(payload, thresholds)
    say(f"health gate {'passed' if verdict.passed else 'failed'} (exit {verdict.code}): {verdict.reason}")
    snapshot_time = saved.timestamp if saved is not None else None
    _prometheus(options, ServiceHealthCollector(env.app, payload, verdict, snapshot_time))
    operator: dict[str, Any] = {}
    if options.operator:
        from ..core.service.operator import operator_summary

        summary = operator_summary(env, payload)
        for line in summary.lines():
            say(f"operator: {line}")
        operator = {"operator": summary.model_dump(mode="json")}
    if options.format == "json":
        print_json(
            {
                **payload,
                **operator,
                "snapshot_timestamp": snapshot_time,
                "gate": {
                    "code": verdict.code,
                    "passed": verdict.passed,
                    "reason": verdict.reason,
                    "figures": verdict.figures,
                },
            }
        )
    return verdict.code


def health_thresholds(env: Any, options: argparse.Namespace) -> Any:
    """The app's ``[cluster.service_health]`` with the command line's overrides, validated."""
    from pydantic import ValidationError

    from ..core.settings import AppSettings, ServiceHealthSettings

    values = AppSettings.load(env.settings_path).cluster.service_health.model_dump()
    given = {
        "allow_idle": options.allow_idle,
        "max_unhealthy": _number(options.max_unhealthy),
        "max_restart_rate": _number(options.max_restart_rate),
    }
    overrides = {name: value for name, value in given.items() if value is not None}
    try:
        return ServiceHealthSettings.model_validate({**values, **overrides})
    except ValidationError as error:
        problems = "; ".join(
            f"{OPTIONS[name]} {getattr(options, name)}: {e['msg']}"
            for e in error.errors()
            for name in [str(e["loc"][0]) if e["loc"] else ""]
            if name in OPTIONS
        )
        raise AgiError(f"invalid health threshold: {problems or error}") from None


def _number(text: str | None) -> Any:
    """A number when the text is one (``1``, ``0.5``), else the text (refused by the model)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def _read_saved(path: Path) -> HealthSnapshot | None:
    """The snapshot as saved (None when there is none); anything else unreadable names the file."""
    from pydantic import ValidationError

    from ..core.records import field_problems
    from ..core.service.records import HealthSnapshot

    try:
        return HealthSnapshot.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        logger.info("no snapshot at %s: the service counts as idle", path)
        return None
    except ValidationError as error:
        raise AgiError(f"{path}: not a readable health snapshot ({field_problems(error)})") from None
    except OSError as error:
        raise AgiError(f"{path}: not a readable health snapshot ({error})") from None


# ----- Prometheus ---------------------------------------------------------------------------
def _prometheus(options: argparse.Namespace, collector: Any) -> None:
    """The gauges on stdout (``--format prometheus``) and/or atomically in ``--textfile``."""
    from ..core.service.metrics import exposition, write_textfile

    if options.textfile:  # first: a file that cannot be written fails the command before stdout says anything
        try:
            write_textfile(options.textfile, collector)
        except OSError as error:
            raise AgiError(f"--textfile {options.textfile}: cannot write the metrics ({error})") from None
        logger.info("wrote the service gauges to %s", options.textfile)
    if options.format == "prometheus":
        sys.stdout.write(exposition(collector))
