"""``agi-jupyter serve`` and ``agi-jupyter health``: the gate's exit codes, reproduced for real.

Health situations are made the way a monitor meets them: heartbeat files and health.json
snapshots written by the engine's own functions into the app's service folder, with ages forged
by writing older heartbeat timestamps. One test serves the flight app on a real local Dask
cluster through the command line.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.cli import main
from agi_jupyter.cli.service import format_snapshot
from agi_jupyter.core import cluster
from agi_jupyter.core.service.health import snapshot, worker_row, write_snapshot
from agi_jupyter.core.service.heartbeat import heartbeat_path, read_heartbeats, write_heartbeat
from agi_jupyter.core.service.queue import TaskQueue, write_json
from agi_jupyter.core.settings import AppSettings

WORKERS = ("tcp://127.0.0.1:40001", "tcp://127.0.0.1:40002")
ODD_WORKER = 'tcp://node"a\\b\nc:1'  # a quote, a backslash and a newline: all three need escaping
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{{((?:[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE},?)*)\}} (\S+)$")
LABEL = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})")
serve_module = importlib.import_module("agi_jupyter.core.service.serve")  # the package exports a serve() too


# ----- helpers ------------------------------------------------------------------------------
def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def health(capsys: pytest.CaptureFixture[str], env: AgiEnv, *argv: str) -> tuple[int, dict[str, Any], str]:
    """``agi-jupyter health`` with JSON output: exit code, the document, stderr."""
    status, out, err = cli(capsys, "health", env.app_path.name, "--apps-path", str(env.apps_path), *argv)
    return status, (json.loads(out) if out else {}), err


@pytest.fixture
def env(apps_path: Path) -> AgiEnv:
    return AgiEnv("flight", apps_path=apps_path)


def queue_of(env: AgiEnv) -> TaskQueue:
    return TaskQueue(env.service_dir / "queue")


def beat(env: AgiEnv, worker: str, *, state: str = "running", age: float = 0.0, slot: int = 0) -> None:
    """A loop's heartbeat as the loop writes it; ``age`` seconds old."""
    folder = queue_of(env).folder("heartbeats")
    write_heartbeat(folder, worker, state, "0123456789", slot)
    if age:
        path = heartbeat_path(folder, worker, "0123456789")
        data = json.loads(path.read_text())
        data["timestamp"] -= age
        write_json(path, data)


def serving(
    env: AgiEnv,
    workers: tuple[str, ...] = WORKERS,
    *,
    restarted: dict[str, str] | None = None,
    timeout: float = 10.0,
    path: Path | None = None,
) -> dict[str, Any]:
    """A service whose loops all beat: heartbeats, then the snapshot a STATUS would have written."""
    queue = queue_of(env)
    for slot, worker in enumerate(workers):
        beat(env, worker, slot=slot)
    beats, now = read_heartbeats(queue.folder("heartbeats")), time.time()
    rows = [worker_row(worker, True, "", "running", beats[worker], now) for worker in workers]
    payload = snapshot(
        app=env.app,
        target=env.target,
        rows=rows,
        queue=queue.counts(),
        started=True,
        restarted=restarted or {},
        timeout=timeout,
        queue_dir=queue.root,
        cleanup={},
        client_status="running",
        pending=[],
    )
    return write_snapshot(payload, path or env.service_dir / "health.json")


def row_of(payload: dict[str, Any], worker: str) -> dict[str, Any]:
    return next(row for row in payload["worker_health"] if row["worker"] == worker)


