"""The app author guide (docs/guide/) runs: its apps plan and run, its examples give what they say.

The guide's code lives in MyST ``{code-block}`` directives. Two options tie a block to these tests:

- ``:caption: <name>_project/<path>`` - a file of an app: the tests write it there;
- ``:class: guide-run`` - a snippet: the tests execute the page's snippets in order, in one
  namespace (top-level ``await`` allowed, as in a notebook), after writing the page's files.

The contract page's app is installed and run by the engine, the testing page's tests run on it
with pytest, the service page serves it on an in-process Dask cluster, and the Cython page's
worker module is compiled. Every other Python block must at least compile, every
``agi_jupyter`` name it imports must exist, and every ``AGI.<action>(...)`` or ``<X>Request(...)``
call may only use that request's fields. So an example that no longer matches the code fails
here instead of in a reader's hands.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide"
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<content>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
OPTION = re.compile(r":(?P<name>[\w-]+):[ \t]*(?P<value>.*)")
RUN_CLASS = "guide-run"


@dataclass(frozen=True)
class Block:
    """One fenced block of a guide page."""

    page: str
    line: int  # of the opening fence
    first_line: int  # of the code
    language: str
    caption: str
    classes: tuple[str, ...]
    code: str

    @property
    def where(self) -> str:
        return f"docs/guide/{self.page}:{self.line}"


def blocks(page: str) -> list[Block]:
    """The fenced blocks of ``docs/guide/<page>``, with their code-block options parsed."""
    text = (GUIDE / page).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        info = match["info"].strip()
        lines = match["content"].splitlines(keepends=True)
        line = text.count("\n", 0, match.start()) + 1
        options: dict[str, str] = {}
        if info.startswith("{code-block}") or info.startswith("{code}"):
            language = info.split("}", 1)[1].strip()
            while lines and (option := OPTION.fullmatch(lines[0].strip())):
                options[option["name"]] = option["value"].strip()
                lines.pop(0)
        elif info.startswith("{"):
            continue  # another directive (a figure, a toctree)
        else:
            language = info
        skipped = len(match["content"].splitlines()) - len(lines)
        while lines and not lines[0].strip():
            lines.pop(0)
            skipped += 1
        classes = tuple(options.get("class", "").split())
        block = Block(page, line, line + 1 + skipped, language, options.get("caption", ""), classes, "".join(lines))
        found.append(block)
    return found


def pages() -> list[str]:
    return sorted(path.name for path in GUIDE.glob("*.md"))


def write_app_files(page: str, apps: Path) -> list[Path]:
    """Write the page's app files (blocks captioned ``<name>_project/...``) under ``apps``."""
    written = []
    for block in blocks(page):
        if block.caption.split("/", 1)[0].endswith("_project"):
            path = apps / block.caption
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code, encoding="utf-8")
            written.append(path)
    for folder in {path.parent for path in written if path.suffix == ".py" and path.parent.parent.name == "src"}:
        (folder / "__init__.py").touch()  # "add the two __init__.py files (empty is fine)"
    return written


