"""DOCTOR: every check passes on a good install, and each broken piece fails its own check."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.cli import main
from agi_jupyter.core.deploy import control
from agi_jupyter.core.doctor import Check, check_worker_hosts, probe_host, run_checks, summary
from agi_jupyter.core.settings import save_settings

NAMES = [
    "settings",
    "args",
    "scheduler",
    "worker hosts (SSH)",
    "worker environment",
    "install record",
    "compiled worker",
    "C compiler",
    "writable folders",
]


@pytest.fixture
def env(apps_path: Path) -> AgiEnv:
    """The flight app with dask and cython off (its shipped settings)."""
    return AgiEnv("flight", apps_path=apps_path)


@pytest.fixture
def installed(env: AgiEnv) -> AgiEnv:
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    return env


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port bound by this test but not listening: a connection there is refused."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def by_name(checks: list[Check]) -> dict[str, Check]:
    assert [check.name for check in checks] == NAMES  # one failure never hides the other checks
    return {check.name: check for check in checks}


def failed(checks: list[Check]) -> set[str]:
    return {check.name for check in checks if not check.ok}


def test_every_check_passes_after_a_good_install(installed: AgiEnv) -> None:
    checks = by_name(run_checks(installed))
    assert failed(list(checks.values())) == set(), summary(list(checks.values()))
    assert all(check.fix == "" for check in checks.values())
    assert checks["scheduler"].detail.startswith("dask disabled")
    assert checks["worker hosts (SSH)"].detail == "127.0.0.1 on this machine"
    assert str(installed.worker_python) in checks["worker environment"].detail
    assert summary(list(checks.values())).endswith("9 of 9 checks passed")


def test_malformed_settings_name_the_line(installed: AgiEnv) -> None:
    lines = installed.settings_path.read_text().splitlines()
    number = next(index for index, line in enumerate(lines, start=1) if line.startswith("flights ="))
    lines[number - 1] = "flights = = 48"
    installed.settings_path.write_text("\n".join(lines) + "\n")
    checks = by_name(run_checks(installed))
    assert not checks["settings"].ok
    assert f"line {number}" in checks["settings"].detail and str(installed.settings_path) in checks["settings"].detail
    assert f"correct line {number} of {installed.settings_path}" in checks["settings"].fix
    assert checks["writable folders"].ok and checks["worker environment"].ok


def test_an_invalid_argument_is_named(installed: AgiEnv) -> None:
    text = installed.settings_path.read_text()
    installed.settings_path.write_text(text.replace("flights = 48", "flights = 0"))
    checks = by_name(run_checks(installed))
    assert failed(list(checks.values())) == {"args"}
    assert "flights: Input should be greater than or equal to 1" in checks["args"].detail
    assert str(installed.settings_path) in checks["args"].fix


def test_an_unreachable_scheduler_fails_fast_with_the_command_to_start_one(installed: AgiEnv, silent_port: int) -> None:
    save_settings(
        installed.settings_path, {"cluster.cluster_enabled": True, "cluster.scheduler": f"127.0.0.1:{silent_port}"}
    )
    started = time.perf_counter()
    checks = by_name(run_checks(installed))
    assert time.perf_counter() - started < 3
    assert failed(list(checks.values())) == {"scheduler"}
    assert f"127.0.0.1:{silent_port}" in checks["scheduler"].detail
    assert f"dask scheduler --host 127.0.0.1 --port {silent_port}" in checks["scheduler"].fix


def test_a_host_that_does_not_answer_is_named(silent_port: int) -> None:
    problem = probe_host("127.0.0.1", silent_port, timeout=1.0)
    assert problem is not None and f"127.0.0.1:{silent_port}" in problem
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert probe_host("127.0.0.1", listener.getsockname()[1], timeout=1.0) is None


def test_worker_hosts_pass_for_a_loopback_only_app_without_contacting_anyone(
    env: AgiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agi_jupyter.core.deploy import check

    save_settings(env.settings_path, {"cluster.workers": {"127.0.0.1": 2, "localhost": 1}})
    monkeypatch.setattr(check, "check_app_hosts", lambda *_: pytest.fail("no host to check over SSH"))
    result = check_worker_hosts(env, timeout=1.0)
    assert result.ok and result.name == "worker hosts (SSH)" and result.detail == "127.0.0.1, localhost on this machine"


def test_a_worker_host_refusing_ssh_is_named_with_the_fix(
    env: AgiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """127.0.0.3 stands for another machine; its ssh_port is bound by this test but not listening."""
    original = control.is_this_machine
    monkeypatch.setattr(control, "is_this_machine", lambda host: host != "127.0.0.3" and original(host))
    with socket.socket() as holder:
        holder.bind(("127.0.0.3", 0))
        port = holder.getsockname()[1]
        save_settings(
            env.settings_path,
            {
                "cluster.workers": {"127.0.0.1": 1, "127.0.0.3": 1},
                "cluster.ssh_port": port,
                "cluster.ssh_known_hosts": str(tmp_path / "known_hosts"),
            },
        )
        started = time.perf_counter()
        checks = by_name(run_checks(env, timeout=1.0))
    assert time.perf_counter() - started < 10
    hosts = checks["worker hosts (SSH)"]
    assert not hosts.ok
    assert "127.0.0.3 reachable: " in hosts.detail and f"127.0.0.3:{port}: connection refused" in hosts.detail
    assert "127.0.0.3 auth, python, uv, disk, install: not checked" in hosts.detail
    assert "127.0.0.1" not in hosts.detail and str(env.settings_path) in hosts.detail
    assert "127.0.0.3 reachable: check that the host is up" in hosts.fix and "ssh_port" in hosts.fix
    assert "FAIL worker hosts (SSH): 127.0.0.3 reachable" in summary(list(checks.values()))


def test_without_an_install_the_worker_environment_and_record_fail(env: AgiEnv) -> None:
    checks = by_name(run_checks(env))
    assert failed(list(checks.values())) == {"worker environment", "install record"}
    assert str(env.worker_python) in checks["worker environment"].detail
    assert str(env.install_record_path) in checks["install record"].detail
    assert all("INSTALL" in checks[name].fix for name in ("worker environment", "install record"))


def test_a_malformed_install_record_is_named_with_its_field(installed: AgiEnv) -> None:
    record = json.loads(installed.install_record_path.read_text())
    installed.install_record_path.write_text(json.dumps({**record, "fingerprint": 7}))
    checks = by_name(run_checks(installed))
    detail = checks["install record"].detail
    assert not checks["install record"].ok and str(installed.install_record_path) in detail and "fingerprint" in detail
    assert "INSTALL" in checks["install record"].fix


def test_app_code_edited_after_install_names_the_file(installed: AgiEnv) -> None:
    installed.worker_path.write_text(installed.worker_path.read_text() + "\n# edited\n")
    checks = by_name(run_checks(installed))
    assert failed(list(checks.values())) == {"install record"}
    detail = checks["install record"].detail
    assert "changed since" in detail and "src/flight_worker/flight_worker.py" in detail
    assert "INSTALL" in checks["install record"].fix


def test_cython_enabled_but_not_built_fails_the_compiled_worker(installed: AgiEnv) -> None:
    save_settings(installed.settings_path, {"cluster.cython": True})
    checks = by_name(run_checks(installed))
    assert failed(list(checks.values())) == {"compiled worker"}
    assert str(installed.cython_dir) in checks["compiled worker"].detail
    assert "cython" in checks["compiled worker"].fix and "INSTALL" in checks["compiled worker"].fix
    assert checks["C compiler"].ok and checks["C compiler"].detail.startswith("/")


def test_a_folder_that_cannot_be_created_names_its_variable(
    installed: AgiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a regular file, not a folder")
    monkeypatch.setenv("AGI_LOG_DIR", str(blocker / "log"))
    checks = by_name(run_checks(installed))
    assert failed(list(checks.values())) == {"writable folders"}
    assert str(blocker / "log" / "execute" / "flight") in checks["writable folders"].detail
    assert "AGI_LOG_DIR" in checks["writable folders"].fix and "AGI_SHARE_DIR" not in checks["writable folders"].fix


def test_a_check_that_raises_becomes_a_failed_check(installed: AgiEnv) -> None:
    installed.pyproject_path.write_text("[project\n")
    checks = by_name(run_checks(installed))
    assert not checks["worker environment"].ok
    assert "invalid TOML" in checks["worker environment"].detail and checks["worker environment"].fix
    assert checks["writable folders"].ok and checks["settings"].ok


def test_doctor_command_exits_1_until_installed_then_0(apps_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "flight", "--apps-path", str(apps_path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and [check["name"] for check in report["checks"]] == NAMES
    assert main(["install", "flight", "--apps-path", str(apps_path), "--modes", "0"]) == 0
    capsys.readouterr()
    assert main(["doctor", "flight", "--apps-path", str(apps_path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("9 of 9 checks passed")