def parse_prometheus(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a text exposition; fails on any line that is not a comment or a sample."""
    assert text.endswith("\n")
    samples, typed = [], []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:]
            assert kind == "gauge" and name not in typed
            typed.append(name)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name == typed[-1], f"{name} is not grouped under its # TYPE line"
        unescaped = {key: json.loads(raw) for key, raw in LABEL.findall(labels)}  # same escapes as JSON here
        samples.append((name, unescaped, float(value)))
    return samples


# ----- the gate's exit codes ----------------------------------------------------------------
def test_no_snapshot_is_an_idle_service_exit_4_unless_idle_is_allowed(
    env: AgiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    status, payload, err = health(capsys, env)
    assert status == 4 and payload["status"] == "idle" and payload["workers_running_count"] == 0
    assert payload["gate"] == {
        "code": 4,
        "passed": False,
        "reason": "service is idle and allow_idle is false",
        "figures": payload["gate"]["figures"],
    }
    assert payload["path"] == str(env.service_dir / "health.json") and payload["snapshot_timestamp"] is None
    assert "health gate failed (exit 4)" in err
    status, payload, _ = health(capsys, env, "--allow-idle")
    assert status == 0 and payload["gate"]["passed"] and payload["gate"]["figures"]["allow_idle"] is True


def test_a_healthy_service_with_an_empty_queue_is_running_and_passes(
    env: AgiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    written = serving(env)
    status, payload, _ = health(capsys, env)
    assert status == 0 and payload["status"] == "running" and payload["queue"]["pending"] == 0
    assert payload["workers_healthy"] == list(WORKERS) and payload["workers_unhealthy_count"] == 0
    assert payload["snapshot_timestamp"] == written["timestamp"]
    assert [row["heartbeat_state"] for row in payload["worker_health"]] == ["running", "running"]
    assert all(0 <= row["heartbeat_age_sec"] < 5 for row in payload["worker_health"])


def test_a_stopped_service_exits_4_unless_idle_is_allowed(env: AgiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    written = serving(env)
    write_json(env.service_dir / "health.json", {**written, "status": "stopped"})
    status, payload, _ = health(capsys, env)
    assert status == 4 and payload["status"] == "stopped"
    assert payload["gate"]["reason"] == "service is stopped and allow_idle is false"
    assert health(capsys, env, "--allow-idle")[0] == 0


def test_a_pending_task_makes_the_service_running_and_it_passes(
    env: AgiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    serving(env)
    queue_of(env).submit(["flight_0001.csv"], {}, "one")
    status, payload, _ = health(capsys, env)
    assert status == 0 and payload["status"] == "running"
    assert payload["queue"] == {"pending": 1, "running": 0, "done": 0, "failed": 0}
    assert payload["gate"]["reason"] == "service is running"


def test_a_stale_heartbeat_is_unhealthy_exit_2_and_degraded_3_when_tolerated(
    env: AgiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    serving(env)
    beat(env, WORKERS[1], age=30.0, slot=1)  # the loop stopped beating after the snapshot
    status, payload, _ = health(capsys, env, "--allow-idle")
    assert status == 2 and payload["status"] == "degraded"
    stale = row_of(payload, WORKERS[1])
    match = re.fullmatch(r"stale-heartbeat\((\d+\.\d)s\)", stale["reason"])
    assert match and 30.0 <= float(match.group(1)) < 40.0 and stale["healthy"] is False
    assert 30.0 <= stale["heartbeat_age_sec"] < 40.0
    assert row_of(payload, WORKERS[0])["healthy"] is True
    assert payload["workers_unhealthy"] == [WORKERS[1]] and payload["workers_running"] == [WORKERS[0]]
    assert "1 unhealthy worker(s) > max_unhealthy 0" in payload["gate"]["reason"]
    status, payload, _ = health(capsys, env, "--allow-idle", "--max-unhealthy", "1")
    assert status == 3 and payload["gate"]["reason"] == "service status is degraded"


def test_a_stopped_heartbeat_is_a_finished_loop(env: AgiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    serving(env)
    beat(env, WORKERS[0], state="stopped")
    status, payload, _ = health(capsys, env, "--allow-idle")
    assert status == 2
    assert row_of(payload, WORKERS[0]) | {"heartbeat_age_sec": 0} == {
        "worker": WORKERS[0],
        "healthy": False,
        "reason": "loop-finished",
        "future_state": "running",
        "heartbeat_state": "stopped",
        "heartbeat_age_sec": 0,
        "task": None,
        "task_seconds": None,
    }


def test_restarts_over_the_rate_exit_5(env: AgiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    serving(env, restarted={WORKERS[0]: "stale-heartbeat(12.0s)"})
    status, payload, _ = health(capsys, env)
    assert status == 5 and payload["workers_restarted"] == [WORKERS[0]]
    assert payload["restart_reasons"] == {WORKERS[0]: "stale-heartbeat(12.0s)"}
    figures = payload["gate"]["figures"]
    assert figures["restart_rate"] == 0.5 and figures["max_restart_rate"] == 0.25
    assert payload["gate"]["reason"] == "restart rate 0.50 (1/2) > max_restart_rate 0.25"
    status, payload, _ = health(capsys, env, "--max-restart-rate", "0.6")
    assert status == 0 and payload["gate"]["figures"]["max_restart_rate"] == 0.6


def test_an_unknown_status_in_the_snapshot_exits_3(env: AgiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    written = serving(env)
    write_json(env.service_dir / "health.json", {**written, "status": "rebalancing"})
    status, payload, _ = health(capsys, env, "--allow-idle")
    assert status == 3 and payload["status"] == "rebalancing"
    assert payload["gate"]["reason"] == "unknown status 'rebalancing'"


def test_thresholds_come_from_the_settings_and_the_command_line_overrides_them(
    env: AgiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    AppSettings.load(env.settings_path).save(
        {"cluster.service_health.allow_idle": True, "cluster.service_health.max_unhealthy": 1}
    )
    serving(env)
    status, payload, _ = health(capsys, env)
    assert status == 0 and payload["gate"]["figures"]["allow_idle"] is True
    assert health(capsys, env, "--no-allow-idle")[0] == 0  # a running service passes either way
    beat(env, WORKERS[0], age=60.0)
    assert health(capsys, env)[0] == 3  # 1 unhealthy is tolerated by the settings; degraded is not
    assert health(capsys, env, "--max-unhealthy", "0")[0] == 2


def test_health_output_reads_a_snapshot_elsewhere(env: AgiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    serving(env, path=env.data_path("monitor/flight-health.json"))
    status, payload, _ = health(capsys, env, "--health-output", "monitor/flight-health.json", "--allow-idle")
    assert status == 0 and payload["status"] == "running"
    assert payload["path"] == str(env.data_path("monitor/flight-health.json"))
    assert health(capsys, env, "--allow-idle")[1]["status"] == "idle"  # nothing at the default place


# ----- failures exit 1 ----------------------------------------------------------------------
@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"status": "idle", "worker_health": [{"healthy": 1}]}'])
def test_an_unreadable_snapshot_exits_1_naming_the_file(
    env: AgiEnv, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = env.service_dir / "health.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    status, out, err = cli(capsys, "health", "flight", "--apps-path", str(env.apps_path))
    assert status == 1 and out == "" and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"error: {path}: not a readable health snapshot (")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["health", "nowhere"], "app 'nowhere_project' not found"),
        (
            ["health", "flight", "--max-restart-rate", "2"],
            "--max-restart-rate 2: Input should be less than or equal to 1",
        ),
        (
            ["health", "flight", "--max-unhealthy", "-1"],
            "--max-unhealthy -1: Input should be greater than or equal to 0",
        ),
        (["health", "flight", "--max-unhealthy", "one"], "--max-unhealthy one: Input should be a valid integer"),
        (["serve", "flight", "start", "--heartbeat-timeout", "0"], "heartbeat_timeout: Input should be greater than 0"),
    ],
)
def test_product_errors_exit_1(
    apps_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    status, out, err = cli(capsys, *argv, "--apps-path", str(apps_path))
    assert status == 1 and out == ""
    assert err.splitlines()[-1].startswith("error: ") and expected in err and "Traceback" not in err


def test_health_usage_errors_exit_1_never_2_which_means_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health"]) == 1
    assert main(["health", "flight", "--format", "xml"]) == 1
    assert main(["health", "flight", "--bogus"]) == 1
    assert main(["serve", "flight", "restart"]) == 2  # other commands keep argparse's 2
    assert main(["health", "--help"]) == 0
    assert "5 restart rate over --max-restart-rate" in " ".join(capsys.readouterr().out.split())


def test_health_needs_no_dask(env: AgiEnv) -> None:
    serving(env)
    code = (
        "import sys; from agi_jupyter.cli import main; code = main(sys.argv[1:]); "
        "print(sorted({'dask', 'distributed'} & set(sys.modules))); sys.exit(code)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "health",
            "flight",
            "--apps-path",
            str(env.apps_path),
            "--allow-idle",
            "--format",
            "prometheus",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().endswith("[]") and 'agi_service_gate_code{app="flight_project"} 0' in done.stdout


# ----- Prometheus ---------------------------------------------------------------------------
def test_prometheus_output_parses_and_escapes_label_values(env: AgiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    workers = (WORKERS[0], ODD_WORKER)
    serving(env, workers)
    beat(env, ODD_WORKER, age=25.0, slot=1)
    status, out, _ = cli(capsys, "health", "flight", "--apps-path", str(env.apps_path), "--format", "prometheus")
    assert status == 2
    assert 'worker="tcp://node\\"a\\\\b\\nc:1"' in out  # the escapes as written on the wire
    samples = parse_prometheus(out)
    value = {(name, tuple(sorted(labels.items()))): number for name, labels, number in samples}
    app = ("app", "flight_project")
    assert value[("agi_service_gate_code", (app,))] == 2
    assert value[("agi_service_gate_passed", (app,))] == 0
    assert value[("agi_service_up", (app,))] == 0
    assert value[("agi_service_status", (app, ("status", "degraded")))] == 1
    assert value[("agi_service_status", (app, ("status", "idle")))] == 0
    assert value[("agi_service_worker_healthy", (app, ("worker", ODD_WORKER)))] == 0
    assert value[("agi_service_worker_healthy", (app, ("worker", WORKERS[0])))] == 1
    assert 25.0 <= value[("agi_service_worker_heartbeat_age_seconds", (app, ("worker", ODD_WORKER)))] < 35.0
    assert value[("agi_service_workers", (app, ("state", "unhealthy")))] == 1
    assert value[("agi_service_workers", (app, ("state", "healthy")))] == 1
    assert value[("agi_service_queue_tasks", (app, ("queue", "pending")))] == 0
    assert abs(value[("agi_service_snapshot_timestamp_seconds", (app,))] - time.time()) < 60


def test_prometheus_for_a_stopped_service_skips_unknown_ages(env: AgiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(
        capsys, "health", "flight", "--apps-path", str(env.apps_path), "--format", "prometheus", "--allow-idle"
    )
    names = {name for name, _, _ in parse_prometheus(out)}
    assert status == 0 and "agi_service_gate_code" in names
    assert not names & {
        "agi_service_worker_heartbeat_age_seconds",
        "agi_service_snapshot_timestamp_seconds",
        "agi_service_worker_healthy",
    }


def test_textfile_holds_what_stdout_shows_replacing_the_last_one_atomically(
    env: AgiEnv, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """node_exporter's textfile collector reads the file at any moment: it is replaced whole."""
    collector_dir = tmp_path / "textfile_collector"
    collector_dir.mkdir()
    path = collector_dir / "agi_flight.prom"
    path.write_text("# the previous check\n")
    serving(env)
    where = ["health", "flight", "--apps-path", str(env.apps_path), "--textfile", str(path)]
    status, out, _ = cli(capsys, *where, "--format", "prometheus")
    assert status == 0 and path.read_text() == out
    assert [entry.name for entry in collector_dir.iterdir()] == ["agi_flight.prom"]  # no temporary left
    beat(env, WORKERS[1], age=30.0, slot=1)
    status, out, _ = cli(capsys, *where)  # JSON on stdout; the metrics still go to the file
    assert status == 2 and json.loads(out)["gate"]["code"] == 2
    value = {(name, labels.get("worker")): number for name, labels, number in parse_prometheus(path.read_text())}
    assert value[("agi_service_gate_code", None)] == 2 and value[("agi_service_worker_healthy", WORKERS[1])] == 0


def test_an_unwritable_textfile_exits_1_before_stdout_says_anything(
    env: AgiEnv, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-dir" / "agi.prom"
    status, out, err = cli(
        capsys,
        "health",
        "flight",
        "--apps-path",
        str(env.apps_path),
        "--allow-idle",
        "--format",
        "prometheus",
        "--textfile",
        str(missing),
    )
    assert status == 1 and out == "" and "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"error: --textfile {missing}: cannot write the metrics (")


# ----- serve --------------------------------------------------------------------------------
def test_the_serve_summary_shows_status_queue_workers_and_restarts(env: AgiEnv) -> None:
    serving(env, restarted={WORKERS[1]: "loop-error"})
    beat(env, WORKERS[0], age=20.0)
    from agi_jupyter.core.service import read_health

    lines = format_snapshot(read_health(env)).splitlines()
    assert lines[0] == "flight_project: degraded (workers: 1 healthy, 1 unhealthy, 1 restarted)"
    assert lines[1] == "queue: pending 0, running 0, done 0, failed 0"
    assert lines[2].split() == ["worker", "healthy", "reason", "future_state", "heartbeat_state", "heartbeat_age_sec"]
    first, second = lines[3].split(), lines[4].split()
    assert first[:3] == [WORKERS[0], "no", first[2]] and first[2].startswith("stale-heartbeat(")
    assert first[3:5] == ["running", "running"] and 20.0 <= float(first[5]) < 30.0
    assert second[:5] == [WORKERS[1], "yes", "-", "running", "running"]
    assert lines[5] == f"restarted {WORKERS[1]}: loop-error"
    assert lines[6] == f"snapshot: {env.service_dir / 'health.json'}"


@pytest.fixture
def local_only(env: AgiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Serve on a local cluster of our own: the settings' scheduler is a loopback port this test
    holds without listening (so it refuses), and no Jupyter server of this machine is consulted."""
    runtime = tmp_path / "jupyter-runtime"
    runtime.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        AppSettings.load(env.settings_path).save({"cluster.scheduler": f"127.0.0.1:{held.getsockname()[1]}"})
        try:
            yield
        finally:
            cluster.close_local_cluster()
            serve_module.registry.clear()  # the started service's cluster is gone: forget it, as an exiting CLI does


def test_serve_start_then_health_reads_its_snapshot_then_stop(
    env: AgiEnv, local_only: None, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--apps-path", str(env.apps_path)]
    status, _, err = cli(capsys, "install", "flight", *where, "--modes", "4")
    assert status == 0, err
    status, out, err = cli(capsys, "serve", "flight", "start", *where, "--heartbeat-timeout", "2", "--json")
    assert status == 0, err
    started = json.loads(out)
    assert started["schema"] == "agi.service.health.v1" and started["status"] == "running"
    assert started["workers_healthy_count"] == 2 and started["heartbeat_timeout_sec"] == 2.0
    assert started["path"] == str(env.service_dir / "health.json")
    assert "using a local cluster" in err and "they end when it exits" in err
    workers = {row["worker"] for row in started["worker_health"]}
    assert all(worker.startswith("tcp://127.0.0.1:") for worker in workers)

    # the command returned, so its local cluster and the loops on it are gone: the monitor sees
    # the snapshot START wrote turn unhealthy once the loops' heartbeats are older than 2 s
    deadline = time.monotonic() + 20
    while True:
        status, payload, _ = health(capsys, env, "--allow-idle")
        assert payload["path"] == started["path"] and payload["app"] == "flight_project"
        assert {row["worker"] for row in payload["worker_health"]} == workers
        if status == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 2 and payload["status"] == "error" and payload["gate"]["code"] == 2
    for row in payload["worker_health"]:
        assert row["reason"] in ("missing-heartbeat", "loop-finished") or row["reason"].startswith("stale-heartbeat(")

    status, out, err = cli(capsys, "serve", "flight", "stop", *where, "--heartbeat-timeout", "2", "--close-cluster")
    assert status == 0, err
    assert out.splitlines()[0] == "flight_project: stopped (workers: 0 healthy, 0 unhealthy, 0 restarted)"
    assert "warning" not in err  # no loop beats any more
    assert health(capsys, env)[0] == 4 and health(capsys, env, "--allow-idle")[0] == 0


@pytest.fixture
def lasting_cluster() -> Iterator[str]:
    """A Dask cluster that outlives each command: the address a user gives with --scheduler."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.daemon": False}):
        started = LocalCluster(
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address="127.0.0.1:0",
            processes=True,
            threads_per_worker=1,
            n_workers=2,
        )
    try:
        yield started.scheduler_address
    finally:
        cluster.close_clients()
        started.close()


def test_serve_on_a_lasting_cluster_beats_passes_health_and_stops(
    env: AgiEnv, lasting_cluster: str, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ["--apps-path", str(env.apps_path), "--scheduler", lasting_cluster]
    status, _, err = cli(capsys, "install", "flight", *where, "--modes", "4")
    assert status == 0, err
    status, out, err = cli(capsys, "serve", "flight", "start", *where, "--heartbeat-timeout", "3", "--json")
    assert status == 0, err
    assert "the loops run on a Dask cluster this command did not start and outlive it" in err
    workers = sorted(row["worker"] for row in json.loads(out)["worker_health"])
    assert len(workers) == 2

    deadline = time.monotonic() + 30  # the loops set the app's worker up, then beat
    while True:
        status, payload, _ = health(capsys, env, "--allow-idle")
        beating = [row["heartbeat_state"] for row in payload["worker_health"]] == ["running", "running"]
        if (status == 0 and beating) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == 0 and beating and payload["status"] == "running", payload
    assert sorted(payload["workers_healthy"]) == workers and all(
        row["heartbeat_age_sec"] <= 3 for row in payload["worker_health"]
    )
    assert health(capsys, env)[0] == 0  # running with an empty queue passes the default gate

    status, out, err = cli(capsys, "serve", "flight", "status", *where, "--heartbeat-timeout", "3")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "flight_project: running (workers: 2 healthy, 0 unhealthy, 0 restarted)"
    assert sorted(line.split()[0] for line in lines[3:5]) == workers
    assert all(line.split()[1:4] == ["yes", "-", "running"] for line in lines[3:5])

    status, out, err = cli(capsys, "serve", "flight", "stop", *where, "--json")
    assert status == 0, err
    stopped = json.loads(out)
    assert stopped["status"] == "stopped" and sorted(stopped["stopped"]) == workers
    status, payload, _ = health(capsys, env)
    assert status == 4 and payload["status"] == "stopped"
    beats = read_heartbeats(queue_of(env).folder("heartbeats"))
    assert sorted(beats) == workers and {beat.state for beat in beats.values()} == {"stopped"}

    # loops another process started (it exits, they live on): this process adopts them from the
    # scheduler's record, shows them, and can stop them
    command = [sys.executable, "-m", "agi_jupyter.cli", "serve", "flight", "start", *where]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 30
    while True:
        status, out, err = cli(capsys, "serve", "flight", "status", *where, "--json")
        payload = json.loads(out) if status == 0 else {}
        if payload.get("workers_healthy_count") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == 0 and payload["status"] == "running" and sorted(payload["workers_healthy"]) == workers
    assert "still beat" not in err
    status, out, err = cli(capsys, "serve", "flight", "stop", *where, "--json")
    assert status == 0 and sorted(json.loads(out)["stopped"]) == workers
    beats = read_heartbeats(queue_of(env).folder("heartbeats"))
    assert {beat.state for beat in beats.values()} == {"stopped"}
