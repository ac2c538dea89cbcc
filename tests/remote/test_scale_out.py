"""Scale-out for real: the engine sets two SSH hosts up and runs, serves and stops across them.

Each host is a network namespace with its own sshd, Unix user and home (``remote_hosts``); the
scheduler listens on the gateway address of this machine, which both hosts reach. The share dir
stands for the shared storage such a cluster has (NFS): one folder every host user may write.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_helpers import SMALL, clear, output_dir, snapshot

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core import cluster
from agi_jupyter.core.deploy import read_launches
from agi_jupyter.core.errors import RunError
from agi_jupyter.core.settings import save_settings

from .hosts import RemoteLab

COMPILED_MODULE_FILE = "__import__('importlib').import_module('flight_worker_cython.flight_worker').__file__"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def shared_share() -> Iterator[Path]:
    """A share dir every host user may write (created files and folders open to all, as on a shared export)."""
    folder = Path(tempfile.mkdtemp(prefix="agi-remote-share-"))
    folder.chmod(0o777)
    previous = os.umask(0)
    try:
        yield folder
    finally:
        os.umask(previous)
        shutil.rmtree(folder, ignore_errors=True)


def use_lab(env: AgiEnv, lab: RemoteLab, slots: tuple[int, int] = (2, 1)) -> None:
    """Point the app at both hosts (``slots`` each), with the scheduler on the gateway."""
    first, second = lab.hosts
    save_settings(
        env.settings_path,
        {
            "cluster.scheduler": f"{lab.gateway}:{free_port()}",
            ("cluster", "workers"): {first.address: slots[0], second.address: slots[1]},
            "cluster.ssh_key_path": str(lab.key_path),
            "cluster.ssh_known_hosts": str(lab.known_hosts),
            **{
                ("cluster", "hosts", host.address): {
                    "ssh_user": host.user,
                    "ssh_port": host.port,
                    "remote_python": "/usr/bin/python3",
                }
                for host in lab.hosts
            },
        },
    )


@pytest.fixture
def lab_env(
    remote_hosts: RemoteLab, shared_share: Path, apps_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AgiEnv]:
    """The flight app set to run on both hosts (2 + 1 slots), the scheduler on the gateway."""
    monkeypatch.setenv("AGI_SHARE_DIR", str(shared_share))
    env = AgiEnv("flight", apps_path=apps_path)
    use_lab(env, remote_hosts)
    # Every host user writes the outputs into one folder: made here, open to all (umask 0), as on a
    # shared export where the hosts run as one cluster user; a host user's own folders would not be.
    output_dir(env, SMALL["flight"]).mkdir(parents=True, exist_ok=True)
    yield env
    cluster.close_clients()
    report = asyncio.run(AGI.cluster(env, "stop"))
    assert not any(row.running for row in report.processes)


def test_install_distribute_and_run_modes_4_to_7_across_two_hosts(lab_env: AgiEnv, remote_hosts: RemoteLab) -> None:
    env = lab_env
    lines: list[str] = []
    record = asyncio.run(AGI.install(env, modes_enabled=Mode.POOL | Mode.CYTHON | Mode.DASK, on_line=lines.append))
    first, second = remote_hosts.hosts
    launches = read_launches(f"tcp://{remote_hosts.gateway}:{env_port(env)}")
    names = sorted(p.name for p in launches.of("worker"))
    assert names == sorted([f"{first.address}#0", f"{first.address}#1", f"{second.address}#0"])
    assert len(record.dask_workers) == 3
    handle = cluster.select_client(f"{remote_hosts.gateway}:{env_port(env)}", required=True)
    compiled = handle.client.run(eval, COMPILED_MODULE_FILE)  # eval: a builtin, importable on every worker
    for address, path in compiled.items():  # each host imports the build it compiled itself
        host = next(h for h in remote_hosts.hosts if f"//{h.address}:" in address)
        assert path.startswith(f"{host.home}/wenv/agi_worker/builds/flight_worker_cython-") and path.endswith(".so")
    for host in remote_hosts.hosts:
        listing = remote_hosts.ssh(host, "ls ~/wenv/agi_worker/venv/bin/python && whoami")
        assert listing.returncode == 0 and host.user in listing.stdout
    folder = output_dir(env, SMALL["flight"])
    clear(folder)
    asyncio.run(AGI.run(env, RunRequest(mode=0, params=SMALL["flight"])))
    expected = snapshot(folder)
    assert expected
    for mode in (4, 5, 6, 7):
        clear(folder)
        result = asyncio.run(AGI.run(env, RunRequest(mode=mode, params=SMALL["flight"], pool_width=2)))
        assert result.nodes == 2
        assert snapshot(folder) == expected, f"mode {mode} differs from mode 0"


def env_port(env: AgiEnv) -> int:
    from agi_jupyter.core.settings import AppSettings, split_address

    scheduler = AppSettings.load(env.settings_path).cluster.scheduler
    assert scheduler
    return split_address(scheduler)[1] or 8786


def test_an_unchanged_host_is_skipped_and_another_process_adopts_the_workers_until_stop(
    lab_env: AgiEnv, remote_hosts: RemoteLab, apps_path: Path
) -> None:
    env = lab_env
    asyncio.run(AGI.cluster(env, "start"))
    asyncio.run(AGI.cluster(env, "stop"))
    lines: list[str] = []
    report = asyncio.run(AGI.cluster(env, "start", on_line=lines.append))
    for host in remote_hosts.hosts:
        assert any(line.startswith(f"{host.address}: worker environment unchanged") for line in lines), lines
    workers = [row for row in report.processes if row.role == "worker"]
    assert len(workers) == 3 and all(row.running for row in workers)
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
    command = [sys.executable, "-m", "agi_jupyter.cli", "run", "flight", "--apps-path", str(apps_path), "--mode", "4"]
    command += ["--arg", f"flights={SMALL['flight']['flights']}", "--json"]
    outcome = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, env=os.environ.copy())
    assert outcome.returncode == 0, outcome.stderr
    assert json.loads(outcome.stdout)["nodes"] == 2
    assert {p.pid for p in read_launches(report.scheduler).of("worker")} == {row.pid for row in workers}
    stop = [sys.executable, "-m", "agi_jupyter.cli", "cluster", "stop", "flight", "--apps-path", str(apps_path)]
    stopped = subprocess.run(stop, capture_output=True, text=True, timeout=120, check=False)
    assert stopped.returncode == 0, stopped.stderr
    for host in remote_hosts.hosts:
        pids = [str(row.pid) for row in workers if row.host == host.address]
        # a zombie waits for this machine's init to reap it: it runs nothing, so it does not count
        left = remote_hosts.ssh(
            host, f"ps -o stat=,pid= -p {','.join(pids)} | grep -v '^Z'; pgrep -u {host.user} -f distributed.cli"
        )
        assert left.stdout.strip() == "", f"{host.name} still runs: {left.stdout}; stop said {stopped.stdout}"


def test_the_service_starts_serves_and_stops_across_both_hosts(lab_env: AgiEnv, remote_hosts: RemoteLab) -> None:
    env = lab_env
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
    started = asyncio.run(AGI.serve(env, "start", params=SMALL["flight"]))
    deadline = time.monotonic() + 60  # a loop on a remote worker may still be pending when START answers
    while started["workers_running_count"] < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        started = asyncio.run(AGI.serve(env, "status"))
    assert started["workers_running_count"] == 3, {key: started[key] for key in started if "workers" in key}
    ids = asyncio.run(AGI.submit(env, params=SMALL["flight"]))
    deadline = time.monotonic() + 120
    status = started
    while time.monotonic() < deadline:
        status = asyncio.run(AGI.serve(env, "status"))
        if status["queue"]["done"] + status["queue"]["failed"] >= len(ids):
            break
        time.sleep(0.5)
    assert status["queue"]["done"] == len(ids) and status["queue"]["failed"] == 0, status["queue"]
    done = env.service_dir / "queue" / "done"
    hosts = {json.loads(path.read_text())["worker"].split("//")[1].rsplit(":", 1)[0] for path in done.glob("*.json")}
    assert hosts <= {host.address for host in remote_hosts.hosts} and hosts
    stopped = asyncio.run(AGI.serve(env, "stop"))
    assert stopped["status"] == "stopped"


def test_check_hosts_reports_every_item_per_host_and_what_to_do(lab_env: AgiEnv, remote_hosts: RemoteLab) -> None:
    from agi_jupyter.core.deploy.check import ITEMS, check_app_hosts

    asyncio.run(AGI.cluster(lab_env, "start"))
    checks = check_app_hosts(lab_env)
    for host in remote_hosts.hosts:
        mine = {check.item: check for check in checks if check.host == host.address}
        assert list(mine) == list(ITEMS)
        assert all(check.ok for check in mine.values()), [c for c in mine.values() if not c.ok]
        assert "MB free" in mine["disk"].detail and host.user in mine["auth"].detail
    save_settings(lab_env.settings_path, {"cluster.ssh_key_path": str(remote_hosts.key_path) + ".missing"})
    failed = {(check.host, check.item): check for check in check_app_hosts(lab_env)}
    first = remote_hosts.hosts[0].address
    assert not failed[(first, "reachable")].ok and "does not exist" in failed[(first, "reachable")].detail
    assert failed[(first, "python")].detail == "not checked: no SSH connection"
    assert failed[(first, "workers")].ok  # the workers still run: what the scheduler sees is checked anyway
    stopped = asyncio.run(AGI.cluster(lab_env, "stop"))
    kept = {row.host for row in stopped.processes if row.role == "worker"}
    assert kept == {host.address for host in remote_hosts.hosts}  # not reached (no key): kept, not forgotten
    save_settings(lab_env.settings_path, {"cluster.ssh_key_path": str(remote_hosts.key_path)})


GATED_WORKER = """
import os
import time

