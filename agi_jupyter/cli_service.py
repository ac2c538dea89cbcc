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
import math
import sys
import time
from typing import Any

from .cli import _arg_option, _await, _command, _env, _log, _print_json, _where, parse_assignments
from .core.errors import AgiError

SERVE_TEXT = "start, check or stop the service's persistent worker loops (service mode)"
SERVE_EPILOG = (
    "serve start runs the loops on the Dask client this command selects, and the loops belong to the "
    "process that started them. When that client is a local cluster this command started (no "
    "scheduler answered), the loops end when the command exits: use --scheduler ADDR to serve on a "
    "lasting cluster (e.g. one started with `dask scheduler` and `dask worker`). Loops there outlive the "
    "command; the scheduler keeps a record of them, so a later serve command (or a notebook) on the same "
    "scheduler finds them, shows their health and can stop them.")
HEALTH_TEXT = "check the service health snapshot against [cluster.service_health]; exit with the gate code"
HEALTH_EPILOG = (
    "Needs no Dask: the last snapshot is re-judged by the heartbeats on disk. Exit codes: 0 pass; "
    "1 any other failure (unknown app, unreadable snapshot, invalid override, usage error); "
    "2 unhealthy workers over --max-unhealthy; 3 status error, degraded or unknown; "
    "4 idle or stopped while idle is not allowed; 5 restart rate over --max-restart-rate.")
QUEUES = ("pending", "running", "done", "failed")
WORKER_STATES = ("healthy", "unhealthy", "running", "pending", "restarted")
OPTIONS = {"allow_idle": "--allow-idle", "max_unhealthy": "--max-unhealthy", "max_restart_rate": "--max-restart-rate"}


def add_commands(commands: Any) -> None:
    """Register ``serve`` and ``health`` on the ``agi-jupyter`` subcommands."""
    serve = _command(commands, "serve", _serve, SERVE_TEXT)
    serve.epilog = SERVE_EPILOG
    serve.add_argument("action", choices=("start", "status", "health", "stop"), help="the service action")
    serve.add_argument("--heartbeat-timeout", type=float, metavar="S",
                       help="seconds without a heartbeat before a loop is unhealthy (default 10)")
    serve.add_argument("--health-output", metavar="PATH", help="write the snapshot there (relative: under "
                       "AGI_SHARE_DIR); default service/<app>/health.json")
    serve.add_argument("--close-cluster", action="store_true",
                       help="with stop: also close a local cluster the engine started")
    _arg_option(serve)
    health = _command(commands, "health", _health, HEALTH_TEXT, where=False, json_output=False)
    health.epilog = HEALTH_EPILOG
    health.add_argument("--health-output", metavar="PATH", help="the snapshot to check (as for serve)")
    health.add_argument("--format", choices=("json", "prometheus"), default="json",
                        help="stdout: the snapshot and verdict as JSON, or Prometheus text exposition")
    health.add_argument("--allow-idle", action=argparse.BooleanOptionalAction, default=None,
                        help="whether an idle or stopped service passes (default: the settings)")
    health.add_argument("--max-unhealthy", metavar="N", help="unhealthy workers tolerated (default: the settings)")
    health.add_argument("--max-restart-rate", metavar="X",
                        help="restarted/running loops tolerated, 0 to 1 (default: the settings)")


# ----- serve --------------------------------------------------------------------------------
def _serve(options: argparse.Namespace) -> int:
    from .core.engine import AGI

    fields: dict[str, Any] = {"action": options.action, "params": parse_assignments(options.arg),
                              "close_cluster": options.close_cluster, **_where(options)}
    if options.heartbeat_timeout is not None:
        fields["heartbeat_timeout"] = options.heartbeat_timeout
    if options.health_output:
        fields["health_output_path"] = options.health_output
    env = _env(options)
    payload = _await(AGI.serve(env, on_line=_log, **fields))
    if options.action == "start":
        _log(_lifetime_note(payload))
    elsewhere = loops_elsewhere(env, payload)
    if elsewhere:
        _log(f"warning: {len(elsewhere)} service loop(s) still beat on {', '.join(elsewhere)} but were started by "
             "another process: this command cannot see or stop them (restart those Dask workers to end them)")
    if options.json:
        return _print_json(payload)
    print(format_snapshot(payload))
    return 0


