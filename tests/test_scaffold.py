"""``agi-jupyter new``: every template gives an app that installs, plans and runs in every local and
Dask mode with the same, correct outputs; passes its own test; is ruff and mypy clean. Bad names
and existing folders are refused and leave nothing behind."""

from __future__ import annotations

import asyncio
import csv
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from engine_helpers import clear, snapshot

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.cli import main
from agi_jupyter.core import cluster
from agi_jupyter.core.args import load_args
from agi_jupyter.core.scaffold import TEMPLATES, ScaffoldError, app_target, new_app
from agi_jupyter.core.settings import save_settings

SMALL: dict[str, dict[str, Any]] = {
    "pandas": {"data_in": "demo/small_input", "files": 5, "rows": 100},  # a folder of its own: fresh samples
    "dag": {"regions": ["north", "south", "east"], "days": 20},
    "cpu": {"limit": 30_000, "blocks": 6, "parts": 3},
}


def tool(name: str) -> str:
    """A command-line tool installed beside this Python (the test extras install ruff and mypy)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed: install the test extras"
    return found


MODES = {"pandas": (0, 1, 4, 5), "dag": (0, 1, 4, 5), "cpu": (0, 1, 2, 3, 4, 5)}


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module():
    yield
    cluster.close_local_cluster()
    cluster.close_clients()


def create(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return create_or_run(capsys, "new", *argv)


def create_or_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``agi-jupyter ARGV`` through the real command line: exit status, stdout, stderr."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def sieve_count(limit: int) -> int:
    flags = bytearray([1]) * limit
    flags[:2] = b"\0\0"
    for number in range(2, int(limit**0.5) + 1):
        if flags[number]:
            flags[number * number :: number] = bytes(len(range(number * number, limit, number)))
    return sum(flags)


def check_correct(template: str, env: AgiEnv, rows: dict[str, list[tuple]]) -> None:
    """Mode 0's outputs against an independent computation from the inputs."""
    args = load_args(env, SMALL[template])
    if template == "pandas":
        inputs = sorted(env.data_path(args.data_in).glob("*.csv"))
        assert len(rows) == len(inputs) == SMALL["pandas"]["files"]
        quantity = 0
        for path in inputs:
            with path.open(newline="") as stream:
                quantity += sum(int(row["quantity"]) for row in csv.DictReader(stream))
        assert sum(row[3] for frame in rows.values() for row in frame) == quantity  # file, category, orders, quantity
    elif template == "dag":
        assert len(rows) == 2 * 3 + 4  # one file per step
        report = pd.read_parquet(env.data_path(args.data_out) / "report.parquet")
        assert sorted(report["region"]) == ["east", "north", "south"]
        assert (report["days"] < 20).all() and report["share"].sum() == pytest.approx(1.0)
    else:
        assert len(rows) == SMALL["cpu"]["blocks"]
        assert sum(row[2] for frame in rows.values() for row in frame) == sieve_count(SMALL["cpu"]["limit"])


@pytest.mark.slow
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_a_new_app_installs_distributes_and_runs_in_every_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str
) -> None:
    apps = tmp_path / "apps"
    status, out, err = create(capsys, "demo", "--template", template, "--apps-path", str(apps))
    assert status == 0, err
    folder = apps / "demo_project"
    assert out.startswith(f"created {folder}")
    save_settings(folder / "src" / "app_settings.toml", {"cluster.scheduler": ""})  # a local cluster
    commands = [shlex.split(line)[1:] for line in out.splitlines() if line.startswith("  agi-jupyter ")]
    assert [command[0] for command in commands] == ["install", "distrib", "run"]
    for command in commands:  # the next steps it prints work as they are (the settings' own mode for run)
        status, _, err = create_or_run(capsys, *command)
        assert status == 0, f"{command}: {err}"
    env = AgiEnv("demo", apps_path=apps)
    modes = Mode(0)
    for mode in MODES[template]:
        modes |= Mode(mode)
    record = asyncio.run(AGI.install(env, modes_enabled=modes))
    assert bool(record.compiled) == (template == "cpu")
    distribution = asyncio.run(AGI.get_distrib(env, params=SMALL[template]))
    assert len(distribution.plan.slots) == 2 and distribution.plan.chunk_count > 1
    folder_out = env.data_path(load_args(env, SMALL[template]).data_out)
    snapshots = {}
    for mode in MODES[template]:
        clear(folder_out)
        result = asyncio.run(AGI.run(env, RunRequest(mode=mode, params=SMALL[template], pool_width=2)))
        assert result.mode == mode and result.variant == ("cluster" if mode & Mode.DASK else "local")
        snapshots[mode] = snapshot(folder_out)
    check_correct(template, env, snapshots[0])
    for mode in MODES[template]:
        assert snapshots[mode] == snapshots[0], f"mode {mode} differs from mode 0"


