"""The remote-host fixture itself: real sshd per namespace, own users, strict host keys, a clean teardown."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

from .hosts import LabBuilder, LabError, RemoteLab

HOSTS = [0, 1]


def _connect_command(address: str, port: int, send: str = "", receive: bool = False) -> str:
    """A shell command running Debian's python3 on a host: connect to address:port, send/print some bytes."""
    code = f"import socket; s = socket.create_connection(({address!r}, {port}), 5); "
    if send:
        code += f"s.sendall({send.encode()!r}); "
    if receive:
        code += "print(s.recv(64).decode().strip()); "
    code += "s.close()"
    return f'/usr/bin/python3 -c "{code}"'


@pytest.mark.parametrize("index", HOSTS)
def test_each_host_answers_as_its_own_user_with_its_own_home(remote_hosts: RemoteLab, index: int):
    host = remote_hosts.hosts[index]
    result = remote_hosts.ssh(host, 'whoami; echo "$HOME"; stat -c %U "$HOME"; pwd')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [host.user, str(host.home), host.user, str(host.home)]
    assert host.home.is_dir() and host.home.owner() == host.user


def test_hosts_are_distinct(remote_hosts: RemoteLab):
    h1, h2 = remote_hosts.hosts
    assert (h1.name, h2.name) == ("h1", "h2")
    assert len({h1.address, h2.address, remote_hosts.gateway}) == 3
    assert h1.port != h2.port, "each host has its own sshd port"
    assert h1.user != h2.user and h1.home != h2.home and h1.namespace != h2.namespace
    assert {h.namespace for h in remote_hosts.hosts} <= set(
        subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    )


@pytest.mark.parametrize(("source", "target"), [(0, 1), (1, 0)])
def test_a_host_reaches_the_other_hosts_sshd(remote_hosts: RemoteLab, source: int, target: int):
    other = remote_hosts.hosts[target]
    result = remote_hosts.ssh(remote_hosts.hosts[source], _connect_command(other.address, other.port, receive=True))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("SSH-2.0-OpenSSH"), result.stdout


@pytest.mark.parametrize("index", HOSTS)
def test_a_host_reaches_a_listener_on_the_gateway(remote_hosts: RemoteLab, index: int):
    host = remote_hosts.hosts[index]
    with socket.create_server((remote_hosts.gateway, 0)) as server:
        server.settimeout(10)
        port = server.getsockname()[1]
        result = remote_hosts.ssh(host, _connect_command(remote_hosts.gateway, port, send=f"hello from {host.name}"))
        assert result.returncode == 0, result.stderr
        connection, peer = server.accept()
        with connection:
            connection.settimeout(10)
            assert connection.recv(64) == f"hello from {host.name}".encode()
    assert peer[0] == host.address


def test_the_root_namespace_reaches_no_host_port_it_was_not_given(remote_hosts: RemoteLab):
    """Only sshd listens on a host, and only on its own address and port."""
    host = remote_hosts.hosts[0]
    with pytest.raises(OSError):
        socket.create_connection((host.address, host.port + 1), 5).close()


