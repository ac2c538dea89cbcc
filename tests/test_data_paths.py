"""Data paths mean the same everywhere (issue 14 item 2).

``data_in``, ``data_out`` and every argument declared ``DataPath`` reach the manager and each
worker as absolute paths: a relative value under the share dir (``~`` expanded), an absolute one
as it is, with the field's type kept. The settings, the saved plan and the snippets keep the
text the user wrote. The test app ``tests/apps/datapaths_project`` uses ``self.args.data_in`` /
``data_out`` / ``report`` directly, with no helper, and runs for real locally and on Dask.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import pytest
from pydantic import BaseModel

from agi_jupyter import AGI, AgiEnv, DataPath, Mode, RunRequest
from agi_jupyter.app import BaseManager
from agi_jupyter.core import cluster, local
from agi_jupyter.core.args import describe_args, load_args, save_args
from agi_jupyter.core.env import DATA_PATH, resolve_data_args
from agi_jupyter.core.requests import RunRequest as Request
from agi_jupyter.core.snippets import make_snippet
from agi_jupyter.worker import BaseWorker

APPS = Path(__file__).parent / "apps"
TEXTS = {"alpha.txt": "first file", "beta.txt": "second, longer file", "gamma.txt": "third"}


class Sample(BaseModel):
    data_in: str = "sample/in"
    data_out: Path = Path("sample/out")
    report: DataPath = "sample/report"
    extras: list[DataPath] = ["sample/a", "/elsewhere/b"]
    optional: DataPath | None = None
    folder: Annotated[Path, DATA_PATH] = Path("sample/folder")
    label: str = "not/a/path"


# ----- resolving ------------------------------------------------------------------------------
def test_relative_data_paths_resolve_under_the_share_dir_and_keep_their_types(tmp_path: Path) -> None:
    share = tmp_path / "share"
    given = Sample()
    resolved = resolve_data_args(given, share)
    assert resolved.data_in == str(share / "sample/in") and isinstance(resolved.data_in, str)
    assert resolved.data_out == share / "sample/out" and isinstance(resolved.data_out, Path)
    assert resolved.report == str(share / "sample/report")
    assert resolved.extras == [str(share / "sample/a"), "/elsewhere/b"]
    assert resolved.folder == share / "sample/folder"
    assert resolved.optional is None and resolved.label == "not/a/path"  # not a data path: as written
    assert given == Sample(), "the arguments passed in were changed"


def test_absolute_paths_stay_and_home_is_expanded(tmp_path: Path) -> None:
    resolved = resolve_data_args(Sample(data_in="/data/flights", report="~/reports"), tmp_path)
    assert resolved.data_in == "/data/flights"
    assert resolved.report == str(Path.home() / "reports")


def test_resolving_twice_changes_nothing_and_the_helper_keeps_resolved_paths(tmp_path: Path) -> None:
    once = resolve_data_args(Sample(), tmp_path)
    assert resolve_data_args(once, tmp_path / "other") == once
    worker = BaseWorker(once, share_dir=tmp_path / "other")
    assert worker.args == once
    assert worker.data_path(worker.args.data_in) == Path(once.data_in)  # the old style: a no-op now
    assert worker.data_path("more/files") == tmp_path / "other" / "more/files"


def test_worker_resolves_mapping_and_namespace_args_with_its_share_dir(tmp_path: Path) -> None:
    from_mapping = BaseWorker({"data_in": "in", "data_out": "/abs/out", "n": 3}, share_dir=tmp_path)
    assert vars(from_mapping.args) == {"data_in": str(tmp_path / "in"), "data_out": "/abs/out", "n": 3}
    namespace = SimpleNamespace(data_out="out", name="x")
    from_namespace = BaseWorker(namespace, share_dir=tmp_path)
    assert from_namespace.args.data_out == str(tmp_path / "out") and namespace.data_out == "out"


def test_worker_without_a_share_dir_uses_the_environment(isolated_roots: Path) -> None:
    worker = BaseWorker(Sample())
    assert worker.args.data_in == str(isolated_roots / "share" / "sample/in")


def test_a_manager_built_directly_gets_resolved_args(isolated_roots: Path) -> None:
    manager = BaseManager(Sample(data_out=Path("/abs/out")))
    assert manager.args.data_in == str(isolated_roots / "share" / "sample/in")
    assert manager.args.data_out == Path("/abs/out")
    assert manager.data_path(manager.args.report) == Path(manager.args.report)


def test_describe_args_shows_data_paths_as_path_fields_with_the_written_default() -> None:
    fields = {field.name: field for field in describe_args(Sample)}
    assert fields["report"].kind == "path" and fields["report"].default == "sample/report"
    assert fields["data_in"].kind == "path" and fields["label"].kind == "str"
    assert fields["extras"].kind == "list" and fields["optional"].kind == "path"


# ----- the test app: manager side ------------------------------------------------------------
@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgiEnv:
    """A copy of the data paths app, its inputs in the share dir, and an empty working directory."""
    shutil.copytree(APPS / "datapaths_project", tmp_path / "apps" / "datapaths_project")
    env = AgiEnv("datapaths", apps_path=tmp_path / "apps")
    inputs = env.share_dir / "datapaths" / "in"
    inputs.mkdir(parents=True)
    for name, text in TEXTS.items():
        (inputs / name).write_text(text)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    yield env
    local.close_local_workers()


def test_manager_reads_data_in_from_the_share_dir_and_the_saved_plan_keeps_the_text(app: AgiEnv) -> None:
    args = load_args(app)
    manager = app.manager_class()(args, app)
    assert manager.args.data_in == str(app.share_dir / "datapaths" / "in")
    assert args.data_in == "datapaths/in", "the validated arguments were changed in place"
    distribution = asyncio.run(AGI.get_distrib(app))
    assert sorted(chunk.label for chunks in distribution.plan.slots for chunk in chunks) == ["alpha", "beta", "gamma"]
    assert distribution.args["data_in"] == "datapaths/in" and distribution.args["report"] == "datapaths/report"
    again = asyncio.run(AGI.get_distrib(app))
    assert again.reason.startswith("saved plan reused"), again.reason  # relative text both times: not stale


def test_saved_settings_and_snippets_keep_the_relative_text(app: AgiEnv) -> None:
    save_args(app, {"report": "datapaths/elsewhere"})
    text = app.settings_path.read_text()
    assert 'report = "datapaths/elsewhere"' in text and str(app.share_dir) not in text
    assert load_args(app).report == "datapaths/elsewhere"
    code = make_snippet(app, "run", Request(mode=0, params={"data_out": "datapaths/other"})).code
    assert "datapaths/other" in code and str(app.share_dir) not in code


# ----- the test app: real runs ------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module():
    yield
    cluster.close_local_cluster()
    cluster.close_clients()


def files_under(folder: Path) -> set[str]:
    """Every file below ``folder`` (compiled Python caches aside), as relative paths."""
    return {
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def run(env: AgiEnv, mode: Mode, **params: str) -> None:
    asyncio.run(AGI.install(env, modes_enabled=mode))
    asyncio.run(AGI.run(env, RunRequest(mode=mode, params=params)))


@pytest.mark.slow
@pytest.mark.parametrize("mode", [Mode.PYTHON, Mode.DASK, Mode.POOL], ids=["local", "dask", "pool"])
def test_manager_and_worker_read_and_write_under_the_share_dir(app: AgiEnv, mode: Mode) -> None:
    app_files = files_under(app.app_path)
    run(app, mode)
    share = app.share_dir / "datapaths"
    written = {name: (share / "out" / name).read_text() for name in TEXTS}
    assert written == {name: text.upper() for name, text in TEXTS.items()}
    seen = (share / "report" / "alpha.txt").read_text().splitlines()
    assert seen == [str(share / "in"), str(share / "out"), str(share / "report")]  # what the worker's args held
    assert not os.listdir(Path.cwd()), "something was written in the working directory"
    assert files_under(app.app_path) == app_files, "something was written in the app folder"
    assert app.settings_path.read_text().count(str(app.share_dir)) == 0


@pytest.mark.slow
def test_absolute_paths_given_for_a_run_stay_as_they_are(app: AgiEnv, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    run(app, Mode.PYTHON, data_out=str(elsewhere), report=str(tmp_path / "report"))
    assert sorted(path.name for path in elsewhere.iterdir()) == sorted(TEXTS)
    assert not (app.share_dir / "datapaths" / "out").exists()
    seen = (tmp_path / "report" / "beta.txt").read_text().splitlines()
    assert seen == [str(app.share_dir / "datapaths" / "in"), str(elsewhere), str(tmp_path / "report")]


MANAGER_WITH_HELPER = """
from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots


class Datapaths(BaseManager):
    def build_distribution(self, workers):
        files = sorted(self.data_path(self.args.data_in).glob("*.txt"))
        chunks = [Chunk(path.stem, 1.0, [path.name]) for path in files]
        return WorkPlan.balanced(chunks, len(worker_slots(workers)))
"""

WORKER_WITH_HELPER = """
from agi_jupyter.worker import BaseWorker


class DatapathsWorker(BaseWorker):
    def work_pool(self, item):
        text = (self.data_path(self.args.data_in) / item).read_text()
        folder = self.data_path(self.args.data_out)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / item).write_text(text.upper())
"""


@pytest.mark.slow
def test_apps_that_call_the_helper_still_work(app: AgiEnv) -> None:
    app.manager_path.write_text(MANAGER_WITH_HELPER)
    app.worker_path.write_text(WORKER_WITH_HELPER)
    run(app, Mode.PYTHON)
    folder = app.share_dir / "datapaths" / "out"
    assert {path.name: path.read_text() for path in folder.iterdir()} == {n: t.upper() for n, t in TEXTS.items()}
    assert not os.listdir(Path.cwd())