def run_snippets(page: str, namespace: dict[str, Any] | None = None, count: int | None = None) -> dict[str, Any]:
    """Execute the page's ``guide-run`` blocks (the first ``count`` of them) in order in one namespace."""
    namespace = {"__name__": f"guide_{page.removesuffix('.md')}"} if namespace is None else namespace
    snippets = [block for block in blocks(page) if RUN_CLASS in block.classes]
    for block in snippets[:count]:
        source = "\n" * (block.first_line - 1) + block.code  # tracebacks give the page's line numbers
        code = compile(source, f"docs/guide/{page}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        result = eval(code, namespace)  # noqa: S307 - the guide's own example, run as a notebook cell would
        if inspect.iscoroutine(result):
            asyncio.run(result)
    return namespace


@pytest.fixture
def apps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An apps folder of our own, as ``AGI_APPS_PATH`` (the share dir is the conftest's temporary one)."""
    folder = tmp_path / "apps"
    folder.mkdir()
    monkeypatch.setenv("AGI_APPS_PATH", str(folder))
    yield folder
    for name in [key for key in sys.modules if key.split(".")[0] in {"words", "words_worker"}]:
        del sys.modules[name]  # the next test's app of the same name must import afresh


# ----- every page ---------------------------------------------------------------------------------
ACTION_REQUESTS = {
    "install": "InstallRequest",
    "get_distrib": "DistribRequest",
    "run": "RunRequest",
    "serve": "ServeRequest",
    "submit": "SubmitRequest",
}
"""``AGI.<action>(env, **fields)``: the request model whose fields the keywords must be."""


def keywords_known(call: ast.Call) -> tuple[str, set[str]] | None:
    """For ``AGI.<action>(...)`` or ``<Request>(...)``: the request's name and the unknown keywords."""
    from agi_jupyter.core import requests

    function = call.func
    name = None
    if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) and function.value.id == "AGI":
        name = ACTION_REQUESTS.get(function.attr)
    elif isinstance(function, ast.Name) and function.id.endswith("Request") and hasattr(requests, function.id):
        name = function.id
    if name is None:
        return None
    fields = set(getattr(requests, name).model_fields) | {"on_line", "on_progress", "control"}
    return name, {keyword.arg for keyword in call.keywords if keyword.arg and keyword.arg not in fields}


@pytest.mark.parametrize("page", pages())
def test_every_python_block_compiles_and_uses_names_that_exist(page: str) -> None:
    checked = 0
    for block in blocks(page):
        if block.language != "python":
            continue
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST
        tree = compile(block.code, block.where, "exec", flags=flags, dont_inherit=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agi_jupyter"):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{block.where}: {node.module} has no {alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("agi_jupyter"):
                        importlib.import_module(alias.name)
            elif isinstance(node, ast.Call) and (known := keywords_known(node)):
                assert not known[1], f"{block.where}: {known[0]} has no field {sorted(known[1])}"
        checked += 1
    assert checked, f"docs/guide/{page} has no Python example"


def test_every_guide_page_is_in_the_guide_toctree() -> None:
    index = (GUIDE / "index.md").read_text(encoding="utf-8")
    toctree = index.split("```{toctree}", 1)[1].split("```", 1)[0]
    listed = {line.strip() for line in toctree.splitlines() if line.strip() and not line.startswith(":")}
    assert listed == {page.removesuffix(".md") for page in pages()} - {"index"}


HOOKS = ("start", "work_init", "pool_init", "work_pool", "work_done", "stop")


def test_the_hook_diagram_and_its_text_show_the_order_a_worker_calls_its_hooks(tmp_path: Path) -> None:
    from xml.etree import ElementTree

    from agi_jupyter.worker import BaseWorker

    calls: list[str] = []

    class Recorder(BaseWorker):
        def start(self) -> None:
            calls.append("start")

        def work_init(self) -> None:
            calls.append("work_init")

        def pool_init(self, vars: dict[str, Any]) -> None:  # noqa: A002 - the hook's name
            calls.append("pool_init")

        def work_pool(self, item: Any) -> None:
            calls.append("work_pool")

        def work_done(self, frame: Any) -> None:
            calls.append("work_done")

        def stop(self) -> None:
            calls.append("stop")

    Recorder({}, share_dir=tmp_path).run([("only", [1, 2])])
    order = [call for index, call in enumerate(calls) if index == 0 or calls[index - 1] != call]
    assert tuple(order) == HOOKS

    svg = ElementTree.parse(ROOT / "docs" / "_static" / "guide" / "hooks.svg")
    texts = ["".join(element.itertext()) for element in svg.iter() if element.tag.endswith("}text")]
    drawn = [name for text in texts for name in re.findall(r"(\w+)\(", text) if name in HOOKS]
    assert drawn == order
    [fallback] = [block for block in blocks("index.md") if block.language == "text" and "kernel" in block.code]
    written = [name for name in re.findall(r"(\w+)\(", fallback.code) if name in HOOKS]
    assert written[: len(order)] == order


# ----- the pages with an app or examples --------------------------------------------------------
def test_the_contract_app_plans_installs_and_runs(apps: Path) -> None:
    written = write_app_files("index.md", apps)
    assert {path.relative_to(apps).as_posix() for path in written} >= {
        "words_project/pyproject.toml",
        "words_project/src/app_settings.toml",
        "words_project/src/words/app_args.py",
        "words_project/src/words/words.py",
        "words_project/src/words_worker/words_worker.py",
    }
    namespace = run_snippets("index.md")
    assert namespace["sales"].app_path == apps / "sales_project"  # made from the pandas template
    env, result = namespace["env"], namespace["result"]
    counts = env.data_path("words/counts")
    assert sorted(result.outputs) == sorted(str(counts / f"{name}.parquet") for name in ("frog", "hamlet", "hat"))
    hat = pd.read_parquet(counts / "hat.parquet")
    assert hat.iloc[0].to_dict() == {"text": "hat", "word": "the", "count": 120}
    assert namespace["distribution"].plan.chunk_count == 3


def test_the_testing_page_tests_pass_on_the_contract_app(apps: Path) -> None:
    write_app_files("index.md", apps)
    written = write_app_files("testing.md", apps)
    tests = [path for path in written if path.name.startswith("test_")]
    assert tests, "the testing page shows no test file"
    outcome = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, tests)],
        cwd=apps,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert re.search(r"\b\d+ passed\b", outcome.stdout) and "failed" not in outcome.stdout


