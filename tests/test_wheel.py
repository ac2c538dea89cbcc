"""What a user and a packager get: one version everywhere, and a wheel that works without Node.

The slow test builds the wheel from this tree (reusing the extension an editable install built, so
the build needs no Node either), installs it into a fresh venv with no ``node``/``npm`` on PATH and
checks the extension is enabled and OK, the package imports and the command runs. Everything it
downloads or caches stays in pytest's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_JSON = ROOT / "labextension" / "package.json"
NODE_TOOLS = ("node", "nodejs", "npm", "npx", "corepack")


def npm_version() -> str:
    """The one version source: package.json's ``version`` (what the extension reports)."""
    return str(json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["version"])


def source_version() -> str:
    """The same version in its PEP 440 form (what the metadata and ``__version__`` hold)."""
    return str(Version(npm_version()))


# ----- one version --------------------------------------------------------------------------
def test_version_comes_from_package_json() -> None:
    import agi_jupyter
    from agi_jupyter.notebook import PROTOCOL_VERSION

    assert agi_jupyter.__version__ == source_version()
    assert agi_jupyter.__version__ == PROTOCOL_VERSION


def test_extension_reports_the_package_version() -> None:
    """The TypeScript protocol's VERSION is package.json's (read at build time, or equal to it)."""
    source = (ROOT / "labextension" / "src" / "protocol.ts").read_text(encoding="utf-8")
    match = re.search(r"export const VERSION(?::\s*string)?\s*=\s*([^;]+);", source)
    assert match, "labextension/src/protocol.ts no longer exports VERSION"
    value = match.group(1).strip()
    if not value.endswith(".version"):  # a literal: it must at least equal the one source
        assert Version(value.strip("'\"")) == Version(source_version()), value
    built = ROOT / "agi_jupyter" / "labextension" / "package.json"
    if built.exists():  # the build the wheel ships copies package.json's version
        assert Version(json.loads(built.read_text(encoding="utf-8"))["version"]) == Version(source_version())


def test_package_is_typed_and_licensed() -> None:
    assert (ROOT / "agi_jupyter" / "py.typed").is_file()
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text(encoding="utf-8")


# ----- the wheel in a fresh venv ------------------------------------------------------------
def node_free_path(*first: Path) -> str:
    """PATH with ``first`` in front and no folder that holds node, npm or npx."""
    kept = [str(folder) for folder in first]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and folder not in kept and not any((Path(folder) / tool).exists() for tool in NODE_TOOLS):
            kept.append(folder)
    path = os.pathsep.join(kept)
    assert not any(shutil.which(tool, path=path) for tool in NODE_TOOLS), path
    return path


def clean_env(tmp: Path) -> dict[str, str]:
    """The test's environment minus anything that points at another Python or Jupyter setup."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "JUPYTER_PATH")
        and not key.startswith(("UV_", "PIP_"))
    }
    env.update(
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_PROGRESS="1",
        PYTHONNOUSERSITE="1",
        JUPYTER_CONFIG_DIR=str(tmp / "jupyter-config"),
        JUPYTER_DATA_DIR=str(tmp / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "jupyter-runtime"),
    )
    return env


def run(command: list[str | Path], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{command} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def extension_line(listing: str, prefix: Path) -> str:
    """The agi-jupyter line of ``jupyter labextension list``, checked to sit under ``prefix``."""
    folder = None
    for line in listing.splitlines():
        stripped = line.strip()
        if stripped.endswith("labextensions") and os.sep in stripped:
            folder = Path(stripped.split()[0])
        elif stripped.startswith("agi-jupyter "):
            assert folder is not None and folder.resolve().is_relative_to(prefix.resolve()), listing
            return stripped
    raise AssertionError(f"agi-jupyter is not listed:\n{listing}")


@pytest.mark.slow
def test_wheel_installs_and_runs_without_node(tmp_path: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv (an agi-jupyter dependency) is not installed")
    env = clean_env(tmp_path)
    version = source_version()

    # build from this tree: skip-if-exists reuses agi_jupyter/labextension (npm runs only without it)
    run([uv, "build", "--wheel", "--out-dir", tmp_path / "dist", ROOT], env)
    (wheel,) = (tmp_path / "dist").glob("agi_jupyter-*.whl")
    assert wheel.name.startswith(f"agi_jupyter-{version}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"agi_jupyter-{version}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
    data = f"agi_jupyter-{version}.data/data/share/jupyter/labextensions/agi-jupyter"
    for name in (
        "agi_jupyter/py.typed",
        "agi_jupyter/_version.py",
        f"{data}/package.json",
        f"{data}/install.json",
        f"{data}/static/style.js",
        f"{dist_info}/licenses/LICENSE",
    ):
        assert name in names, name
    for classifier in (
        "Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt",
        "License :: OSI Approved :: BSD License",
        "Typing :: Typed",
    ):
        assert f"Classifier: {classifier}" in metadata
    assert f"\nVersion: {version}\n" in metadata

    # a fresh venv, installed and used with no Node anywhere on PATH
    venv = tmp_path / "venv"
    base_python = getattr(sys, "_base_executable", None) or sys.executable
    run([uv, "venv", "--quiet", "--python", base_python, venv], env)
    env["PATH"] = node_free_path(venv / "bin")
    env["VIRTUAL_ENV"] = str(venv)
    run([uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", wheel], env, timeout=600)

    listed = run([venv / "bin" / "jupyter", "labextension", "list"], env)
    line = extension_line(listed.stdout + listed.stderr, venv)
    assert "enabled" in line and "OK" in line and f"v{npm_version()}" in line, line

    imported = run([venv / "bin" / "python", "-c", "import agi_jupyter; print(agi_jupyter.__version__)"], env)
    assert imported.stdout.strip() == version
    helped = run([venv / "bin" / "agi-jupyter", "--help"], env)
    assert "usage:" in helped.stdout and "install" in helped.stdout
