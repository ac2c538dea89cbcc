"""A real JupyterLab on a free loopback port and Debian's Chromium driven by Playwright.

Screenshots go to ``test-artifacts/e2e`` (printed at the start); CI keeps that folder. When no
browser is installed the tests skip with the reason, except under CI=true where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import free_port, stop, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"no browser at {CHROMIUM} (install Debian's chromium: apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — required under CI=true")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nend-to-end screenshots: {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture(scope="session")
def demo() -> Iterator[Path]:
    """A short, neutral folder for the apps and the engine's files: its paths appear in the snippets,
    the log views and so in the docs' screenshots. ``<tmp>/agi-demo`` when free (another run may hold
    it: then ``<tmp>/agi-demo-<random>``); removed at the end."""
    folder = Path(tempfile.gettempdir()) / "agi-demo"
    try:
        folder.mkdir()
    except FileExistsError:
        folder = Path(tempfile.mkdtemp(prefix="agi-demo-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            warnings.warn(f"could not remove the end-to-end tests' folder {folder}", stacklevel=1)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, chromium: Path, demo: Path) -> Iterator[dict]:
    """JupyterLab serving a temporary root, the apps and the engine's folders in ``demo``; yields its
    URL and folders."""
    base = tmp_path_factory.mktemp("lab")
    root, settings = base / "root", base / "settings"
    root.mkdir()
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    tracker = settings / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"autoStartDefaultKernel": True}))
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(base / "runtime")}
    for name, folder in {
        "AGI_SHARE_DIR": "share",
        "AGILAB_EXPORT_ABS": "export",
        "AGI_LOG_DIR": "log",
        "AGI_WORKER_ENV_DIR": "wenv",
        "AGI_ENV_FILE": "agilab.env",
    }.items():
        environment[name] = str(demo / folder)
    apps = demo / "apps"
    shutil.copytree(ROOT / "agi_jupyter" / "examples", apps, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    environment["AGI_APPS_PATH"] = str(apps)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        "--ServerApp.token=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: the dark-theme test runs a lab command
    ]
    log = (base / "lab.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(server, url, base / "lab.log")
    try:
        yield {"url": url, "root": root, "apps": apps, "log": base / "lab.log"}
    finally:
        stop(server)
        log.close()


@pytest.fixture
def page(chromium: Path, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=BROWSER_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            yield page
        finally:
            if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
                page.screenshot(path=str(artifacts / f"failure-{request.node.name}.png"), full_page=True)
            browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: object) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
