"""The documentation site builds clean and its references cover the code.

The site is built once, as the README says (``sphinx-build -W -n --keep-going``): every warning,
an unresolved cross-reference included, fails it. The built inventory (``objects.inv``) must
hold every public name the README's API example uses, and the generated reference pages must
name every CLI subcommand, settings key and environment variable the code has.
"""

from __future__ import annotations

import ast
import html
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from agi_jupyter.cli import build_parser
from agi_jupyter.core.env import _DEFAULTS, VARIABLES
from agi_jupyter.core.settings import ClusterSettings, HostSettings, ServiceHealthSettings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "agi_jupyter"

VARIABLE_LITERAL = re.compile(r"""["']((?:AGI|AGILAB)_[A-Z0-9_]+)["']""")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built into a temporary folder with the README's command; fails on any warning."""
    out = tmp_path_factory.mktemp("site") / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, f"sphinx-build failed:\n{build.stderr[-6000:]}"
    return out


def inventory(site: Path) -> set[str]:
    """The object names in the built ``objects.inv`` (format version 2: four header lines, then zlib)."""
    data = (site / "objects.inv").read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = data.index(b"\n", header_end) + 1
    names = set()
    for line in zlib.decompress(data[header_end:]).decode().splitlines():
        match = re.match(r"(.+?)\s+\S+:\S+\s+-?\d+\s", line)
        if match:
            names.add(match.group(1))
    return names


def page_text(site: Path, page: str) -> str:
    """The visible text of a built page's article (navigation left out; tags dropped, entities decoded)."""
    body = (site / page).read_text(encoding="utf-8")
    body = body[body.index("<article") : body.index("</article>")]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def readme_api_names() -> list[str]:
    """``agi_jupyter.<Name>`` for each name the README's API example imports, and
    ``agi_jupyter.AGI.<method>`` for each ``AGI.<method>`` it calls."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The public API in ten lines", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block, "README: no ```python block under 'The public API in ten lines'"
    source = block.group(1)
    tree = ast.parse(source.replace("await ", ""))  # top-level await is notebook syntax
    imported = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "agi_jupyter"
        for alias in node.names
    ]
    methods = sorted(
        {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "AGI"
        }
    )
    assert imported and methods, f"README's API block names nothing: {source!r}"
    return [f"agi_jupyter.{name}" for name in imported] + [f"agi_jupyter.AGI.{method}" for method in methods]


def settings_keys() -> list[str]:
    return [
        field.alias or name
        for model in (ClusterSettings, ServiceHealthSettings, HostSettings)
        for name, field in model.model_fields.items()
    ]


def subcommand_names() -> list[str]:
    parser = build_parser()
    return [
        name
        for action in parser._actions
        if hasattr(action, "choices") and isinstance(action.choices, dict)
        for name in action.choices
    ]


def variables_read() -> dict[str, list[str]]:
    """Each ``AGI_*``/``AGILAB_*`` string literal in the package's code -> the files it is in."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "examples" in path.parts or "tests" in path.parts:
            continue
        for name in VARIABLE_LITERAL.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


@pytest.mark.slow
def test_every_public_name_of_the_readme_api_has_a_reference_entry(site: Path) -> None:
    names = inventory(site)
    missing = [name for name in readme_api_names() if name not in names]
    assert not missing, f"no reference entry in objects.inv for {missing}"


@pytest.mark.slow
def test_every_exported_name_and_engine_call_has_a_reference_entry(site: Path) -> None:
    import agi_jupyter
    import agi_jupyter.app
    import agi_jupyter.worker

    names = inventory(site)
    wanted = [
        f"{module.__name__}.{name}"
        for module in (agi_jupyter, agi_jupyter.app, agi_jupyter.worker)
        for name in module.__all__
    ]
    wanted += [f"agi_jupyter.AGI.{name}" for name in vars(agi_jupyter.AGI) if not name.startswith("_")]
    missing = [name for name in wanted if name not in names]
    assert not missing, f"no reference entry in objects.inv for {missing}"


