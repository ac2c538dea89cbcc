"""Every ``benchmarks/*.py`` still runs: each with ``--quick`` exits 0 and prints a figure.

A smoke test, not a performance test: no number is checked. The scripts are found by glob, so a
new benchmark is covered the day it lands; each runs in its own process under its own temporary
roots, a few at a time (they mostly wait on subprocesses and sockets), each with a time limit.
A script that cannot run here says ``skipped: <reason>`` (the scale-out lab without root): the
test then skips, except under CI=true where it fails, as the remote-host tests do.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# _*.py are helpers the scripts share, not benchmarks
SCRIPTS = sorted(path.name for path in BENCHMARKS.glob("*.py") if not path.name.startswith("_"))
TIME_LIMIT = 180.0  # seconds for one script's quick run
AT_ONCE = 3  # scripts running together (2 cores; the scripts mostly wait)
FIGURE = re.compile(r"^\([a-z]\) ")
SKIPPED = "skipped:"
STARTED_FIRST = ("scale_out.py", "engine.py", "cold.py")  # the long ones, so the total stays short

pytestmark = pytest.mark.slow


@dataclass
class Outcome:
    returncode: int | None  # None: killed at the time limit
    stdout: str
    stderr: str


def run_quick(script: str, roots: Path) -> Outcome:
    """``python benchmarks/<script> --quick`` in its own session (so a stuck one is stopped whole)."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name, folder in {
        "AGI_SHARE_DIR": "share",
        "AGILAB_EXPORT_ABS": "export",
        "AGI_LOG_DIR": "log",
        "AGI_WORKER_ENV_DIR": "wenv",
        "AGI_CLUSTER_DIR": "cluster",
    }.items():
        environment[name] = str(roots / folder)
    environment["AGI_ENV_FILE"] = str(roots / "agilab.env")
    environment.pop("AGI_APPS_PATH", None)
    process = subprocess.Popen(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        cwd=roots,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        stdout, stderr = stop(process)
        return Outcome(None, stdout, stderr)
    return Outcome(process.returncode, stdout, stderr)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Terminate the script's process group (its cleanup runs), then kill what is left."""
    for sign, grace in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sign)
        except ProcessLookupError:
            break
        try:
            return process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return process.communicate()


@pytest.fixture(scope="module")
def quick_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Outcome]]]:
    """The selected scripts' quick runs, started together when the first of these tests runs."""
    module = request.node.nodeid
    selected = [
        item.callspec.params["script"]
        for item in request.session.items
        if item.nodeid.startswith(module + "::") and hasattr(item, "callspec")
    ]
    selected.sort(key=lambda script: STARTED_FIRST.index(script) if script in STARTED_FIRST else len(STARTED_FIRST))
    with ThreadPoolExecutor(max_workers=AT_ONCE, thread_name_prefix="benchmark") as pool:
        yield {
            script: pool.submit(run_quick, script, tmp_path_factory.mktemp(script.removesuffix(".py")))
            for script in selected
        }


def test_benchmark_scripts_are_found() -> None:
    assert "balance.py" in SCRIPTS and "cold.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_quick_run_exits_0_and_prints_a_figure(script: str, quick_runs: dict[str, Future[Outcome]]) -> None:
    outcome = quick_runs[script].result()
    shown = f"--- stdout\n{outcome.stdout[-3000:]}\n--- stderr\n{outcome.stderr[-3000:]}"
    assert outcome.returncode is not None, f"{script} --quick ran over {TIME_LIMIT:g} s and was stopped\n{shown}"
    assert outcome.returncode == 0, f"{script} --quick exited {outcome.returncode}\n{shown}"
    lines = outcome.stdout.splitlines()
    skipped = [line for line in lines if line.startswith(SKIPPED)]
    if skipped:
        message = f"{script}: {skipped[0]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} — required under CI=true", pytrace=False)
        pytest.skip(message)
    assert any(FIGURE.match(line) for line in lines), f"{script} --quick printed no '(a) ...' figure line\n{shown}"