def test_an_unknown_host_key_is_refused(remote_hosts: RemoteLab, tmp_path: Path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    argv = remote_hosts.ssh_argv(remote_hosts.hosts[0], "true", known_hosts=empty)
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr
    assert empty.read_text() == "", "strict checking never learns a key"


def test_a_host_key_pinned_for_another_host_is_refused(remote_hosts: RemoteLab, tmp_path: Path):
    h1, h2 = remote_hosts.hosts
    pinned = remote_hosts.known_hosts.read_text().splitlines()
    h1_key = next(line for line in pinned if line.startswith(f"[{h1.address}]"))
    swapped = tmp_path / "known_hosts"
    swapped.write_text(h1_key.replace(f"[{h1.address}]:{h1.port}", f"[{h2.address}]:{h2.port}") + "\n")
    result = subprocess.run(
        remote_hosts.ssh_argv(h2, "true", known_hosts=swapped),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_keys_and_known_hosts(remote_hosts: RemoteLab):
    key = remote_hosts.key_path.stat()
    assert stat.S_IMODE(key.st_mode) == 0o600 and key.st_uid == 0
    assert remote_hosts.key_path.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert stat.S_IMODE(remote_hosts.key_path.parent.stat().st_mode) == 0o700
    lines = remote_hosts.known_hosts.read_text().splitlines()
    assert [line.split()[:2] for line in lines] == [
        [f"[{host.address}]:{host.port}", "ssh-ed25519"] for host in remote_hosts.hosts
    ]


@pytest.mark.parametrize("index", HOSTS)
def test_a_host_runs_debians_python_311(remote_hosts: RemoteLab, index: int):
    result = remote_hosts.ssh(remote_hosts.hosts[index], "/usr/bin/python3 -V")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Python 3.11."), result.stdout


def test_a_host_user_cannot_read_root(remote_hosts: RemoteLab):
    """The kernel's own files under /root are out of a host user's reach, as on a real remote host."""
    result = remote_hosts.ssh(remote_hosts.hosts[0], "ls /root")
    assert result.returncode != 0
    assert "Permission denied" in result.stderr


def test_a_host_has_no_route_out(remote_hosts: RemoteLab):
    result = remote_hosts.ssh(remote_hosts.hosts[0], "ip -4 route")
    assert result.returncode == 0, result.stderr
    assert "default" not in result.stdout
    assert result.stdout.split()[0] == remote_hosts.gateway.rpartition(".")[0] + ".0/24"


# -- teardown: a lab of its own (not the session's), built and torn down here ---------------------------


def _netns_list() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, check=False).returncode == 0


def _user_exists(name: str) -> bool:
    return subprocess.run(["getent", "passwd", name], capture_output=True, check=False).returncode == 0


def _is_sshd(pid: int) -> bool:
    try:
        return "sshd" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def _assert_gone(builder: LabBuilder, uids: list[int]) -> None:
    netns = _netns_list()
    assert not [ns for ns in builder.namespaces if ns in netns]
    assert builder.bridge is not None and not _link_exists(builder.bridge)
    assert not [veth for veth in builder.veths if _link_exists(veth)]
    assert not [user for user in builder.users if _user_exists(user)]
    assert not [home for home in builder.homes if home.exists()]
    assert not [process.pid for process, _ in builder.sshd if _is_sshd(process.pid)]
    for uid in uids:
        assert subprocess.run(["pgrep", "-u", str(uid)], capture_output=True, check=False).returncode == 1
    assert builder.workdir is not None and not builder.workdir.exists()
    assert builder.leftovers() == []


def test_teardown_leaves_nothing_behind(remote_lab_available: None):
    builder = LabBuilder()
    try:
        lab = builder.build(2)
        # a session that outlives its connection (a background sleeper) must go too
        started = lab.ssh(lab.hosts[0], "nohup sleep 600 >/dev/null 2>&1 </dev/null & echo started")
        assert started.stdout.strip() == "started", started.stderr
        assert [ns for ns in builder.namespaces if ns in _netns_list()] == [host.namespace for host in lab.hosts]
        assert _link_exists(lab.bridge) and all(_link_exists(host.veth) for host in lab.hosts)
        assert all(_user_exists(host.user) and _is_sshd(host.sshd_pid) for host in lab.hosts)
        assert builder.workdir is not None
        assert [int((builder.workdir / f"{host.name}_sshd.pid").read_text()) for host in lab.hosts] == [
            host.sshd_pid for host in lab.hosts
        ], "sshd_pid is the pid sshd itself writes"
        uids = [host.home.stat().st_uid for host in lab.hosts]
    finally:
        builder.teardown()
    _assert_gone(builder, uids)
    builder.teardown()  # a second call is harmless


def test_a_build_that_fails_halfway_is_torn_down(remote_lab_available: None, monkeypatch: pytest.MonkeyPatch):
    builder = LabBuilder()
    add_host = builder._add_host
    calls = []

    def failing_second_host(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise LabError("injected failure while adding h2")
        return add_host(*args, **kwargs)

    monkeypatch.setattr(builder, "_add_host", failing_second_host)
    try:
        with pytest.raises(LabError, match="injected"):
            builder.build(2)
        assert len(builder.namespaces) == 1 and len(builder.users) == 1
        uids = list(builder.users.values())
    finally:
        builder.teardown()
    _assert_gone(builder, uids)


def test_not_root_is_a_reason(monkeypatch: pytest.MonkeyPatch):
    from . import hosts

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(hosts, "SSHD", Path("/nonexistent/sshd"))
    reason = hosts.unavailable_reason()
    assert reason is not None and "not root" in reason and "openssh-server" in reason