@pytest.mark.slow
def test_the_cli_page_has_every_subcommand(site: Path) -> None:
    text = page_text(site, "reference/cli.html")
    names = subcommand_names()
    assert {"install", "run", "health", "cluster"} <= set(names)
    missing = [name for name in names if f"agi-jupyter {name}" not in text]
    assert not missing, f"reference/cli.html lacks the subcommands {missing}"


@pytest.mark.slow
def test_the_settings_page_has_every_key_with_its_description(site: Path) -> None:
    text = page_text(site, "reference/settings.html")
    squeezed = re.sub(r"\s", "", text)  # code spans add spaces around their text
    missing = [key for key in settings_keys() if key not in text]
    assert not missing, f"reference/settings.html lacks the keys {missing}"
    undescribed = [
        name
        for model in (ClusterSettings, ServiceHealthSettings, HostSettings)
        for name, field in model.model_fields.items()
        if not field.description or re.sub(r"\s", "", field.description.replace("``", "")) not in squeezed
    ]
    assert not undescribed, f"settings keys whose description is not on the page: {undescribed}"


@pytest.mark.slow
def test_the_environment_page_has_every_variable(site: Path) -> None:
    text = page_text(site, "reference/environment.html")
    missing = [variable.name for variable in VARIABLES if variable.name not in text]
    assert not missing, f"reference/environment.html lacks {missing}"


@pytest.mark.slow
def test_the_files_page_names_every_file_the_product_writes(site: Path) -> None:
    text = page_text(site, "reference/files.html")
    files = [
        "app_settings.toml",
        "distribution.json",
        "benchmark.json",
        "benchmark_history.json",
        "install.json",
        "health.json",
        "operator.json",
        "<host>_<port>.json",
        "export.csv",
        "heartbeats",
    ]
    missing = [name for name in files if name not in text]
    assert not missing, f"reference/files.html lacks {missing}"
    assert "flight" not in text, "an example's name leaked into the generic paths"


@pytest.mark.slow
def test_the_health_page_has_every_field_status_and_exit_code(site: Path) -> None:
    from agi_jupyter.core.service import health
    from agi_jupyter.core.service.records import HEALTH_SCHEMA, HealthSnapshot

    text = page_text(site, "reference/health.html")
    fields = HealthSnapshot.model_json_schema(by_alias=True)["properties"]
    missing = [name for name in [*fields, *health.STATUSES, HEALTH_SCHEMA] if name not in text]
    assert not missing, f"reference/health.html lacks {missing}"
    codes = re.findall(r"\b(\d)\s+(PASS|OTHER|UNHEALTHY|DEGRADED|IDLE|RESTARTS)\b", text)
    assert {name: int(code) for code, name in codes} == {
        name: getattr(health, name) for name in ("PASS", "OTHER", "UNHEALTHY", "DEGRADED", "IDLE", "RESTARTS")
    }


@pytest.mark.slow
def test_the_notebooks_are_rendered_from_the_files_nbval_runs(site: Path) -> None:
    assert (DOCS / "notebooks").resolve() == (ROOT / "notebooks").resolve()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    missing = [path.name for path in notebooks if not (site / "notebooks" / f"{path.stem}.html").is_file()]
    assert not missing, f"notebooks not rendered in the site: {missing}"


def test_every_environment_variable_the_code_reads_is_in_the_table() -> None:
    read = variables_read()
    listed = {variable.name for variable in VARIABLES}
    unlisted = {name: files for name, files in read.items() if name not in listed}
    assert not unlisted, f"variables read but missing from agi_jupyter.core.env.VARIABLES: {unlisted}"
    stale = sorted(listed - set(read))
    assert not stale, f"VARIABLES lists variables no code reads: {stale}"


def test_the_table_gives_the_defaults_the_code_uses() -> None:
    defaults = {variable.name: variable.default for variable in VARIABLES}
    assert {name: defaults.get(name) for name in _DEFAULTS} == _DEFAULTS