import pandas as pd

from agi_jupyter.worker import PandasWorker


class ProbeWorker(PandasWorker):
    def work_pool(self, item):
        folder = self.data_path(self.args.data_out)
        if item == "item0":
            (folder / ".started").write_text(str(os.getpid()))
            while not (folder / ".gate").exists():
                time.sleep(0.05)
        return pd.DataFrame({"item": [item], "pid": [os.getpid()]})
"""


def test_a_remote_worker_killed_mid_run_ends_the_run_naming_its_host_and_slot(
    remote_hosts: RemoteLab, shared_share: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGI_SHARE_DIR", str(shared_share))
    shutil.copytree(Path(__file__).parent.parent / "apps", tmp_path / "apps")
    env = AgiEnv("probe", apps_path=tmp_path / "apps")
    env.worker_path.write_text(GATED_WORKER)
    use_lab(env, remote_hosts, slots=(1, 1))
    folder = shared_share / "probe"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
        outcome: list[object] = []

        def run() -> None:
            try:
                outcome.append(asyncio.run(AGI.run(env, mode=Mode.DASK, params={"items": 2})))
            except Exception as error:  # noqa: BLE001 - examined below
                outcome.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not (folder / ".started").exists():
            assert time.monotonic() < deadline and thread.is_alive(), f"item0 never started: {outcome}"
            time.sleep(0.05)
        victim = (folder / ".started").read_text()
        owner = next(h for h in remote_hosts.hosts if remote_hosts.ssh(h, f"kill -0 {victim}").returncode == 0)
        assert remote_hosts.ssh(owner, f"kill -KILL {victim}").returncode == 0
        thread.join(180)
        assert not thread.is_alive(), "the run never ended after its worker was killed"
        result = outcome[0]
        if isinstance(result, Exception):
            assert isinstance(result, RunError), repr(result)
            assert f"//{owner.address}:" in str(result) and "(slot " in str(result) and "lost" in str(result)
        else:  # Dask retried the slot on the restarted worker of the same host
            assert sorted(Path(path).name for path in result.outputs) == ["item0.parquet", "item1.parquet"]
    finally:
        (folder / ".gate").write_text("")
        cluster.close_clients()
        asyncio.run(AGI.cluster(env, "stop"))


def test_a_scheduler_on_a_remote_host_is_started_there_over_ssh(
    remote_hosts: RemoteLab, shared_share: Path, apps_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGI_SHARE_DIR", str(shared_share))
    env = AgiEnv("flight", apps_path=apps_path)
    use_lab(env, remote_hosts, slots=(1, 1))
    first = remote_hosts.hosts[0]
    scheduler = f"{first.address}:{free_port()}"
    save_settings(env.settings_path, {"cluster.scheduler": scheduler})
    try:
        report = asyncio.run(AGI.cluster(env, "start"))
        assert report.answers and report.scheduler == f"tcp://{scheduler}"
        (started,) = [row for row in report.processes if row.role == "scheduler"]
        assert started.host == first.address and started.running
        on_host = remote_hosts.ssh(first, f"ps -o user:40=,args= -p {started.pid}")
        assert on_host.stdout.startswith(first.user) and "dask_scheduler" in on_host.stdout
        workers = {row.name for row in report.processes if row.role == "worker"}
        assert workers == {f"{host.address}#0" for host in remote_hosts.hosts}
    finally:
        cluster.close_clients()
        stopped = asyncio.run(AGI.cluster(env, "stop"))
    assert len(stopped.stopped) == 3 and not stopped.answers
