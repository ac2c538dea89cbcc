"""The user pages of the documentation site keep up with the code they describe.

Troubleshooting has one section per doctor check (named as the check names itself), the tour one
section per Orchestrator tab, and every image a page shows is a committed file under
``docs/_static`` (the site is built offline: no image may come from elsewhere).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.doctor import run_checks
from agi_jupyter.widgets.orchestrator import TABS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
STATIC = DOCS / "_static"

MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)")
DIRECTIVE_IMAGE = re.compile(r"^(?:```|:::)\{(?:image|figure)\}\s+(\S+)", re.MULTILINE)
HTML_IMAGE = re.compile(r"<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", re.IGNORECASE)


def pages() -> list[Path]:
    """Every Markdown page of the site (the notebooks folder is the notebooks, not pages)."""
    return sorted(path for path in DOCS.rglob("*.md") if "notebooks" not in path.relative_to(DOCS).parts)


def image_references(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [*MARKDOWN_IMAGE.findall(text), *DIRECTIVE_IMAGE.findall(text), *HTML_IMAGE.findall(text)]


def headings(page: Path, level: int) -> list[str]:
    marks = "#" * level
    return [
        line[level + 1 :].strip()
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith(f"{marks} ")
    ]


def test_troubleshooting_has_one_section_per_doctor_check_in_order(apps_path: Path) -> None:
    names = [check.name for check in run_checks(AgiEnv("flight", apps_path=apps_path))]
    sections = [
        heading[1:-1] for heading in headings(DOCS / "troubleshooting.md", 2) if re.fullmatch(r"`[^`]+`", heading)
    ]
    assert sections == names, "docs/troubleshooting.md needs one '## `<check name>`' section per doctor check"


def test_the_tour_has_one_section_per_orchestrator_tab() -> None:
    sections = headings(DOCS / "tour.md", 2)
    missing = [title for title in TABS if title not in sections]
    assert not missing, f"docs/tour.md has no '## <tab>' section for {missing}"


def test_every_image_the_pages_show_is_a_committed_file_under_static() -> None:
    references = {page: image_references(page) for page in pages()}
    assert sum(map(len, references.values())) >= 10, "the tour and the architecture page show images"
    problems = []
    for page, targets in references.items():
        for target in targets:
            path = (page.parent / target).resolve()
            if not path.is_file():
                problems.append(f"{page.relative_to(ROOT)}: {target} does not exist")
            elif not path.is_relative_to(STATIC.resolve()):
                problems.append(f"{page.relative_to(ROOT)}: {target} is not under docs/_static")
    assert not problems, "\n".join(problems)


def test_the_screenshots_script_refreshes_every_tour_image() -> None:
    """``scripts/docs-screenshots`` copies from the browser tests' output every PNG the tour shows."""
    script = (ROOT / "scripts" / "docs-screenshots").read_text(encoding="utf-8")
    listed = set(re.search(r"NAMES=\(([^)]*)\)", script).group(1).split())  # type: ignore[union-attr]
    shown = {Path(target).stem for target in image_references(DOCS / "tour.md") if "_static/tour/" in target}
    assert shown == listed