def checks_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a check run inside a generated app: its roots under ``tmp_path``."""
    roots = {name: str(tmp_path / "roots" / name.lower()) for name in ("AGI_SHARE_DIR", "AGI_LOG_DIR")}
    return {**os.environ, **roots, "NO_COLOR": "1"}


@pytest.mark.slow
def test_new_apps_pass_their_own_tests_and_are_ruff_and_mypy_clean(tmp_path: Path) -> None:
    """Names of 1 and 40 characters: the placeholder rule must keep lines within ruff's limits both ways."""
    apps = tmp_path / "apps"
    long_name = "a_rather_long_app_name_for_the_check_"
    folders = []
    for template in TEMPLATES:
        folders.append(new_app(f"x{template}", template, apps))
        folders.append(new_app((long_name + template)[:40], template, apps))
    environment = checks_env(tmp_path)
    for folder in folders:
        for command in ([tool("ruff"), "check", "."], [tool("ruff"), "format", "--check", "."]):
            done = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=environment)
            assert done.returncode == 0, f"{folder.name}: {' '.join(command[1:])}:\n{done.stdout}{done.stderr}"
    cache = tmp_path / "mypy-cache"
    for folder in folders[::2]:  # one of each template: mypy is slow
        done = subprocess.run(
            [tool("mypy"), "--cache-dir", str(cache)], cwd=folder, capture_output=True, text=True, env=environment
        )
        assert done.returncode == 0 and "Success" in done.stdout, f"{folder.name}: mypy:\n{done.stdout}{done.stderr}"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=folder,
            capture_output=True,
            text=True,
            env=environment,
        )
        assert done.returncode == 0 and " passed" in done.stdout, f"{folder.name}: pytest:\n{done.stdout}"


def test_the_app_contract_holds_and_the_name_is_substituted_everywhere(tmp_path: Path) -> None:
    for template in TEMPLATES:
        folder = new_app("sales_report_project", template, tmp_path / template)
        assert folder == tmp_path / template / "sales_report_project"
        env = AgiEnv(folder)  # checks every file of the app contract
        assert env.manager_class().__name__ == "SalesReport" and env.args_model().__name__ == "SalesReportArgs"
        assert env.worker_class_object().__name__ == "SalesReportWorker"
        assert (folder / "tests" / "test_sales_report.py").is_file() and (folder / "README.md").is_file()
        texts = [path.read_text() for path in folder.rglob("*") if path.is_file()]
        assert not any("app_template" in text or "AppTemplate" in text for text in texts)
        settings = (folder / "src" / "app_settings.toml").read_text()
        assert all("#" in line for line in settings.splitlines() if "=" in line), "every key is explained"
        fields = env.args_model().model_fields
        assert all(field.description for field in fields.values())


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "needs a name"),
        ("Demo", "lower-case"),
        ("my-app", "lower-case"),
        ("2fast", "starting with a letter"),
        ("a" * 41, "at most 40"),
        ("class", "keyword"),
        ("match", "keyword"),
        ("json", "Python or agi-jupyter module"),
        ("test", "Python or agi-jupyter module"),
        ("agi_jupyter", "Python or agi-jupyter module"),
        ("pandas", "would shadow the installed module"),
        ("dask_project", "would shadow the installed module"),
    ],
)
def test_bad_names_are_refused_and_leave_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, reason: str
) -> None:
    with pytest.raises(ScaffoldError, match=reason):
        app_target(name)
    status, out, err = create(capsys, name, "--apps-path", str(tmp_path / "apps"))
    assert status == 1 and out == "" and err.startswith("error: ") and reason in err
    assert not (tmp_path / "apps").exists() or list((tmp_path / "apps").iterdir()) == []


