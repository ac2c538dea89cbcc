"""Binder: postBuild's install in a fresh virtual environment, then the tutorial notebooks there."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_postbuild_installs_the_extension_and_the_notebooks_run(tmp_path: Path) -> None:
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True)
    checkout = tmp_path / "repo"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(checkout, filter="data")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    environment = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    environment.pop("PYTHONPATH", None)
    build = subprocess.run(
        ["bash", "binder/postBuild"], cwd=checkout, env=environment, capture_output=True, text=True, timeout=1200
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    listed = subprocess.run(
        [str(venv / "bin" / "jupyter"), "labextension", "list"], env=environment, capture_output=True, text=True
    )
    assert "agi-jupyter" in listed.stdout + listed.stderr and "enabled" in listed.stdout + listed.stderr
    for name, folder in {
        "AGI_SHARE_DIR": "share",
        "AGILAB_EXPORT_ABS": "export",
        "AGI_LOG_DIR": "log",
        "AGI_WORKER_ENV_DIR": "wenv",
        "AGI_ENV_FILE": "agilab.env",
    }.items():
        environment[name] = str(tmp_path / "roots" / folder)
    notebooks = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "notebooks"],
        cwd=checkout,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert notebooks.returncode == 0, notebooks.stdout[-3000:]
    assert " passed" in notebooks.stdout
