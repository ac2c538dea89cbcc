"""Starting and stopping the JupyterLab servers the tests run, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on right now (the server is then started with --port-retries=0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(server: subprocess.Popen, url: str, log: Path, limit: float = 120.0) -> None:
    """Poll ``url/api/status`` until it answers; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + limit
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            assert server.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"JupyterLab did not answer within {limit:.0f} s"
            time.sleep(0.3)


def stop(server: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True``, its kernels included."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