def _lifetime_note(payload: dict[str, Any]) -> str:
    """After START: how long the loops will live, given the cluster they run on."""
    from .core import cluster

    handle = cluster.running_local()  # the one cluster this command closes when it exits
    owned = handle.client if handle else None
    try:
        local = owned is not None and bool(set(owned.nthreads()) & set(payload.get("workers_healthy", [])
                                                                        + payload.get("workers_unhealthy", [])))
    except Exception:  # noqa: BLE001 - a note must not fail the command
        local = False
    if local:
        return ("note: the loops run on a local Dask cluster this command started; they end when it exits "
                "(use --scheduler ADDR to serve on a lasting cluster)")
    return ("note: the loops run on a Dask cluster this command did not start and outlive it; a later serve "
            "command cannot see or stop them (see agi-jupyter serve --help)")


def loops_elsewhere(env: Any, payload: dict[str, Any]) -> list[str]:
    """Workers whose loop still beats although this process's service does not know it."""
    from .core.service.heartbeat import read_heartbeats
    from .core.service.serve import queue_dir

    known = {row.get("worker") for row in payload.get("worker_health", [])}
    timeout, now = float(payload.get("heartbeat_timeout_sec") or 10.0), time.time()
    return sorted(worker for worker, beat in read_heartbeats(queue_dir(env) / "heartbeats").items()
                  if worker not in known and beat.get("state") != "stopped"
                  and now - float(beat.get("timestamp") or 0) <= timeout)


def format_snapshot(payload: dict[str, Any]) -> str:
    """A health snapshot for humans: status, queue, one line per worker, restarts."""
    queue = payload.get("queue", {})
    counts = ", ".join(f"{payload.get(f'workers_{name}_count', 0)} {name}"
                       for name in ("healthy", "unhealthy", "restarted"))
    lines = [f"{payload.get('app')}: {payload.get('status')} (workers: {counts})",
             "queue: " + ", ".join(f"{name} {queue.get(name, 0)}" for name in QUEUES)]
    header = ("worker", "healthy", "reason", "future_state", "heartbeat_state", "heartbeat_age_sec")
    rows = [header] + [tuple(_cell(row.get(column)) for column in header) for row in payload.get("worker_health", [])]
    if len(rows) > 1:
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
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
    from .core.requests import ServeRequest
    from .core.service import gate, read_health
    from .core.service.health import STATUSES
    from .core.service.serve import health_path

    env = _env(options)
    thresholds = health_thresholds(env, options)
    path = health_path(env, ServeRequest(health_output_path=options.health_output))
    saved = _read_saved(path)
    try:
        payload = read_health(env, options.health_output)
    except (KeyError, TypeError, AttributeError, ValueError) as error:  # JSON, but not a snapshot
        raise AgiError(f"{path}: not a readable health snapshot ({type(error).__name__}: {error})") from None
    if saved is not None and saved.get("status") not in STATUSES:
        payload["status"] = saved.get("status")  # never re-judge a status this version does not know as healthy
    verdict = gate(payload, thresholds)
    _log(f"health gate {'passed' if verdict.passed else 'failed'} (exit {verdict.code}): {verdict.reason}")
    snapshot_time = saved.get("timestamp") if saved is not None else None
    if options.format == "prometheus":
        sys.stdout.write(prometheus_text(env.app, payload, verdict, snapshot_time))
    else:
        _print_json({**payload, "snapshot_timestamp": snapshot_time,
                     "gate": {"code": verdict.code, "passed": verdict.passed, "reason": verdict.reason,
                              "figures": verdict.figures}})
    return verdict.code