def test_an_app_module_or_a_mere_folder_of_the_same_name_is_no_clash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = new_app("twin", "dag", tmp_path / "one")
    AgiEnv(first).manager_class()  # imports the first app's "twin" package from its src/
    assert sys.modules["twin"].__file__.startswith(str(first))
    assert new_app("twin", "dag", tmp_path / "two").is_dir()  # the engine swaps app modules
    (tmp_path / "plain").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))  # a folder "plain" is importable, as a namespace package
    assert app_target("plain") == "plain"


def test_an_existing_folder_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apps = tmp_path / "apps"
    (apps / "demo_project").mkdir(parents=True)
    (apps / "demo_project" / "notes.txt").write_text("mine")
    status, out, err = create(capsys, "demo", "--template", "cpu", "--apps-path", str(apps))
    assert status == 1 and out == "" and str(apps / "demo_project") in err and "already exists" in err
    assert [p.name for p in (apps / "demo_project").iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in apps.iterdir()) == ["demo_project"]  # no temporary folder left
    assert new_app("demo_project", "dag", apps / "other").name == "demo_project"  # elsewhere it is fine
    with pytest.raises(ScaffoldError, match="already exists"):
        new_app("demo", "pandas", apps / "other")


def test_a_folder_made_meanwhile_is_kept_and_no_half_app_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone creates the folder between the existence check and the final rename: theirs stays."""
    apps = tmp_path / "apps"
    real_rename = os.rename

    def rename_after_someone_else(source: str, destination: str) -> None:
        Path(destination).mkdir()
        (Path(destination) / "theirs.txt").write_text("theirs")
        real_rename(source, destination)  # the real call: refused, the folder is not empty

    monkeypatch.setattr(os, "rename", rename_after_someone_else)
    with pytest.raises(ScaffoldError, match="could not be created"):
        new_app("demo", "pandas", apps)
    assert sorted(p.name for p in apps.iterdir()) == ["demo_project"]
    assert [p.name for p in (apps / "demo_project").iterdir()] == ["theirs.txt"]


def test_an_apps_path_that_is_a_file_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "apps").write_text("not a folder")
    status, _, err = create(capsys, "demo", "--apps-path", str(tmp_path / "apps"))
    assert status == 1 and err.startswith(f"error: cannot create an app under {tmp_path / 'apps'}")
    assert (tmp_path / "apps").read_text() == "not a folder"


def test_unknown_template_and_no_apps_path_are_explained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ScaffoldError, match="unknown template 'spark'"):
        new_app("demo", "spark", tmp_path)
    status, _, err = create(capsys, "demo")
    assert status == 1 and "no apps path" in err and "AGI_APPS_PATH" in err
    monkeypatch.setenv("AGI_APPS_PATH", str(tmp_path / "mine"))
    status, out, err = create(capsys, "demo", "--template", "dag")
    assert status == 0, err
    assert (tmp_path / "mine" / "demo_project").is_dir() and "--apps-path" not in out  # the default apps path
    status, _, err = create(capsys, "demo", "--template", "nope")
    assert status == 2 and "invalid choice" in err


# a creation that stops where its temporary folder is made, says where, and waits to be killed
PAUSED_CREATION = """
import logging, sys, threading
from agi_jupyter.core.scaffold import new_app

