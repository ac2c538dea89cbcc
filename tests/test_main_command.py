"""The README's main command really serves JupyterLab with the quick-start notebook."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
from servers import free_port, stop, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, response.read()


@pytest.mark.slow
def test_scripts_lab_serves_the_quickstart_notebook(tmp_path: Path) -> None:
    port = free_port()
    command = [
        "bash",
        "scripts/lab",
        "--no-browser",
        f"--port={port}",
        "--port-retries=0",
        "--ServerApp.token=",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(server, base, tmp_path / "lab.log")
        status, body = get(f"{base}/api/contents/notebooks/01_quickstart.ipynb?content=0")
        assert status == 200 and json.loads(body)["type"] == "notebook"
        with urllib.request.urlopen(f"{base}/", timeout=5) as response:  # noqa: S310 - loopback only
            assert response.status == 200 and b"JupyterLab" in response.read()
            assert response.url.endswith("/lab/tree/notebooks/01_quickstart.ipynb")
    finally:
        stop(server)
        log.close()
