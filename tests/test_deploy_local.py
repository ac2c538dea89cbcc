"""The engine starts the Dask scheduler and workers itself on this machine, and stops exactly those.

Real processes throughout: ``dask scheduler`` and ``dask worker`` started detached by the engine,
a second process (the command line) that adopts them, and pids checked in ``/proc``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import SMALL

from agi_jupyter import AGI, AgiEnv, ClusterRequest, Mode
from agi_jupyter.core import cluster
from agi_jupyter.core.deploy import probe, read_launches
from agi_jupyter.core.errors import ClusterError
from agi_jupyter.core.snippets import make_snippet


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def address(apps_path: Path) -> Iterator[str]:
    """A free loopback scheduler address; whatever the engine started there is stopped afterwards."""
    chosen = f"127.0.0.1:{free_port()}"
    yield chosen
    cluster.close_clients()
    env = AgiEnv("flight", apps_path=apps_path)
    report = asyncio.run(AGI.cluster(env, "stop", scheduler=chosen))
    assert not any(row.running for row in report.processes)


def cli(*arguments: str, apps_path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "agi_jupyter.cli", *arguments, "--apps-path", str(apps_path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_install_with_a_loopback_scheduler_nobody_runs_starts_it_and_the_workers(apps_path: Path, address: str) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    lines: list[str] = []
    record = asyncio.run(
        AGI.install(env, modes_enabled=Mode.DASK, scheduler=address, workers={"127.0.0.1": 2}, on_line=lines.append)
    )
    host, port = address.split(":")
    assert probe(host, int(port)) == "dask"
    launches = read_launches(f"tcp://{address}")
    assert [p.name for p in launches.of("worker")] == ["127.0.0.1#0", "127.0.0.1#1"]
    assert len(launches.of("scheduler")) == 1 and launches.of("scheduler")[0].app == "flight_project"
    for process in launches.processes:
        assert alive(process.pid) and os.getsid(process.pid) == process.pid  # detached: a session of its own
    assert len(record.dask_workers) == 2
    assert any(f"starting a Dask scheduler at tcp://{address}" in line for line in lines)
    result = asyncio.run(AGI.run(env, mode=Mode.DASK, params=SMALL["flight"], scheduler=address))
    assert set(result.worker_seconds) == {"127.0.0.1#0", "127.0.0.1#1"}


def test_a_second_process_runs_on_the_same_scheduler_and_workers_without_starting_new_ones(
    apps_path: Path, address: str
) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK, scheduler=address, workers={"127.0.0.1": 2}))
    before = read_launches(f"tcp://{address}").processes
    flights = json.dumps(SMALL["flight"]["flights"])
    outcome = cli(
        "run", "flight", "--mode", "4", "--scheduler", address, "--worker", "127.0.0.1=2",
        "--arg", f"flights={flights}", "--json", apps_path=apps_path,
    )  # fmt: skip
    assert outcome.returncode == 0, outcome.stderr
    assert json.loads(outcome.stdout)["chunks"] > 0
    assert read_launches(f"tcp://{address}").processes == before
    assert "starting a Dask" not in outcome.stderr and "started 0" not in outcome.stderr
    assert all(alive(process.pid) for process in before)


def test_what_the_engine_started_outlives_the_command_and_stop_ends_exactly_that(apps_path: Path, address: str) -> None:
    started = cli("cluster", "start", "flight", "--scheduler", address, "--worker", "127.0.0.1=1", apps_path=apps_path)
    assert started.returncode == 0, started.stderr
    recorded = read_launches(f"tcp://{address}").processes
    assert {p.role for p in recorded} == {"scheduler", "worker"} and all(alive(p.pid) for p in recorded)
    status = cli("cluster", "status", "flight", "--scheduler", address, "--json", apps_path=apps_path)
    rows = json.loads(status.stdout)["processes"]
    assert {(row["name"], row["running"]) for row in rows} == {(p.name, True) for p in recorded}
    stranger = subprocess.Popen(  # a worker somebody else started on the same scheduler
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            f"tcp://{address}",
            "--nthreads",
            "1",
            "--name",
            "theirs",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        stopped = cli("cluster", "stop", "flight", "--scheduler", address, "--json", apps_path=apps_path)
        assert stopped.returncode == 0, stopped.stderr
        assert len(json.loads(stopped.stdout)["stopped"]) == len(recorded)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(p.pid) for p in recorded):
            time.sleep(0.1)
        assert not any(alive(p.pid) for p in recorded)
        assert stranger.poll() is None  # never stopped: the engine did not start it
        assert not read_launches(f"tcp://{address}").processes
    finally:
        os.killpg(stranger.pid, signal.SIGKILL)
        stranger.wait()


def test_a_port_held_by_a_program_that_is_not_a_scheduler_is_a_clear_error(apps_path: Path) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    env = AgiEnv("flight", apps_path=apps_path)
    try:
        with pytest.raises(ClusterError) as raised:
            asyncio.run(AGI.install(env, modes_enabled=Mode.DASK, scheduler=f"127.0.0.1:{port}"))
    finally:
        server.close()
        for connection in accepted:
            connection.close()
    message = str(raised.value)
    assert f"port {port} on 127.0.0.1 is held by a program that is not a Dask scheduler" in message
    assert not read_launches(f"tcp://127.0.0.1:{port}").processes


def test_a_loopback_scheduler_from_the_settings_keeps_the_in_kernel_fallback(apps_path: Path) -> None:
    from agi_jupyter.core.settings import save_settings

    env = AgiEnv("flight", apps_path=apps_path)
    port = free_port()
    save_settings(env.settings_path, {"cluster.scheduler": f"127.0.0.1:{port}"})
    handle = cluster.client_for(env, ClusterRequest())
    assert handle.source == "local" and probe("127.0.0.1", port) == "free"
    assert not read_launches(f"tcp://127.0.0.1:{port}").processes


def test_worker_hosts_beyond_this_machine_cannot_use_a_loopback_scheduler(apps_path: Path, address: str) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    with pytest.raises(ClusterError, match=r"10\.9\.8\.7.*cannot reach the scheduler"):
        asyncio.run(AGI.cluster(env, "start", scheduler=address, workers={"10.9.8.7": 1}))


def test_the_cluster_snippet_renders_the_action_and_where() -> None:
    env = AgiEnv("flight")
    snippet = make_snippet(env, "cluster", ClusterRequest(action="start", scheduler="127.0.0.1:8786"))
    assert 'request = ClusterRequest(scheduler="127.0.0.1:8786", action="start")' in snippet.code
    assert "report = await AGI.cluster(env, request)" in snippet.code


def test_a_scheduler_address_without_a_port_means_the_dask_default_port() -> None:
    from agi_jupyter.core.deploy import Target
    from agi_jupyter.core.settings import ClusterSettings

    target = Target("127.0.0.1", {"127.0.0.1": 2}, "flight_project", ClusterSettings())
    assert (target.host, target.port, target.address) == ("127.0.0.1", 8786, "tcp://127.0.0.1:8786")
