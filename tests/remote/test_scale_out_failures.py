"""Each way reaching or setting up a worker host can fail gives a message naming the host and what to do."""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_jupyter import AGI, AgiEnv
from agi_jupyter.core import cluster
from agi_jupyter.core.errors import ClusterError
from agi_jupyter.core.settings import save_settings

from .hosts import RemoteHost, RemoteLab
from .test_scale_out import free_port


@pytest.fixture
def one_host(remote_hosts: RemoteLab, apps_path: Path) -> Iterator[tuple[AgiEnv, RemoteHost]]:
    """The flight app with host h1 as its only worker host, reached as the lab's fixture says."""
    env = AgiEnv("flight", apps_path=apps_path)
    host = remote_hosts.hosts[0]
    save_settings(
        env.settings_path,
        {
            "cluster.scheduler": f"{remote_hosts.gateway}:{free_port()}",
            ("cluster", "workers"): {host.address: 1},
            "cluster.ssh_key_path": str(remote_hosts.key_path),
            "cluster.ssh_known_hosts": str(remote_hosts.known_hosts),
            "cluster.ssh_timeout": 3,
            ("cluster", "hosts", host.address): {
                "ssh_user": host.user,
                "ssh_port": host.port,
                "remote_python": "/usr/bin/python3",
            },
        },
    )
    yield env, host
    cluster.close_clients()
    asyncio.run(AGI.cluster(env, "stop"))


def start(env: AgiEnv) -> str:
    with pytest.raises(ClusterError) as raised:
        asyncio.run(AGI.cluster(env, "start"))
    return str(raised.value)


def test_an_unreachable_host_is_named_with_the_wait(
    remote_hosts: RemoteLab, one_host: tuple[AgiEnv, RemoteHost]
) -> None:
    env, _ = one_host
    nobody = remote_hosts.gateway.rsplit(".", 1)[0] + ".250"  # in the lab's subnet, no host there
    save_settings(env.settings_path, {("cluster", "workers"): {nobody: 1}})
    message = start(env)
    assert nobody in message and "3 s" in message
    assert "unreachable" in message or "no SSH answer" in message


def test_a_refused_key_is_an_authentication_error_naming_the_user(
    one_host: tuple[AgiEnv, RemoteHost], tmp_path: Path
) -> None:
    env, host = one_host
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    save_settings(env.settings_path, {"cluster.ssh_key_path": str(stranger)})
    message = start(env)
    assert f"{host.user}@{host.address}:{host.port}" in message
    assert "authentication refused" in message and "authorized_keys" in message


def test_an_unknown_host_key_is_refused_and_trust_on_first_use_records_it(
    one_host: tuple[AgiEnv, RemoteHost], tmp_path: Path
) -> None:
    env, host = one_host
    known = tmp_path / "known_hosts"
    known.write_text("")
    save_settings(env.settings_path, {"cluster.ssh_known_hosts": str(known)})
    message = start(env)
    assert "host key is not known" in message and "ssh_trust_new_hosts" in message and "ssh-keyscan" in message
    save_settings(env.settings_path, {"cluster.ssh_trust_new_hosts": True})
    report = asyncio.run(AGI.cluster(env, "start"))
    assert any(row.running and row.host == host.address for row in report.processes)
    assert f"[{host.address}]:{host.port} ssh-ed25519 " in known.read_text()


def test_a_changed_host_key_is_refused_even_with_trust_on(
    remote_hosts: RemoteLab, one_host: tuple[AgiEnv, RemoteHost], tmp_path: Path
) -> None:
    env, host = one_host
    other = remote_hosts.hosts[1]
    lines = remote_hosts.known_hosts.read_text().splitlines()
    other_key = next(line for line in lines if line.startswith(f"[{other.address}]:{other.port} "))
    known = tmp_path / "known_hosts"
    known.write_text(other_key.replace(f"[{other.address}]:{other.port}", f"[{host.address}]:{host.port}") + "\n")
    save_settings(env.settings_path, {"cluster.ssh_known_hosts": str(known), "cluster.ssh_trust_new_hosts": True})
    message = start(env)
    assert "DIFFERS" in message and host.address in message


def test_a_missing_remote_python_says_how_to_get_one(one_host: tuple[AgiEnv, RemoteHost]) -> None:
    env, host = one_host
    save_settings(env.settings_path, {("cluster", "hosts", host.address, "remote_python"): "python3.97"})
    message = start(env)
    assert "no python3.97 there" in message and "offline" in message and "remote_python" in message


@pytest.fixture
def tiny_disk(one_host: tuple[AgiEnv, RemoteHost]) -> Iterator[Path]:
    """A 16 MB file system owned by h1's user, too small for the worker environment.

    Mounted inside h1's own mount namespace (that of its sshd, which ``ip netns exec`` gave one),
    so h1 sees it and this machine does not.
    """
    _, host = one_host
    folder = Path(tempfile.mkdtemp(prefix="agi-tiny-disk-"))
    folder.chmod(0o755)
    inside = ["nsenter", "-t", str(host.sshd_pid), "-m", "--"]
    subprocess.run([*inside, "mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", str(folder)], check=True)
    try:
        subprocess.run([*inside, "chown", host.user, str(folder)], check=True)
        yield folder
    finally:
        subprocess.run([*inside, "umount", "-l", str(folder)], check=False)
        folder.rmdir()


def test_a_full_remote_disk_is_named(one_host: tuple[AgiEnv, RemoteHost], tiny_disk: Path) -> None:
    env, host = one_host
    save_settings(env.settings_path, {("cluster", "hosts", host.address, "worker_env_root"): str(tiny_disk)})
    message = start(env)
    assert host.address in message and "remote disk is full" in message
