"""The command line drives the real engine: JSON on stdout, logs on stderr, exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import SMALL

from agi_jupyter import AgiEnv
from agi_jupyter.cli import main
from agi_jupyter.cli.app import format_table
from agi_jupyter.cli.options import parse_assignments, parse_workers
from agi_jupyter.cli.table import format_columns
from agi_jupyter.core import local
from agi_jupyter.core.errors import AgiError


def small_args(app: str) -> list[str]:
    return [part for name, value in SMALL[app].items() for part in ("--arg", f"{name}={json.dumps(value)}")]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def install(capsys: pytest.CaptureFixture[str], apps_path: Path, app: str, modes: str = "0") -> None:
    status, _, err = cli(capsys, "install", app, "--apps-path", str(apps_path), "--modes", modes)
    assert status == 0, err


def test_install_prints_the_install_record_as_json(apps_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = cli(capsys, "install", "flight", "--apps-path", str(apps_path), "--modes", "0", "--json")
    assert status == 0, err
    record = json.loads(out)
    assert record["schema"] == "agi.install.v1" and record["app"] == "flight_project" and record["modes_enabled"] == 0
    assert "INSTALL flight_project" in err  # the engine's log went to stderr


def test_distrib_prints_the_reason_and_every_slot(apps_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    where = ["distrib", "flight", "--apps-path", str(apps_path), "--arg", "flights=6"]
    status, out, err = cli(capsys, *where)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "no saved plan: built a new one"
    assert [line.split(":")[0] for line in lines[1:]] == ["127.0.0.1#0", "127.0.0.1#1"]
    assert all("chunks, load" in line and line.endswith("KB") for line in lines[1:])
    status, out, _ = cli(capsys, *where, "--worker", "127.0.0.1=3", "--json")
    plan = json.loads(out)
    assert status == 0 and plan["schema"] == "agi.distribution.v1" and plan["workers"] == {"127.0.0.1": 3}
    assert plan["args"]["flights"] == 6 and plan["reason"].startswith("saved plan replaced (workers changed")


def test_run_one_mode_prints_the_result(apps_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(capsys, apps_path, "flight")
    status, out, err = cli(
        capsys, "run", "flight", "--apps-path", str(apps_path), "--mode", "0", "--arg", "flights=6", "--json"
    )
    assert status == 0, err
    result = json.loads(out)
    assert result["schema"] == "agi.run.v1" and result["mode"] == 0 and result["token"] == "____"
    assert len(result["outputs"]) == 6 and all(Path(path).is_file() for path in result["outputs"])
    assert "progress 6/6" in err
    assert not local._warm  # the command line leaves no warm worker process behind
    status, out, _ = cli(
        capsys,
        "run",
        "flight",
        "--apps-path",
        str(apps_path),
        "--mode",
        "p",
        "--arg",
        "flights=6",
        "--pool",
        "thread",
        "--pool-width",
        "2",
    )
    assert status == 0
    assert out.startswith("mode 1: pool (___p): ") and "6 output files" in out and "127.0.0.1#0: " in out
    lines = out.splitlines()
    outputs = next(line for line in lines if line.startswith("outputs: "))[len("outputs: ") :]
    assert len(list(Path(outputs).glob("*.parquet"))) == 6  # where the run wrote, said
    log = next(line for line in lines if line.startswith("log: "))[len("log: ") :]
    assert Path(log).is_file() and "RUN" in Path(log).read_text()


def test_benchmark_writes_rows_for_the_modes_asked(apps_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(capsys, apps_path, "mandelbrot", modes="2")
    status, out, err = cli(
        capsys,
        "run",
        "mandelbrot",
        "--apps-path",
        str(apps_path),
        "--benchmark",
        "--modes",
        "0,2",
        *small_args("mandelbrot"),
        "--json",
    )
    assert status == 0, err
    table = json.loads(out)
    saved = json.loads(AgiEnv("mandelbrot", apps_path=apps_path).benchmark_path.read_text())
    assert saved == table and {row["mode"] for row in saved["rows"]} == {0, 2}
    assert all(row["status"] == "ok" and row["order"] in (1, 2) for row in saved["rows"])


def test_benchmark_table_ranks_rows_and_shows_failures_with_their_error() -> None:
    rows = [
        {
            "mode": 2,
            "token": "__c_",
            "label": "2: cython",
            "status": "ok",
            "seconds": 0.5,
            "timing": "500 ms",
            "order": 1,
            "delta": 0.0,
            "delta_percent": 0.0,
            "error": "",
        },
        {
            "mode": 0,
            "token": "____",
            "label": "0: python",
            "status": "ok",
            "seconds": 2.0,
            "timing": "2.00 s",
            "order": 2,
            "delta": 1.5,
            "delta_percent": 300.0,
            "error": "",
        },
        {
            "mode": 8,
            "token": "r___",
            "label": "8: rapids",
            "status": "failed",
            "seconds": None,
            "timing": "failed",
            "order": None,
            "delta": None,
            "delta_percent": None,
            "error": "no cudf here",
        },
    ]
    lines = format_table({"rows": rows}).splitlines()
    assert lines[0].split() == ["mode", "label", "seconds", "timing", "order", "delta", "delta", "%"]
    assert lines[1].split() == ["__c_", "2:", "cython", "0.500", "500", "ms", "1", "0.000", "0.0"]
    assert lines[2].split()[-3:] == ["2", "1.500", "300.0"]
    assert "failed" in lines[3] and lines[3].endswith("no cudf here")


def test_one_table_layout_for_every_cli_table() -> None:
    """Columns as wide as their widest cell, two spaces apart, no trailing blanks; cells via str."""
    text = format_columns([("name", "n", "note"), ("a", 12, ""), ("longer", None, "x")])
    assert text.splitlines() == ["name    n     note", "a       12", "longer  None  x"]
    assert format_columns([]) == ""


def test_values_are_json_when_they_parse_else_strings() -> None:
    values = parse_assignments(["count=12", "fast=true", 'names=["a","b"]', "word=hello", "sum=1+1", "eq=a=b"])
    assert values == {"count": 12, "fast": True, "names": ["a", "b"], "word": "hello", "sum": "1+1", "eq": "a=b"}
    assert parse_workers(["127.0.0.1=2", "node-2=4"]) == {"127.0.0.1": 2, "node-2": 4}
    assert parse_workers(None) is None
    for bad in ("127.0.0.1", "127.0.0.1=0", "127.0.0.1=two"):
        with pytest.raises(AgiError, match=f"--worker '{bad}'"):
            parse_workers([bad])
    with pytest.raises(AgiError, match="--arg 'flights'"):
        parse_assignments(["flights"])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "flight", "--mode", "zz"], "mode 'zz' is not understood"),
        (["run", "flight", "--mode", "0", "--worker", "10.0.0.x=1"], "'10.0.0.x' is not a valid IP address"),
        (["distrib", "flight", "--worker", "127.0.0.1=none"], "--worker '127.0.0.1=none'"),
        (["run", "nowhere"], "app 'nowhere_project' not found"),
        (["distrib", "flight", "--arg", "flights=0"], "flights: Input should be greater than or equal to 1"),
        (["run", "flight", "--mode", "0", "--arg", "flights=6"], "not installed: install it with the INSTALL button"),
        (["run", "flight", "--modes", "0,2"], "add --benchmark"),
    ],
)
def test_product_errors_exit_1_with_the_message_on_stderr(
    apps_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    status, out, err = cli(capsys, *argv, "--apps-path", str(apps_path))
    assert status == 1 and out == ""
    last = err.splitlines()[-1]  # earlier lines are the engine's log
    assert last.startswith("error: ") and expected in last and "Traceback" not in err
    if "nowhere" in expected:
        assert "flight_project, mandelbrot_project, sensors_project" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    assert main(["run", "flight", "--mode", "0", "--benchmark"]) == 2
    assert main(["serve", "flight"]) == 2
    assert main(["--help"]) == 0
    assert "install" in capsys.readouterr().out


def test_module_entry_point_prints_json_on_stdout_and_logs_on_stderr(
    apps_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(capsys, apps_path, "flight")
    command = [
        sys.executable,
        "-m",
        "agi_jupyter.cli",
        "run",
        "flight",
        "--apps-path",
        str(apps_path),
        "--mode",
        "0",
        *small_args("flight"),
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mode"] == 0 and result["outputs"]
    assert "RUN flight_project in mode 0: python" in done.stderr and "RUN" not in done.stdout


def test_ctrl_c_cancels_the_run_and_exits_130(apps_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(capsys, apps_path, "mandelbrot")
    worker_python = str(AgiEnv("mandelbrot", apps_path=apps_path).worker_python)
    command = [
        sys.executable,
        "-m",
        "agi_jupyter.cli",
        "run",
        "mandelbrot",
        "--apps-path",
        str(apps_path),
        "--mode",
        "0",
        "--arg",
        "width=1000",
        "--arg",
        "height=1000",
        "--arg",
        "max_iter=1000",
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:  # interrupt once work is really under way
            if line.startswith("progress ") and not line.startswith("progress 0/"):
                break
        assert processes_running(worker_python), "the run's worker process should be at work"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130 and out == ""
    assert err.rstrip().endswith("error: interrupted")
    assert not processes_running(worker_python), "the worker process outlived the cancel"


def processes_running(executable: str) -> list[int]:
    """Pids whose command line starts with ``executable`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        if entry.name.isdigit() and command == executable:
            found.append(int(entry.name))
    return found
