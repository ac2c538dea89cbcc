"""Binder: the links open the quick-start notebook of this repository; postBuild's install in a
fresh virtual environment, then the tutorial notebooks there."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/([\w.-]+)/([\w.-]+)/([\w.-]+)\?urlpath=lab/tree/([^)\s]+)")
QUICKSTART = "notebooks/01_quickstart.ipynb"


def repository() -> tuple[str, str]:
    """(owner, name) of the project's repository, as labextension/package.json names it."""
    package = json.loads((ROOT / "labextension" / "package.json").read_text(encoding="utf-8"))
    match = re.search(r"github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?$", package["repository"]["url"])
    assert match, f"labextension/package.json: repository url {package['repository']['url']!r} is not a GitHub one"
    return match.group(1), match.group(2)


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/quickstart.md"])
def test_binder_link_opens_the_quickstart_notebook_of_this_repository(page: str) -> None:
    links = BINDER_LINK.findall((ROOT / page).read_text(encoding="utf-8"))
    assert links, f"{page} has no Binder link"
    for owner, name, _ref, path in links:
        assert (owner, name) == repository(), f"{page}: Binder link to {owner}/{name}, not this repository"
        assert (ROOT / path).is_file(), f"{page}: Binder opens {path}, which does not exist"
    assert QUICKSTART in [path for *_, path in links], f"{page}: no Binder link opens {QUICKSTART}"


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
