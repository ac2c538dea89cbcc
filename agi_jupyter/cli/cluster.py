"""``agi-jupyter cluster start|status|stop APP``: the scheduler and workers the engine starts itself.

START starts the scheduler (when nothing answers at the configured address) and each worker
host's missing workers, setting remote hosts up over SSH; they are detached, so they outlive the
command and a notebook kernel adopts them. STATUS lists them with their pids and whether each
runs; STOP stops exactly them. The same actions are ``await AGI.cluster(env, "start")`` in a
notebook.
"""

from __future__ import annotations

import argparse
import datetime
import logging
from typing import TYPE_CHECKING

from .engine import run_engine
from .options import APP_HELP, WORKER_HELP, app_env, where
from .output import print_json, say
from .table import format_columns
from .verbosity import verbosity_options

if TYPE_CHECKING:
    from ..core.deploy.actions import ClusterReport
    from .options import Subcommands

logger = logging.getLogger(__name__)

CLUSTER_TEXT = "start, list or stop the Dask scheduler and workers the engine starts itself (here or over SSH)"


def add_command(commands: Subcommands) -> None:
    """Register ``cluster ACTION APP`` on the ``agi-jupyter`` subcommands."""
    parser = commands.add_parser("cluster", help=CLUSTER_TEXT, description=CLUSTER_TEXT)
    parser.set_defaults(command=_cluster)
    parser.add_argument("action", choices=("start", "status", "stop"), help="the cluster action")
    parser.add_argument("app", metavar="APP", help=APP_HELP)
    verbosity_options(parser, default=argparse.SUPPRESS)
    parser.add_argument("--apps-path", metavar="DIR", help="folder of *_project apps (default: AGI_APPS_PATH)")
    parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler host[:port] (default: the settings)")
    parser.add_argument("--worker", action="append", metavar="HOST=SLOTS", help=WORKER_HELP)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def _cluster(options: argparse.Namespace) -> int:
    from ..core.engine import AGI

    report = run_engine(AGI.cluster(app_env(options), action=options.action, on_line=say, **where(options)))
    if options.json:
        return print_json(report.wire())
    print(format_report(report))
    return 0


def format_report(report: ClusterReport) -> str:
    """The scheduler line, then one row per process the engine started."""
    answer = "answers" if report.answers else "does not answer"
    lines = [f"scheduler {report.scheduler} {answer}; {len(report.processes)} process(es) started by agi-jupyter"]
    if report.stopped:
        lines.append(f"stopped: {', '.join(report.stopped)}")
    if report.processes:
        rows: list[tuple[object, ...]] = [("role", "name", "host", "pid", "state", "app", "since", "log")]
        for row in report.processes:
            since = datetime.datetime.fromtimestamp(row.started).strftime("%Y-%m-%d %H:%M:%S")
            state = "running" if row.running else "gone"
            rows.append((row.role, row.name, row.host, row.pid, state, row.app, since, row.log))
        lines.append(format_columns(rows))
    return "\n".join(lines)