class Pause(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("building "):
            print(record.args[1], flush=True)
            threading.Event().wait()

logger = logging.getLogger("agi_jupyter.core.scaffold")
logger.setLevel(logging.DEBUG)
logger.addHandler(Pause())
new_app(sys.argv[1], "pandas", sys.argv[2])
"""


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look untouched for ``seconds``."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_creation_killed_midway_leaves_a_folder_the_next_creation_removes_once_unused(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    child = subprocess.Popen(
        [sys.executable, "-c", PAUSED_CREATION, "killed", str(apps)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        staging = Path(child.stdout.readline().strip())
        assert staging.parent == apps and staging.is_dir(), staging
        assert staging.name.startswith(f".killed_project.{child.pid}.") and staging.name.endswith(".tmp")
        age(staging, 3600)
        new_app("first", "dag", apps)
        assert staging.is_dir(), "its process still runs: in use, kept"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    age(staging, 10)
    new_app("second", "dag", apps)
    assert staging.is_dir(), "touched seconds ago: kept (it could be another machine's, sharing the folder)"
    age(staging, 120)
    new_app("third", "dag", apps)
    assert not staging.exists()
    assert sorted(p.name for p in apps.iterdir()) == ["first_project", "second_project", "third_project"]


def test_only_unused_leftovers_of_creations_are_removed(tmp_path: Path) -> None:
    """Without a pid (earlier releases) a leftover goes after a day; nothing else hidden is touched."""
    apps = tmp_path / "apps"
    kept = {".old_project.k3j_9x.tmp": 3600, f".live_project.{os.getpid()}.ab12.tmp": 7200, ".cache": 10**6}
    removed = {".older_project.k3j_9x.tmp": 2 * 86400, f".live_project.{os.getpid()}.cd34.tmp": 2 * 86400}
    for name, seconds in {**kept, **removed}.items():
        (apps / name).mkdir(parents=True)
        (apps / name / "file.txt").write_text("x")
        age(apps / name, seconds)
    (apps / "notes.txt").write_text("mine")
    new_app("demo", "cpu", apps)
    assert sorted(p.name for p in apps.iterdir()) == sorted([*kept, "demo_project", "notes.txt"])


def pandas_inputs(tmp_path: Path) -> Any:
    """A new pandas app's input files for given arguments, as its manager plans them: name -> text."""
    env = AgiEnv(new_app("orders", "pandas", tmp_path / "apps"))

    def inputs(**overrides: Any) -> dict[str, str]:
        args = load_args(env, {"data_in": str(tmp_path / "data"), **overrides})
        plan = env.manager_class()(args, env).distribution({"127.0.0.1": 1})
        return {Path(item).name: Path(item).read_text() for chunk in plan.slots[0] for item in chunk.items}

    return inputs


def test_the_pandas_template_regenerates_its_samples_when_the_args_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    inputs = pandas_inputs(tmp_path)
    data = tmp_path / "data"
    first = inputs(files=3, rows=50)
    assert sorted(first) == ["orders_0000.csv", "orders_0001.csv", "orders_0002.csv"]
    assert inputs(files=3, rows=50) == first  # same args: the same files
    (data / "mine.csv").write_text("order_id,category,quantity,unit_price\n1,books,2,10.0\n")
    (data / "notes.txt").write_text("mine")
    bigger = inputs(files=2, rows=2000)
    assert sorted(bigger) == ["mine.csv", "orders_0000.csv", "orders_0001.csv"], "orders_0002 removed, mine kept"
    assert len(bigger["orders_0000.csv"].splitlines()) > len(first["orders_0000.csv"].splitlines())
    assert bigger["mine.csv"].endswith("1,books,2,10.0\n") and (data / "notes.txt").read_text() == "mine"
    other_seed = inputs(files=2, rows=2000, seed=7)
    assert other_seed["orders_0001.csv"] != bigger["orders_0001.csv"]
    assert sorted(p.name for p in data.iterdir()) == [
        "mine.csv",
        "notes.txt",
        "orders_0000.csv",
        "orders_0001.csv",
        "samples.json",
    ]


def test_the_pandas_template_never_writes_over_your_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    inputs = pandas_inputs(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders_0000.csv").write_text("order_id,category,quantity,unit_price\n1,toys,3,5.0\n")
    assert list(inputs(files=4)) == ["orders_0000.csv"], "a folder of your files: used as it is, no samples"
    assert sorted(p.name for p in data.iterdir()) == ["orders_0000.csv"]
    (data / "orders_0000.csv").rename(data / "elsewhere.txt")
    inputs(files=2, rows=50)  # now samples, recorded in the manifest
    (data / "orders_0002.csv").write_text("order_id,category,quantity,unit_price\n2,toys,1,1.0\n")
    with pytest.raises(FileExistsError, match=r"orders_0002\.csv: not written by this app"):
        inputs(files=3, rows=50)
    assert (data / "orders_0002.csv").read_text().endswith("2,toys,1,1.0\n")