def test_the_plan_examples_give_the_plans_they_describe() -> None:
    namespace = run_snippets("plans.md")
    assert namespace["plan"].slots == namespace["tuple_plan"].slots


def test_the_dag_example_runs_its_steps_in_dependency_order() -> None:
    namespace = run_snippets("dag.md")
    assert namespace["plan"].dag is not None


def test_the_modes_examples_run() -> None:
    run_snippets("modes.md")


def test_the_args_examples_validate_and_the_custom_form_saves(apps: Path) -> None:
    write_app_files("index.md", apps)
    assert [path.name for path in write_app_files("args.md", apps)] == ["app_args_form.py"]
    namespace = run_snippets("args.md")
    assert namespace["env"].settings_path.is_relative_to(apps)


@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="needs a C compiler")
def test_the_typed_worker_compiles_with_cython_and_computes_the_same(tmp_path: Path) -> None:
    [source] = [block for block in blocks("cython.md") if block.caption.endswith("_worker.py")]
    (tmp_path / "typed_kernel.py").write_text(source.code, encoding="utf-8")
    build = subprocess.run(
        [sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-3", "-q", "typed_kernel.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    probe = "import typed_kernel as k; print(k.compiled(), k.__file__.endswith('.so'), k.longest_chain(1, 3000))"
    compiled = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split(" ", 2)
    assert compiled[:2] == ["True", "True"]
    pure: dict[str, Any] = {}
    exec(compile(source.code, source.where, "exec", dont_inherit=True), pure)  # noqa: S102 - the guide's module, uncompiled
    assert not pure["compiled"]()
    assert compiled[2].strip() == str(pure["longest_chain"](1, 3000)) == "(2919, 216)"


def test_the_service_page_serves_the_contract_app_on_a_dask_cluster(apps: Path) -> None:
    from distributed import Client, LocalCluster

    write_app_files("index.md", apps)
    run_snippets("index.md", count=2)  # a new app from a template, the sample texts
    cluster = LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp://", dashboard_address=":0"
    )
    try:
        with Client(cluster):  # the kernel's own client, which the service uses
            namespace = run_snippets("service.md")
    finally:
        cluster.close()
    assert callable(getattr(namespace["WatchWorker"], "loop", None))
    ids, health = namespace["ids"], namespace["health"]
    assert len(ids) == 7 and health["queue"] == {"pending": 0, "running": 0, "done": 7, "failed": 0}
    counts = namespace["env"].data_path("words/counts")
    by_plan, [by_items], with_params = ids[:3], ids[3:4], ids[4:]
    hats = sorted(path.name for path in counts.glob("hat-*.parquet"))  # one per task that counted hat.txt
    assert len(hats) == 3 and f"hat-{by_items}.parquet" in hats
    top_five = pd.read_parquet(next(counts / name for name in hats if name.removeprefix("hat-")[:-8] in with_params))
    assert len(top_five) == 5 and top_five.iloc[0].to_dict() == {"text": "hat", "word": "the", "count": 120}
    assert len(by_plan) == 3
