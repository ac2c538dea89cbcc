"""The Settings tab's SSH and worker hosts section: fields, validation, merge-only saves, CHECK HOSTS.

Only loopback addresses are used: a "remote" host is 127.0.0.3 with the SSH check told it is not
this machine, and its ssh_port a local port nobody listens on, so the connection is refused.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.deploy import control
from agi_jupyter.core.deploy.check import check_hosts
from agi_jupyter.core.settings import AppSettings, ClusterSettings, save_settings
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.settings_tab import SettingsTab

REMOTE = "127.0.0.3"


@pytest.fixture
def context(apps_path: Path) -> Context:
    return Context(AgiEnv("flight", apps_path=apps_path), cell_id=None)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port bound on the "remote" loopback address but not listening: SSH there is refused."""
    with socket.socket() as holder:
        holder.bind((REMOTE, 0))
        yield holder.getsockname()[1]


@pytest.fixture
def remote_is_not_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.3 counts as another machine for the host checks (every other loopback stays local)."""
    original = control.is_this_machine
    monkeypatch.setattr(control, "is_this_machine", lambda host: host != REMOTE and original(host))


def test_the_ssh_fields_show_the_saved_values_and_the_defaults_as_placeholders(
    context: Context, tmp_path: Path
) -> None:
    key = tmp_path / "id_test"
    key.write_text("not a real key")
    save_settings(
        context.env.settings_path,
        {
            "cluster.launch": True,
            "cluster.ssh_user": "agi",
            "cluster.ssh_port": 2222,
            "cluster.ssh_key_path": str(key),
            "cluster.ssh_trust_new_hosts": True,
            "cluster.ssh_timeout": 4.5,
            "cluster.worker_env_root": "/srv/agi",
            ("cluster", "hosts", "10.0.0.7"): {"ssh_port": 2200, "remote_python": "python3.12"},
        },
    )
    ssh = SettingsTab(context).ssh
    shown = {key: row.text.value for key, row in ssh.rows.items()}
    assert shown == {
        "ssh_user": "agi",
        "ssh_port": "2222",
        "ssh_key_path": str(key),
        "ssh_known_hosts": "",
        "ssh_timeout": "4.5",
        "remote_python": "",
        "worker_env_root": "/srv/agi",
    }
    assert ssh.launch.value is True and ssh.trust.value is True
    assert ssh.rows["ssh_known_hosts"].text.placeholder == "default: ~/.ssh/known_hosts"
    assert all(row.text.tooltip for row in ssh.rows.values()) and ssh.check.tooltip
    # the per-host overrides: bold where [cluster.hosts."10.0.0.7"] sets them, loopback needs no SSH
    assert "10.0.0.7" in ssh.hosts.value and "<b>2200</b>" in ssh.hosts.value and "<b>python3.12</b>" in ssh.hosts.value
    assert "this machine: no SSH" in ssh.hosts.value


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("ssh_port", "70000", "ssh_port: '70000' must be a whole number from 1 to 65535"),
        ("ssh_port", "twenty-two", "ssh_port: 'twenty-two' must be a whole number"),
        ("ssh_key_path", "/nowhere/id_ed25519", "ssh_key_path: the key file /nowhere/id_ed25519 does not exist"),
        ("ssh_timeout", "0", "ssh_timeout: '0' must be more than 0"),
        ("ssh_user", "bob smith", "ssh_user: 'bob smith' is not a user name"),
        ("worker_env_root", "~/wenv", "worker_env_root: '~/wenv': give a path relative"),
    ],
)
def test_a_bad_value_names_the_field_and_saves_nothing(context: Context, key: str, text: str, message: str) -> None:
    ssh = SettingsTab(context).ssh
    before = context.env.settings_path.read_text()
    ssh.rows[key].text.value = text
    assert list(ssh.errors()) == [key]
    assert ssh.errors()[key].startswith("not saved: ") and message in ssh.errors()[key]
    assert context.env.settings_path.read_text() == before


def test_a_good_save_writes_exactly_those_keys_and_keeps_the_rest(context: Context, tmp_path: Path) -> None:
    path = context.env.settings_path
    before = path.read_text()
    key = tmp_path / "id_ed25519"
    key.write_text("not a real key")
    ssh = SettingsTab(context).ssh
    ssh.rows["ssh_user"].text.value = "agi"
    ssh.rows["ssh_port"].text.value = "2222"
    ssh.rows["ssh_key_path"].text.value = str(key)
    ssh.rows["ssh_timeout"].text.value = "5"
    ssh.launch.value = True
    assert ssh.errors() == {} and ssh.rows["ssh_port"].error.text == "saved"
    added = f'ssh_user = "agi"\nssh_port = 2222\nssh_key_path = "{key}"\nssh_timeout = 5\nlaunch = true\n'
    assert path.read_text() == before.replace("verbose = 1\n", "verbose = 1\n" + added)
    cluster = AppSettings.load(path).cluster
    assert (cluster.ssh_user, cluster.ssh_port, cluster.ssh_timeout, cluster.launch) == ("agi", 2222, 5.0, True)
    # emptied again: the key goes, the default applies, and the file is as it was
    for name in ("ssh_user", "ssh_port", "ssh_key_path", "ssh_timeout"):
        ssh.rows[name].text.value = ""
    ssh.launch.value = False
    assert path.read_text() == before.replace("verbose = 1\n", "verbose = 1\nlaunch = false\n")
    assert "default (22)" in ssh.rows["ssh_port"].error.text


def test_a_missing_known_hosts_file_is_saved_with_a_warning(context: Context, tmp_path: Path) -> None:
    ssh = SettingsTab(context).ssh
    ssh.rows["ssh_known_hosts"].text.value = str(tmp_path / "known_hosts")
    assert (
        ssh.rows["ssh_known_hosts"].error.kind == "warn"
        and "does not exist yet" in ssh.rows["ssh_known_hosts"].error.text
    )
    assert AppSettings.load(context.env.settings_path).cluster.ssh_known_hosts == str(tmp_path / "known_hosts")


def test_check_hosts_on_a_loopback_app_shows_reachable_and_workers_rows(context: Context) -> None:
    ssh = SettingsTab(context).ssh
    ssh.check.click()
    context.actions.wait()
    assert not ssh.check.disabled
    rows = [(check.host, check.item, check.ok) for check in ssh.last_host_checks]
    assert rows == [("127.0.0.1", "reachable", True), ("127.0.0.1", "workers", True)]  # no scheduler configured
    assert "this machine: no SSH needed" in ssh.results.value
    assert "no scheduler configured: dask mode uses the engine&#x27;s local cluster" in ssh.results.value
    assert "<th>fix</th>" in ssh.results.value and "✓" in ssh.results.value and "✗" not in ssh.results.value
    assert "check_app_hosts(env)" in ssh.code.value


def test_check_hosts_disables_its_button_while_it_runs(context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from agi_jupyter.core.deploy import check

    release = threading.Event()
    monkeypatch.setattr(check, "check_app_hosts", lambda env, timeout=2.0: release.wait(10) and [])
    ssh = SettingsTab(context).ssh
    ssh.check.click()
    assert ssh.check.disabled and "checking" in ssh.status.text and "checking" in ssh.results.value
    release.set()
    context.actions.wait()
    assert not ssh.check.disabled and ssh.last_host_checks == []


def test_check_hosts_names_a_refused_remote_host(
    context: Context, silent_port: int, remote_is_not_here: None, tmp_path: Path
) -> None:
    save_settings(
        context.env.settings_path,
        {
            "cluster.workers": {REMOTE: 1},
            "cluster.ssh_port": silent_port,
            "cluster.ssh_known_hosts": str(tmp_path / "known_hosts"),
        },
    )
    ssh = SettingsTab(context).ssh
    ssh.check.click()
    context.actions.wait()
    checks = {check.item: check for check in ssh.last_host_checks}
    assert list(checks) == ["reachable", "auth", "python", "uv", "disk", "install", "workers"]
    assert not checks["reachable"].ok and "connection refused" in checks["reachable"].detail
    assert f"{REMOTE}:{silent_port}" in checks["reachable"].detail and "ssh_port" in checks["reachable"].fix
    assert "connection refused" in ssh.results.value and "fail" in ssh.status.text


def test_check_hosts_engine_side_with_cluster_settings(
    silent_port: int, remote_is_not_here: None, tmp_path: Path
) -> None:
    settings = ClusterSettings(ssh_port=silent_port, ssh_known_hosts=str(tmp_path / "known_hosts"), ssh_timeout=3.0)
    checks = check_hosts(settings, {REMOTE: 1, "127.0.0.1": 1}, connected={"127.0.0.1": 1})
    assert [(check.host, check.item, check.ok) for check in checks if check.item in ("reachable", "workers")] == [
        (REMOTE, "reachable", False),
        (REMOTE, "workers", False),
        ("127.0.0.1", "reachable", True),
        ("127.0.0.1", "workers", True),
    ]
