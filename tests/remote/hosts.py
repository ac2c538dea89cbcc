"""Real "remote hosts" on this one machine, reached over SSH.

A lab is ONE Linux bridge in the root namespace holding the gateway address, and per host a network
namespace whose veth peer sits on that bridge, running Debian's ``/usr/sbin/sshd`` on its own port
for its own fresh Unix user. The hosts reach the gateway and each other, the root namespace reaches
the hosts, and nothing else: the namespaces have no default route.

Everything the builder makes is recorded the moment it exists, and :meth:`LabBuilder.teardown`
removes exactly those things (never an interface, user or process it did not make), so call it
whatever happens, also when :meth:`LabBuilder.build` raises. Needs root, ``ip``, ``sshd`` and
``ssh-keygen`` (see :func:`unavailable_reason`).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

SSHD = Path("/usr/sbin/sshd")
SSHD_PRIVSEP_DIR = Path("/run/sshd")
HOST_PYTHON = Path("/usr/bin/python3")  # Debian's: the one a host runs (the kernel's may live under /root)
TOOLS = ("ip", "ssh", "ssh-keygen", "useradd", "usermod", "userdel", "pkill", "pgrep")
PORTS = range(20000, 30000)  # each host's sshd port is drawn from here, a different one per host
START_TIMEOUT = 20.0  # seconds for every sshd of a lab to accept a login
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])


class LabError(RuntimeError):
    """Building or tearing down a lab went wrong (the message says what)."""


@dataclass(frozen=True)
class RemoteHost:
    name: str  # "h1", "h2"
    address: str  # the host's IP inside its namespace
    port: int  # its sshd port
    user: str  # its own Unix user
    home: Path  # that user's home (fresh, made by useradd -m)
    namespace: str  # the netns name
    sshd_pid: int
    veth: str  # the root-side end of its veth pair (on the bridge)


@dataclass(frozen=True)
class RemoteLab:
    hosts: tuple[RemoteHost, ...]
    gateway: str  # the root-namespace address every host reaches (where a Dask scheduler would listen)
    key_path: Path  # client private key (ed25519, mode 600, no passphrase)
    known_hosts: Path  # pins each host's key as "[address]:port ssh-ed25519 ..."
    bridge: str  # the bridge holding the gateway address

    def ssh_argv(self, host: RemoteHost, command: str, *, known_hosts: Path | None = None) -> list[str]:
        """The ssh command line that runs ``command`` on ``host`` as its user (no config, strict host keys)."""
        return [
            _tool("ssh"),
            "-F",
            "/dev/null",
            "-i",
            str(self.key_path),
            "-o",
            f"UserKnownHostsFile={known_hosts or self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-p",
            str(host.port),
            f"{host.user}@{host.address}",
            command,
        ]

    def ssh(self, host: RemoteHost, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` over SSH; the result holds the exit code, stdout and stderr."""
        return subprocess.run(
            self.ssh_argv(host, command),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def unavailable_reason() -> str | None:
    """Why a lab cannot be built here (not root, a tool missing), or None when it can."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not root (network namespaces and users need root)")
    if not os.access(SSHD, os.X_OK):
        problems.append(f"{SSHD} missing (apt-get install openssh-server)")
    missing = [tool for tool in TOOLS if shutil.which(tool, path=_SEARCH_PATH) is None]
    if missing:
        problems.append("missing " + ", ".join(missing) + " (apt-get install openssh-client iproute2 passwd procps)")
    return "; ".join(problems) or None


def _tool(name: str) -> str:
    return shutil.which(name, path=_SEARCH_PATH) or name


def _run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [_tool(argv[0]), *argv[1:]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` exited {result.returncode}: {result.stderr.strip()}")
    return result


def _run_retrying(*argv: str, attempts: int = 10) -> subprocess.CompletedProcess[str]:
    """useradd/userdel fail while another process holds /etc/passwd's lock: try again for a while."""
    for _ in range(attempts - 1):
        result = _run(*argv, check=False)
        if result.returncode == 0 or "lock" not in result.stderr:
            break
        time.sleep(0.2)
    else:
        result = _run(*argv, check=False)
    if result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` exited {result.returncode}: {result.stderr.strip()}")
    return result


def _keygen(path: Path, comment: str) -> str:
    """Make an ed25519 key pair without passphrase (private part mode 600); return the public line."""
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))
    path.chmod(0o600)
    return path.with_name(path.name + ".pub").read_text().strip()


def _networks_in_use(ignore_dev: str) -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace has an address or a route in (except on ``ignore_dev``)."""
    networks = []
    for link in json.loads(_run("ip", "-j", "-4", "addr", "show").stdout or "[]"):
        if link.get("ifname") == ignore_dev:
            continue
        for info in link.get("addr_info", []):
            networks.append(ipaddress.ip_network(f"{info['local']}/{info['prefixlen']}", strict=False))
    for route in json.loads(_run("ip", "-j", "-4", "route", "show", "table", "all").stdout or "[]"):
        dst = route.get("dst", "default")
        if dst != "default" and route.get("dev") != ignore_dev:
            networks.append(ipaddress.ip_network(dst, strict=False))
    return [network for network in networks if isinstance(network, ipaddress.IPv4Network)]


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a process from a later one reusing its pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def _alive(pid: int, start_time: str | None) -> bool:
    now = _start_time(pid)
    return now is not None and now == start_time


def _kill_in_namespace(namespace: str, deadline: float) -> list[int]:
    """SIGKILL every process inside ``namespace`` until none is left; return the pids still there."""
    try:
        target = f"net:[{os.stat(f'/run/netns/{namespace}').st_ino}]"
    except OSError:
        return []
    while True:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "ns" / "net") != target:
                    continue
                # a pidfd pins the process: re-check that it is still the one in our namespace, then signal it
                pidfd = os.pidfd_open(int(entry.name))
            except OSError:
                continue
            try:
                if os.readlink(entry / "ns" / "net") == target:
                    pids.append(int(entry.name))
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except OSError:
                pass
            finally:
                os.close(pidfd)
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


class LabBuilder:
    """Builds one lab and tears down exactly what it built (idempotent; also registered with atexit)."""

    def __init__(self) -> None:
        self.suffix = secrets.token_hex(3)
        self.workdir: Path | None = None
        self.bridge: str | None = None
        self.veths: list[str] = []
        self.namespaces: list[str] = []
        self.users: dict[str, int] = {}  # name -> uid
        self.homes: list[Path] = []
        self.sshd: list[tuple[subprocess.Popen[bytes], str | None]] = []  # process, its start time
        self.lab: RemoteLab | None = None
        self._torn_down = False
        self._lock = threading.Lock()
        atexit.register(self.teardown)

    # -- building ---------------------------------------------------------------------------------

    def build(self, count: int = 2) -> RemoteLab:
        """Make ``count`` hosts, wait until each sshd accepts a login, and return the lab."""
        if self.lab is not None or self._torn_down or self.workdir is not None:
            raise LabError("a LabBuilder builds one lab, once")
        reason = unavailable_reason()
        if reason:
            raise LabError(f"cannot build a lab here: {reason}")
        self.workdir = Path(tempfile.mkdtemp(prefix=f"agi-remote-lab-{self.suffix}-"))  # mode 700, root's
        key_path = self.workdir / "client_ed25519"
        client_public = _keygen(key_path, f"agi-remote-lab-{self.suffix}")
        bridge = f"agibr{self.suffix}"
        _run("ip", "link", "add", bridge, "type", "bridge")
        self.bridge = bridge
        _run("ip", "link", "set", bridge, "up")
        network = self._claim_subnet(bridge)
        ports = random.sample(PORTS, count)
        hosts = [
            self._add_host(index, str(network[index + 2]), port, client_public) for index, port in enumerate(ports)
        ]
        known_hosts = self.workdir / "known_hosts"
        known_hosts.write_text("".join(f"[{host.address}]:{host.port} {key}\n" for host, key in hosts))
        known_hosts.chmod(0o600)
        lab = RemoteLab(
            hosts=tuple(host for host, _ in hosts),
            gateway=str(network[1]),
            key_path=key_path,
            known_hosts=known_hosts,
            bridge=bridge,
        )
        self._wait_until_serving(lab)
        self.lab = lab
        return lab

    def _claim_subnet(self, bridge: str) -> ipaddress.IPv4Network:
        """Put the gateway address of a free 10.x.y.0/24 on the bridge (re-checked after, as labs may race)."""
        for _ in range(30):
            network = ipaddress.IPv4Network(f"10.{random.randint(200, 254)}.{random.randint(0, 255)}.0/24")
            if any(network.overlaps(used) for used in _networks_in_use(bridge)):
                continue
            _run("ip", "addr", "add", f"{network[1]}/{network.prefixlen}", "dev", bridge)
            if not any(network.overlaps(used) for used in _networks_in_use(bridge)):
                return network
            _run("ip", "addr", "flush", "dev", bridge)  # someone took it meanwhile: try another one
        raise LabError("found no unused 10.x.y.0/24 for the lab")

    def _add_host(self, index: int, address: str, port: int, client_public: str) -> tuple[RemoteHost, str]:
        assert self.workdir is not None and self.bridge is not None
        name = f"h{index + 1}"
        namespace = f"agi{self.suffix}{name}"
        _run("ip", "netns", "add", namespace)
        self.namespaces.append(namespace)
        veth = f"agiv{self.suffix}{index + 1}"
        _run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        self.veths.append(veth)
        _run("ip", "link", "set", veth, "master", self.bridge)
        _run("ip", "link", "set", veth, "up")
        _run("ip", "-n", namespace, "link", "set", "lo", "up")
        _run("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        _run("ip", "-n", namespace, "link", "set", "eth0", "up")

        user = f"agi{name}{self.suffix}"
        _run_retrying("useradd", "-m", "-s", "/bin/bash", user)
        entry = pwd.getpwnam(user)
        self.users[user] = entry.pw_uid
        home = Path(entry.pw_dir)
        self.homes.append(home)
        _run_retrying("usermod", "-p", "*", user)  # a fresh account is locked ("!"): sshd would refuse it
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700)
        authorized_keys = ssh_dir / "authorized_keys"
        authorized_keys.write_text(client_public + "\n")
        for path, mode in ((ssh_dir, 0o700), (authorized_keys, 0o600)):
            os.chown(path, entry.pw_uid, entry.pw_gid)
            path.chmod(mode)

        host_key = self.workdir / f"{name}_host_ed25519"
        host_public = _keygen(host_key, f"agi-remote-lab-{self.suffix}-{name}")
        SSHD_PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        argv = [
            _tool("ip"),
            "netns",
            "exec",
            namespace,
            str(SSHD),
            "-D",  # in the foreground: `ip netns exec` execs sshd, so this process IS the sshd
            "-e",
            "-f",
            "/dev/null",
            "-h",
            str(host_key),
            "-p",
            str(port),
            "-o",
            f"ListenAddress={address}",
            "-o",
            f"PidFile={self.workdir / f'{name}_sshd.pid'}",
            "-o",
            "UsePAM=no",
            "-o",
            "Subsystem=sftp internal-sftp",
            "-o",
            "AuthorizedKeysFile=.ssh/authorized_keys",
            "-o",
            "PasswordAuthentication=no",
            "-o",
            "KbdInteractiveAuthentication=no",
            "-o",
            "PermitRootLogin=no",
            "-o",
            f"AllowUsers={user}",
        ]
        with open(self.workdir / f"{name}_sshd.log", "wb") as log:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.sshd.append((process, _start_time(process.pid)))
        key_type, key_data = host_public.split()[:2]
        host = RemoteHost(
            name=name,
            address=address,
            port=port,
            user=user,
            home=home,
            namespace=namespace,
            sshd_pid=process.pid,
            veth=veth,
        )
        return host, f"{key_type} {key_data}"

    def _wait_until_serving(self, lab: RemoteLab) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for host, (process, _) in zip(lab.hosts, self.sshd):
            while True:
                if process.poll() is not None:
                    raise LabError(f"sshd of {host.name} exited {process.returncode}: {self._sshd_log(host)}")
                result = lab.ssh(host, "true", timeout=max(1.0, deadline - time.monotonic()))
                if result.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise LabError(
                        f"sshd of {host.name} ({host.user}@{host.address}:{host.port}) accepted no login "
                        f"in {START_TIMEOUT:.0f} s: {result.stderr.strip()}; sshd log: {self._sshd_log(host)}"
                    )
                time.sleep(0.1)

    def _sshd_log(self, host: RemoteHost) -> str:
        assert self.workdir is not None
        with contextlib.suppress(OSError):
            return (self.workdir / f"{host.name}_sshd.log").read_text().strip()[-2000:]
        return "(no log)"

    # -- tearing down -----------------------------------------------------------------------------

    def teardown(self) -> None:
        """Remove everything this builder made; raise LabError naming anything that remains."""
        with self._lock:
            if self._torn_down:
                return
            self._torn_down = True
        atexit.unregister(self.teardown)
        problems: list[str] = []

        def attempt(what: str, step: Callable[[], object]) -> None:
            try:
                step()
            except (OSError, subprocess.SubprocessError, LabError) as error:
                problems.append(f"{what}: {error}")

        deadline = time.monotonic() + 10
        for process, _ in self.sshd:  # the listeners, by pid
            if process.poll() is None:
                process.kill()
            attempt(f"waiting for sshd {process.pid}", lambda process=process: process.wait(timeout=5))
        for namespace in self.namespaces:  # the sessions they forked, and anything else left inside
            left = _kill_in_namespace(namespace, deadline)
            if left:
                problems.append(f"processes still in {namespace}: {left}")
        for user in self.users:  # anything the test users still run anywhere
            attempt(f"pkill -u {user}", lambda user=user: _run("pkill", "-KILL", "-u", user, check=False))
        for user, uid in self.users.items():
            while _run("pgrep", "-u", str(uid), check=False).returncode == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            attempt(f"userdel {user}", lambda user=user: _run_retrying("userdel", "-r", user))
        for home in self.homes:  # userdel -r removes it; this only catches a failed one
            if home.exists():
                attempt(f"removing {home}", lambda home=home: shutil.rmtree(home))
        for namespace in self.namespaces:  # deleting a namespace also deletes the veth ends inside it
            attempt(f"ip netns del {namespace}", lambda ns=namespace: _run("ip", "netns", "del", ns))
        for link in [*self.veths, *([self.bridge] if self.bridge else [])]:
            if _run("ip", "link", "show", "dev", link, check=False).returncode == 0:
                attempt(f"ip link del {link}", lambda link=link: _run("ip", "link", "del", "dev", link))
        if self.workdir is not None:
            attempt(f"removing {self.workdir}", lambda: shutil.rmtree(self.workdir, ignore_errors=False))
        problems += self.leftovers()
        if problems:
            raise LabError("lab teardown left things behind: " + "; ".join(problems))

    def leftovers(self) -> list[str]:
        """What this builder made and is still there (empty once torn down)."""
        found = []
        listed = _run("ip", "netns", "list", check=False).stdout.split()
        found += [f"namespace {ns}" for ns in self.namespaces if ns in listed]
        for link in [*self.veths, *([self.bridge] if self.bridge else [])]:
            if _run("ip", "link", "show", "dev", link, check=False).returncode == 0:
                found.append(f"link {link}")
        for user, uid in self.users.items():
            if _run("getent", "passwd", user, check=False).returncode == 0:
                found.append(f"user {user}")
            if _run("pgrep", "-u", str(uid), check=False).returncode == 0:
                found.append(f"processes of uid {uid}")
        found += [f"home {home}" for home in self.homes if home.exists()]
        found += [f"sshd pid {process.pid}" for process, start in self.sshd if _alive(process.pid, start)]
        if self.workdir is not None and self.workdir.exists():
            found.append(f"directory {self.workdir}")
        return found

    @contextlib.contextmanager
    def teardown_on_signals(self, *signals: signal.Signals) -> Iterator[None]:
        """While inside, SIGTERM/SIGHUP (by default) tear the lab down before the process dies of them.

        Only signals left at their default action are taken over, and only from the main thread.
        """
        chosen = signals or (signal.SIGTERM, signal.SIGHUP)
        previous: dict[signal.Signals, object] = {}

        def handler(signum: int, _frame: FrameType | None) -> None:
            with contextlib.suppress(LabError):
                self.teardown()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

        if threading.current_thread() is threading.main_thread():
            for signum in chosen:
                if signal.getsignal(signum) == signal.SIG_DFL:
                    previous[signum] = signal.signal(signum, handler)
        try:
            yield
        finally:
            for signum in previous:
                if signal.getsignal(signum) == handler:
                    signal.signal(signum, signal.SIG_DFL)


@contextlib.contextmanager
def remote_lab(count: int = 2) -> Iterator[RemoteLab]:
    """A lab of ``count`` hosts for the ``with`` block, torn down on the way out whatever happens."""
    builder = LabBuilder()
    try:
        with builder.teardown_on_signals():
            yield builder.build(count)
    finally:
        builder.teardown()
