"""Snippets say what runs: each tab resolves its request against the settings, renders it and runs it.

A cell inserted from a tab must document the modes, workers and arguments its button used, and
do the same when executed later in a fresh kernel, after the settings have changed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import snapshot
from probe_helpers import copy_probe

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core.requests import DistribRequest, InstallRequest, SubmitRequest, resolve
from agi_jupyter.core.run import RunResult
from agi_jupyter.core.settings import save_settings
from agi_jupyter.core.snippets import make_snippet, write_script
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.distribute_tab import DistributeTab
from agi_jupyter.widgets.install_tab import InstallTab
from agi_jupyter.widgets.run_tab import RunTab
from agi_jupyter.widgets.service_tab import ServiceTab


def flight(apps_path: Path, **changes: Any) -> AgiEnv:
    env = AgiEnv("flight", apps_path=apps_path)
    if changes:
        save_settings(env.settings_path, changes)
    return env


# ----- what each request kind renders ---------------------------------------------------------
def test_install_renders_the_modes_of_the_toggles_and_the_workers(apps_path: Path) -> None:
    env = flight(apps_path, **{"cluster.pool": True, "cluster.workers": {"127.0.0.1": 3}})
    code = make_snippet(env, "install", resolve(env, InstallRequest())).code
    assert 'modes_enabled=Mode.from_token("___p")' in code and 'workers={"127.0.0.1": 3}' in code
    assert "scheduler=" not in code  # an empty scheduler stays None
    explicit = resolve(env, InstallRequest(modes_enabled=Mode.DASK, workers={"127.0.0.1": 1}))
    assert explicit.modes_enabled == Mode.DASK and explicit.workers == {"127.0.0.1": 1}  # what the request says wins


def test_distrib_renders_the_workers_and_the_arguments_that_differ_from_the_defaults(apps_path: Path) -> None:
    env = flight(apps_path, **{"args.flights": 6, "args.output_format": "csv"})
    request = resolve(env, DistribRequest(params={"seed": 2026}))
    assert request.params == {"flights": 6, "seed": 2026, "output_format": "csv"}  # seed: named by the request
    code = make_snippet(env, "get_distrib", request).code
    assert 'params={"flights": 6, "seed": 2026, "output_format": "csv"}' in code
    assert 'workers={"127.0.0.1": 2}' in code and "data_in" not in code  # at its default: not rendered


def test_run_renders_mode_workers_arguments_and_the_pool_parameters(apps_path: Path) -> None:
    env = flight(
        apps_path,
        **{"args.flights": 6, "cluster.pool": True, "cluster.pool_width": 3, "cluster.item_timeout": 90},
    )
    request = resolve(env, RunRequest())
    assert request.mode == Mode.POOL and request.workers == {"127.0.0.1": 2} and request.params == {"flights": 6}
    assert (request.pool, request.pool_width, request.item_timeout) == ("process", 3, 90.0)
    code = make_snippet(env, "run", request).code
    for text in ('mode=Mode.from_token("___p")', 'pool="process"', "pool_width=3", "item_timeout=90.0"):
        assert text in code
    plain = resolve(env, RunRequest(mode=0))  # no pool bit: the pool parameters do not apply and are not rendered
    assert plain.pool is None and plain.pool_width is None and plain.item_timeout == 90.0


def test_benchmark_renders_the_modes_the_settings_allow(apps_path: Path) -> None:
    env = flight(apps_path, **{"cluster.pool": True})
    request = resolve(env, RunRequest(benchmark=True))
    assert request.modes == [Mode(0), Mode.POOL] and request.mode is None
    code = make_snippet(env, "benchmark", request).code
    assert 'modes=[Mode.from_token("____"), Mode.from_token("___p")]' in code
    chosen = resolve(env, RunRequest(benchmark=True, modes=[Mode.POOL]))
    assert chosen.modes == [Mode.POOL]


def test_the_scheduler_is_named_only_where_naming_it_picks_the_same_cluster(apps_path: Path) -> None:
    """Resolving only: nothing here connects to or starts a scheduler."""
    env = flight(apps_path, **{"cluster.scheduler": "127.0.0.1:8786"})
    assert resolve(env, RunRequest()).scheduler is None  # loopback from settings: may fall back to a local cluster
    save_settings(env.settings_path, {"cluster.launch": True})
    assert resolve(env, RunRequest()).scheduler == "127.0.0.1:8786"  # started when silent, named or not
    save_settings(env.settings_path, {"cluster.factory": "distributed.LocalCluster"})
    assert resolve(env, RunRequest()).scheduler is None  # the factory would give way to a named scheduler


# ----- the button runs the object its snippet renders ----------------------------------------
def capture(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    """Replace ``AGI.<name>`` by a recorder that fails (the tabs then show an error and stay usable)."""
    seen: list[Any] = []

    async def recorder(env: AgiEnv, request: Any = None, **_: Any) -> Any:
        seen.append(request)
        raise RuntimeError("captured")

    monkeypatch.setattr(AGI, name, recorder)
    return seen


def test_each_button_runs_the_resolved_request_its_snippet_shows(
    apps_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = flight(apps_path, **{"args.flights": 6, "cluster.pool": True})
    context = Context(env, cell_id=None)
    for tab, button, name, action in (
        (InstallTab(context), "button", "install", "install"),
        (DistributeTab(context), "check", "get_distrib", "get_distrib"),
        (RunTab(context), "run", "run", "run"),
    ):
        seen = capture(monkeypatch, name)
        getattr(tab, button).click()
        context.actions.wait(30)
        assert seen == [tab.request]
        assert seen[0] == resolve(env, seen[0])  # already effective: nothing left to the settings
        assert tab.snippet.snippet.code == make_snippet(env, action, seen[0]).code
    assert "'flights': 6" in repr(seen[0].params) and seen[0].mode == Mode.POOL


def test_submit_runs_the_resolved_request_its_snippet_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = copy_probe(tmp_path)
    save_settings(env.settings_path, {"args.items": 3})
    tab = ServiceTab(Context(env, cell_id=None))
    seen = capture(monkeypatch, "submit")
    tab.context.state.service_status = "running"  # SUBMIT is offered only while loops serve
    assert tab.run("submit"), tab.message.text
    tab.context.actions.wait(30)
    assert seen == [tab.last_request] == [resolve(env, SubmitRequest())]
    assert seen[0].params == {"items": 3} and seen[0].workers == {"127.0.0.1": 2}
    assert tab.snippet.snippet.code == make_snippet(env, "submit", seen[0]).code


# ----- a cell executed later, in a fresh process, after the settings changed ------------------
def test_an_inserted_run_cell_reproduces_the_buttons_run_in_a_fresh_process_and_kernel(apps_path: Path) -> None:
    env = flight(apps_path, **{"args.flights": 6, "args.output_format": "csv", "args.data_out": "flight/clicked"})
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    tab = RunTab(Context(env, cell_id=None))
    tab.run.click()
    tab.context.actions.wait(180)
    clicked = tab.result
    assert clicked is not None, tab.outcome.text
    snippet = tab.snippet.snippet
    folder = env.data_path("flight/clicked")
    outputs = snapshot(folder)
    assert outputs and clicked.mode == 0
    # the settings change after the click: a snippet that read them would run another mode, on
    # three slots, with other arguments
    save_settings(
        env.settings_path,
        {
            "cluster.pool": True,
            "cluster.workers": {"127.0.0.1": 3},
            "args.flights": 9,
            "args.output_format": "parquet",
            "args.data_out": "flight/changed",
        },
    )
    now = resolve(env, RunRequest())
    assert now.mode != clicked.mode and now.workers != tab.request.workers and now.params != tab.request.params
    for path in folder.iterdir():
        path.unlink()
    script = write_script(env, snippet)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    printed = next(line for line in reversed(done.stdout.splitlines()) if line.startswith("RunResult("))
    fresh = eval(printed, {"RunResult": RunResult})  # noqa: S307 - the repr the script printed
    assert (fresh.mode, fresh.token, fresh.chunks) == (clicked.mode, clicked.token, clicked.chunks)
    assert fresh.dispatched == clicked.dispatched  # the same worker slots ran the same chunks
    assert fresh.outputs == clicked.outputs and snapshot(folder) == outputs  # the same arguments
    assert not env.data_path("flight/changed").exists()
    # and the cell itself (top-level await) in a fresh Jupyter kernel, as a notebook runs it
    for path in folder.iterdir():
        path.unlink()
    in_kernel = eval(run_in_fresh_kernel(snippet.code), {"RunResult": RunResult})  # noqa: S307
    assert (in_kernel.mode, in_kernel.dispatched, in_kernel.outputs) == (
        clicked.mode,
        clicked.dispatched,
        clicked.outputs,
    )
    assert snapshot(folder) == outputs and not env.data_path("flight/changed").exists()


def run_in_fresh_kernel(code: str) -> str:
    """Execute one notebook cell in a new ipykernel; the text of its result."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(notebook, kernel_name="python3", timeout=300).execute()
    results = [output for output in notebook.cells[0].outputs if output.get("output_type") == "execute_result"]
    assert results, notebook.cells[0].outputs
    return str(results[-1]["data"]["text/plain"])