def script_tree(tmp_path: Path) -> Path:
    """A copy of ``scripts/docs-screenshots`` in a tree of its own, using this checkout's virtual environment."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "docs-screenshots").write_bytes((ROOT / "scripts" / "docs-screenshots").read_bytes())
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def run_script(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(tree / "scripts" / "docs-screenshots")], capture_output=True, text=True, timeout=120
    )


def test_the_screenshots_script_names_what_is_missing(tmp_path: Path) -> None:
    tree = script_tree(tmp_path)
    finished = run_script(tree)
    assert finished.returncode == 1
    assert "missing screenshots (run the browser tests first)" in finished.stderr
    assert "test-artifacts/e2e/tab-settings.png" in finished.stderr
    assert not (tree / "docs").exists()


def test_the_screenshots_script_trims_the_band_beyond_the_window_and_shrinks_big_images(tmp_path: Path) -> None:
    """A widget taller than the browser window ends with JupyterLab's status bar and a grey band: cut;
    a screenshot that fits is copied whole; one over 300 KB is re-encoded with a palette."""
    import random

    from PIL import Image, ImageDraw

    tree = script_tree(tmp_path)
    script = (tree / "scripts" / "docs-screenshots").read_text(encoding="utf-8")
    names = re.search(r"NAMES=\(([^)]*)\)", script).group(1).split()  # type: ignore[union-attr]
    source = tree / "test-artifacts" / "e2e"
    source.mkdir(parents=True)
    for name in names:
        image = Image.new("RGB", (200, 120), "white")
        ImageDraw.Draw(image).text((10, 10), name, fill="black")
        image.save(source / f"{name}.png")
    tall = Image.new("RGB", (300, 500), "white")
    draw = ImageDraw.Draw(tall)
    draw.text((10, 10), "the visible part", fill="black")
    draw.rectangle((0, 300, 299, 305), fill=(189, 189, 189))  # the panel's border
    draw.rectangle((0, 306, 299, 330), fill=(238, 238, 238))  # the status bar...
    draw.text((150, 312), "Mode: Command", fill="black")  # ...with its text
    draw.rectangle((0, 331, 299, 499), fill=(189, 189, 189))  # beyond the window
    tall.save(source / "tab-run.png")
    noise = random.Random(1)
    big = Image.frombytes("RGB", (400, 400), bytes(noise.getrandbits(8) for _ in range(400 * 400 * 3)))
    big.save(source / "tab-data.png")

    finished = run_script(tree)

    assert finished.returncode == 0, finished.stderr
    target = tree / "docs" / "_static" / "tour"
    assert sorted(path.stem for path in target.glob("*.png")) == sorted(names)
    assert Image.open(target / "tab-settings.png").size == (200, 120)
    assert Image.open(target / "tab-run.png").size == (300, 300)
    assert (source / "tab-data.png").stat().st_size > 300 * 1024
    assert (target / "tab-data.png").stat().st_size <= 300 * 1024
    assert Image.open(target / "tab-data.png").mode == "P"


# ----- the code blocks run -------------------------------------------------------------------------
USER_PAGES = ("quickstart.md", "tour.md", "troubleshooting.md", "architecture.md", "dashboard.md")
PYTHON_BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
RUNNER = '''"""Run the pages' Python blocks in order, in one namespace, as notebook cells (top-level await)."""
import ast
import asyncio
import json
import sys


async def main() -> None:
    namespace = {"__name__": "__docs__"}
    for where, source in json.loads(open(sys.argv[1], encoding="utf-8").read()):
        result = eval(compile(source, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), namespace)
        if asyncio.iscoroutine(result):
            await result
        print("ran", where, flush=True)
    from agi_jupyter import AGI

    AGI.close()


if __name__ == "__main__":
    asyncio.run(main())
'''


def python_blocks(page: Path) -> list[tuple[str, str]]:
    """Each ```python block of ``page`` as (page path, source padded so tracebacks give the page's line numbers)."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in PYTHON_BLOCK.finditer(text):
        line = text.count("\n", 0, match.start(2))
        blocks.append((str(page.relative_to(ROOT)), "\n" * line + textwrap.dedent(match.group(2))))
    return blocks


@pytest.mark.slow
def test_every_python_block_of_the_user_pages_runs_in_reading_order(apps_path: Path, tmp_path: Path) -> None:
    """A reader who runs the blocks as notebook cells, page after page, meets no error.

    One fresh process with this test's roots and a writable copy of the example apps; the blocks
    install and run the flight app (the Dask one on a local cluster) and load and export its data.
    """
    blocks = [block for page in USER_PAGES for block in python_blocks(DOCS / page)]
    assert len(blocks) >= 8  # the indented block of a list item too
    (tmp_path / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    (tmp_path / "run_blocks.py").write_text(RUNNER, encoding="utf-8")
    environment = {**os.environ, "AGI_APPS_PATH": str(apps_path)}
    finished = subprocess.run(
        [sys.executable, str(tmp_path / "run_blocks.py"), str(tmp_path / "blocks.json")],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-4000:]
    assert finished.stdout.count("ran docs/") == len(blocks)