def health_thresholds(env: Any, options: argparse.Namespace) -> Any:
    """The app's ``[cluster.service_health]`` with the command line's overrides, validated."""
    from pydantic import ValidationError

    from .core.settings import AppSettings, ServiceHealthSettings

    values = AppSettings.load(env.settings_path).cluster.service_health.model_dump()
    given = {"allow_idle": options.allow_idle, "max_unhealthy": _number(options.max_unhealthy),
             "max_restart_rate": _number(options.max_restart_rate)}
    overrides = {name: value for name, value in given.items() if value is not None}
    try:
        return ServiceHealthSettings.model_validate({**values, **overrides})
    except ValidationError as error:
        problems = "; ".join(f"{OPTIONS[name]} {getattr(options, name)}: {e['msg']}" for e in error.errors()
                             for name in [str(e["loc"][0]) if e["loc"] else ""] if name in OPTIONS)
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


def _read_saved(path: Any) -> dict[str, Any] | None:
    """The snapshot as saved (None when there is none); anything else unreadable names the file."""
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise AgiError(f"{path}: not a readable health snapshot ({error})") from None
    if not isinstance(saved, dict):
        raise AgiError(f"{path}: not a readable health snapshot (a JSON {type(saved).__name__}, not an object)")
    return saved


# ----- Prometheus text exposition -----------------------------------------------------------
def prometheus_text(app: str, payload: dict[str, Any], verdict: Any, snapshot_time: float | None) -> str:
    """The snapshot and verdict as Prometheus gauges (text exposition format 0.0.4)."""
    from .core.service.health import STATUSES

    status = payload.get("status")
    queue = payload.get("queue", {})
    rows = payload.get("worker_health", [])
    metrics: list[tuple[str, str, list[tuple[dict[str, str], Any]]]] = [
        ("agi_service_up", "1 when the service is running or idle, else 0.",
         [({"app": app}, status == "running")]),
        ("agi_service_status", "1 for the service's current status.",
         [({"app": app, "status": name}, name == status) for name in STATUSES]
         + ([] if status in STATUSES else [({"app": app, "status": str(status)}, 1)])),
        ("agi_service_workers", "Service loops by state.",
         [({"app": app, "state": name}, payload.get(f"workers_{name}_count", 0)) for name in WORKER_STATES]),
        ("agi_service_queue_tasks", "Task files in each queue folder.",
         [({"app": app, "queue": name}, queue.get(name, 0)) for name in QUEUES]),
        ("agi_service_worker_healthy", "1 when the worker's loop is healthy.",
         [({"app": app, "worker": str(row.get("worker"))}, bool(row.get("healthy"))) for row in rows]),
        ("agi_service_worker_heartbeat_age_seconds", "Age of the worker loop's last heartbeat.",
         [({"app": app, "worker": str(row.get("worker"))}, row["heartbeat_age_sec"]) for row in rows
          if row.get("heartbeat_age_sec") is not None]),
        ("agi_service_restart_rate", "Restarted loops per running loop.",
         [({"app": app}, verdict.figures.get("restart_rate", 0.0))]),
        ("agi_service_gate_code", "HEALTH gate exit code: 0 pass, 2 unhealthy, 3 degraded/error/unknown, "
         "4 idle not allowed, 5 restart rate.", [({"app": app}, verdict.code)]),
        ("agi_service_gate_passed", "1 when the HEALTH gate passes.", [({"app": app}, verdict.passed)]),
        ("agi_service_snapshot_timestamp_seconds", "Unix time the health snapshot was written.",
         [({"app": app}, snapshot_time)] if isinstance(snapshot_time, (int, float)) else []),
    ]
    lines = []
    for name, text, samples in metrics:
        if not samples:
            continue
        lines += [f"# HELP {name} {_escape_help(text)}", f"# TYPE {name} gauge"]
        lines += [f"{name}{_labels(labels)} {_sample_value(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_escape_label(value)}"' for key, value in labels.items()) + "}"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _sample_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)
