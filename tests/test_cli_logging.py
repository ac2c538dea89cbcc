"""``--verbose`` and ``--debug`` set the ``agi_jupyter`` loggers' level on stderr; stdout stays the answer.

``health`` on an app with no service is the probe: it needs no Dask, logs at INFO what it checks,
and prints one JSON document, so what each level adds to stderr is easy to see.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agi_jupyter.cli import main

PACKAGE = logging.getLogger("agi_jupyter")


def health(
    capsys: pytest.CaptureFixture[str], apps_path: Path, *flags: str, app: str = "flight", before: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    status = main([*before, "health", app, "--apps-path", str(apps_path), "--allow-idle", *flags])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_by_default_only_the_user_lines_reach_stderr(apps_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = health(capsys, apps_path)
    assert status == 0 and json.loads(out)["status"] == "idle"
    assert err.splitlines() == ["health gate passed (exit 0): service is idle"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_adds_info_lines_before_or_after_the_subcommand(
    apps_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    flags, before = ((), ("--verbose",)) if where == "before" else (("-v",), ())
    status, out, err = health(capsys, apps_path, *flags, before=before)
    assert status == 0 and json.loads(out)["status"] == "idle"  # stdout unchanged
    lines = err.splitlines()
    assert any(line.startswith("INFO agi_jupyter.cli.service: checking ") for line in lines)
    assert not any(line.startswith("DEBUG ") for line in lines)
    assert "health gate passed (exit 0): service is idle" in lines  # the user line still flows


def test_debug_shows_the_options_and_a_product_errors_traceback(
    apps_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = health(capsys, apps_path, "--debug", app="nowhere")
    assert status == 1 and out == ""
    assert "DEBUG agi_jupyter.cli: agi-jupyter health with {" in err
    assert "DEBUG agi_jupyter.cli: health failed\nTraceback (most recent call last):" in err
    assert err.splitlines()[-1].startswith("error: app 'nowhere_project' not found")  # still the last line
    status, _, err = health(capsys, apps_path, app="nowhere")
    assert status == 1 and "Traceback" not in err and "DEBUG" not in err  # without --debug: the message alone


def test_verbose_and_debug_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "flight", "--verbose", "--debug"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_each_command_leaves_the_package_logger_as_it_found_it(
    apps_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    level, handlers = PACKAGE.level, list(PACKAGE.handlers)
    for flags in ((), ("--verbose",), ("--debug",)):
        health(capsys, apps_path, *flags)
        assert PACKAGE.level == level and PACKAGE.handlers == handlers


def test_the_module_entry_point_logs_under_the_package_name(apps_path: Path) -> None:
    """``python -m agi_jupyter.cli`` must not log as ``__main__``, out of --debug's reach."""
    command = [
        sys.executable,
        "-m",
        "agi_jupyter.cli",
        "--debug",
        "health",
        "flight",
        "--apps-path",
        str(apps_path),
        "--allow-idle",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert "DEBUG agi_jupyter.cli: agi-jupyter health with {" in done.stderr
    assert json.loads(done.stdout)["gate"]["passed"] is True
