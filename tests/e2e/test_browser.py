"""End to end in a real browser: the Orchestrator in JupyterLab, its buttons, "Insert as cell",
the launcher command, a screenshot of every tab, and one of the Settings tab's SSH and worker
hosts section after CHECK HOSTS (``settings-ssh.png``)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

pytestmark = pytest.mark.slow

TABS = ("Settings", "Install", "Distribute", "Run", "Service", "Data")
BURST = """from agi_jupyter.notebook import CellInserter, current_cell_id
inserter, here = CellInserter(), current_cell_id()
for number in range(5):
    inserter.insert(f"print('burst {number}')", here, {"action": f"burst{number}", "app": "e2e", "digest": "0"},
                    on_reply=lambda reply: None)
"""


def write_notebook(root: Path) -> str:
    cells = [
        new_code_cell("from agi_jupyter import Orchestrator\n\nOrchestrator('flight_project')"),
        new_markdown_cell("The burst below inserts five cells under itself."),
        new_code_cell(BURST),
    ]
    notebook = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nbformat.write(notebook, root / "e2e.ipynb")
    return "e2e.ipynb"


def visible_notebook(page):  # noqa: ANN001, ANN201
    panel_id = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current").get_attribute("data-id")
    return page.locator(f"[id='{panel_id}']")


def cell_texts(notebook) -> list[str]:  # noqa: ANN001
    return [text.strip() for text in notebook.locator(".jp-Cell .jp-InputArea-editor").all_inner_texts()]


def wait_idle(page) -> None:  # noqa: ANN001
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)


def run_cell(page, notebook, index: int, attempts: int = 3) -> None:  # noqa: ANN001
    """Shift+Enter in cell ``index``, until the kernel takes it ([*] or an execution count).

    A fresh environment's first kernel can still be connecting when the page says idle; an
    execution sent then is dropped, so it is sent again — only while nothing was accepted.
    """
    cell = notebook.locator(".jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(attempts):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "el => /\\[(\\d+|\\*)\\]/.test(el.innerText)", arg=prompt.element_handle(), timeout=30_000
            )
            break
        except Exception:  # noqa: BLE001 - retried, then the last wait below fails loudly
            continue
    # done when the prompt shows a count: the kernel indicator can say idle before the cell starts
    page.wait_for_function("el => /\\[\\d+\\]/.test(el.innerText)", arg=prompt.element_handle(), timeout=120_000)
    wait_idle(page)
    assert re.search(r"\[\d+\]", prompt.inner_text()), f"cell {index} did not run: {prompt.inner_text()!r}"


def widget_tab(orchestrator, title: str):  # noqa: ANN001, ANN201
    """Select a tab of the Orchestrator; return the Orchestrator to look for visible controls in."""
    orchestrator.locator(".lm-TabBar-tab", has_text=re.compile(f"^{title}$")).first.click()
    return orchestrator


def button(scope, label: str):  # noqa: ANN001, ANN201
    """The visible button whose text is exactly ``label``."""
    return scope.locator("button.jupyter-button:visible", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def test_orchestrator_buttons_insert_as_cell_and_screenshots(lab: dict, page, artifacts: Path) -> None:  # noqa: ANN001
    name = write_notebook(lab["root"])
    page.goto(f"{lab['url']}/lab/tree/{name}?reset")
    notebook = visible_notebook(page)
    notebook.locator(".jp-Cell").first.wait_for()
    wait_idle(page)
    run_cell(page, notebook, 0)
    orchestrator = notebook.locator(".jp-Cell").first.locator(".widget-tab").first
    orchestrator.wait_for(timeout=60_000)

    install = widget_tab(orchestrator, "Install")
    button(install, "INSTALL").click()
    page.get_by_text(re.compile(r"installed in \d")).wait_for(timeout=180_000)

    distribute = widget_tab(orchestrator, "Distribute")
    button(distribute, "CHECK DISTRIBUTE").click()
    page.get_by_text(re.compile(r"no saved plan: built a new one|saved plan reused")).first.wait_for()

    run = widget_tab(orchestrator, "Run")
    button(run, "RUN").click()
    page.get_by_text(re.compile(r"mode 0: python done in")).wait_for(timeout=120_000)

    before = cell_texts(notebook)
    button(run, "Insert as cell").click()
    page.get_by_text("inserted below the Orchestrator's cell").wait_for()
    after = cell_texts(notebook)
    assert len(after) == len(before) + 1
    assert "await AGI.run(env, request)" in after[1] and after[0] == before[0]
    run_cell(page, notebook, 1)
    output = notebook.locator(".jp-Cell").nth(1).locator(".jp-OutputArea")
    assert "RunResult(" in output.inner_text() and "Traceback" not in output.inner_text()

    inserted = notebook.locator(".jp-Cell").nth(1)
    settings = widget_tab(orchestrator, "Settings")
    settings.locator("button:visible", has_text=re.compile(r"^\s*pool\s*$")).click()  # a settings change
    page.wait_for_function("el => el.classList.contains('agi-jupyter-stale')", arg=inserted.element_handle())
    settings.locator("button:visible", has_text=re.compile(r"^\s*pool\s*$")).click()  # and back
    page.wait_for_function("el => !el.classList.contains('agi-jupyter-stale')", arg=inserted.element_handle())

    for title in TABS:
        widget_tab(orchestrator, title)
        page.wait_for_timeout(300)
        shoot(page, orchestrator, artifacts / f"tab-{title.lower()}.png")  # the whole tab, chart and all
    assert all((artifacts / f"tab-{title.lower()}.png").stat().st_size > 1000 for title in TABS)

    # the Settings tab's SSH and worker hosts section, after CHECK HOSTS (127.0.0.1 only: no SSH)
    settings = widget_tab(orchestrator, "Settings")
    section = settings.locator(".agi-ssh-hosts")
    section.scroll_into_view_if_needed()
    assert section.get_by_text("ssh_port", exact=True).first.is_visible()
    button(section, "CHECK HOSTS").click()
    section.get_by_text("this machine: no SSH needed").wait_for(timeout=60_000)
    section.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    section.screenshot(path=str(artifacts / "settings-ssh.png"))
    assert (artifacts / "settings-ssh.png").stat().st_size > 1000


def test_a_burst_of_inserts_keeps_its_order(lab: dict, page) -> None:  # noqa: ANN001
    name = write_notebook(lab["root"])
    page.goto(f"{lab['url']}/lab/tree/{name}?reset")
    notebook = visible_notebook(page)
    notebook.locator(".jp-Cell").first.wait_for()
    wait_idle(page)
    run_cell(page, notebook, 2)
    notebook.locator(".jp-Cell").nth(7).wait_for(timeout=30_000)
    texts = cell_texts(notebook)
    assert texts[3:8] == [f"print('burst {number}')" for number in range(5)]


def test_launcher_command_opens_an_orchestrator_notebook(lab: dict, page) -> None:  # noqa: ANN001
    page.goto(f"{lab['url']}/lab?reset")
    page.locator("#jp-main-dock-panel").wait_for()
    page.keyboard.press("Control+Shift+C")
    page.keyboard.type("AGI Orchestrator")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('.jp-NotebookPanel').length > 0", timeout=60_000)
    notebook = visible_notebook(page)
    notebook.locator(".jp-Cell").first.wait_for()
    assert "Orchestrator()" in cell_texts(notebook)[0]


def test_distribute_draws_the_sensors_dag_screenshots(lab: dict, page, artifacts: Path) -> None:  # noqa: ANN001
    """CHECK DISTRIBUTE for the sensors app draws its DAG: one node per step (``distribute-dag.png``)."""
    cells = [new_code_cell("from agi_jupyter import Orchestrator\n\nOrchestrator('sensors_project')")]
    notebook_file = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nbformat.write(notebook_file, lab["root"] / "dag.ipynb")
    page.goto(f"{lab['url']}/lab/tree/dag.ipynb?reset")
    notebook = visible_notebook(page)
    notebook.locator(".jp-Cell").first.wait_for()
    wait_idle(page)
    run_cell(page, notebook, 0)
    orchestrator = notebook.locator(".jp-Cell").first.locator(".widget-tab").first
    orchestrator.wait_for(timeout=60_000)
    distribute = widget_tab(orchestrator, "Distribute")
    button(distribute, "CHECK DISTRIBUTE").click()
    page.get_by_text(re.compile(r"no saved plan: built a new one|saved plan reused")).first.wait_for()
    graph = distribute.locator(".agi-dag-graph")
    graph.get_by_text("report", exact=True).first.wait_for(timeout=60_000)
    graph.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    steps = graph.locator(".network .node .label").all_text_contents()  # SVG text has no innerText
    assert sorted(steps) == sorted(
        [f"{kind}_{station}" for station in ("north", "south", "east", "west") for kind in ("ingest", "clean")]
        + ["merge", "daily", "anomalies", "report"]
    ), steps
    graph.screenshot(path=str(artifacts / "distribute-dag.png"))
    assert (artifacts / "distribute-dag.png").stat().st_size > 1000


# ----- layout at 1024 px, the dark theme, the status line and the benchmark history -------------------
OVERFLOW = """root => {
    const limit = window.innerWidth + 2;
    const wide = [];
    for (const el of [root, ...root.querySelectorAll('*')]) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;  // hidden
        if (box.width > limit || box.right > limit) {
            wide.push(`${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ${Math.round(box.width)}px`
                + ` right ${Math.round(box.right)}: ${(el.innerText || '').slice(0, 60)}`);
        }
    }
    return {scroll: root.scrollWidth, client: root.clientWidth, wide: wide.slice(0, 12)};
}"""


def open_notebook(lab: dict, page, name: str, code_cell: int) -> object:  # noqa: ANN001
    """Open ``name`` from the lab's root, run its cell ``code_cell``; return the Orchestrator's element."""
    page.goto(f"{lab['url']}/lab/tree/{name}?reset")
    notebook = visible_notebook(page)
    notebook.locator(".jp-Cell").first.wait_for()
    wait_idle(page)
    run_cell(page, notebook, code_cell)
    orchestrator = notebook.locator(".jp-Cell").nth(code_cell).locator(".agi-orchestrator").first
    orchestrator.locator(".widget-tab").first.wait_for(timeout=60_000)
    return orchestrator


TEXT_COLOURS = """root => {
    const opaque = colour => { const alpha = colour.match(/[\\d.]+/g)[3]; return alpha === undefined || +alpha > 0.5; };
    const background = el => {
        for (; el; el = el.parentElement) {
            const colour = getComputedStyle(el).backgroundColor;
            if (opaque(colour)) return colour;
        }
        return getComputedStyle(document.body).backgroundColor;
    };
    return [...root.querySelectorAll('*')]
        .filter(el => !(el instanceof SVGElement) && el.getBoundingClientRect().width > 0)
        .filter(el => [...el.childNodes].some(node => node.nodeType === Node.TEXT_NODE && node.textContent.trim()))
        .map(el => [el.innerText.trim().slice(0, 50), getComputedStyle(el).color, background(el)]);
}"""


def shoot(page, element, path: Path) -> None:  # noqa: ANN001
    """Screenshot ``element`` whole: the viewport grows in height for it (never in width), then shrinks back."""
    size = page.viewport_size
    height = int(element.bounding_box()["height"])
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 320)})
    page.wait_for_timeout(300)
    element.screenshot(path=str(path))
    page.set_viewport_size(size)


def assert_fits(orchestrator, where: str) -> None:  # noqa: ANN001
    measured = orchestrator.evaluate(OVERFLOW)
    assert measured["scroll"] <= measured["client"] + 2, f"{where}: the Orchestrator scrolls sideways: {measured}"
    assert measured["wide"] == [], f"{where}: wider than the 1024 px viewport: {measured['wide']}"


def set_theme(page, theme: str) -> None:  # noqa: ANN001
    page.evaluate("theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
    light = "true" if "Light" in theme else "false"
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{light}'")
    page.wait_for_timeout(500)


def test_quickstart_fits_1024_px_and_reads_in_the_dark_theme_screenshots(lab: dict, page, artifacts: Path) -> None:  # noqa: ANN001
    """The quick-start notebook's Orchestrator at 1024x768: no tab scrolls sideways (``narrow-<tab>.png``,
    ``narrow-status.png``); then in JupyterLab Dark (``dark-<tab>.png``), text in the theme's colours."""
    source = Path(__file__).resolve().parents[2] / "notebooks" / "01_quickstart.ipynb"
    (lab["root"] / "quickstart.ipynb").write_bytes(source.read_bytes())
    page.set_viewport_size({"width": 1024, "height": 768})
    orchestrator = open_notebook(lab, page, "quickstart.ipynb", 1)
    distribute = widget_tab(orchestrator, "Distribute")
    button(distribute, "CHECK DISTRIBUTE").click()  # the tree, the chart and the editor filled in
    page.get_by_text(re.compile(r"no saved plan: built a new one|saved plan reused")).first.wait_for()
    page.wait_for_timeout(500)

    status = orchestrator.locator(".agi-status-line")
    status.screenshot(path=str(artifacts / "narrow-status.png"))
    for title in TABS:
        widget_tab(orchestrator, title)
        page.wait_for_timeout(400)
        assert_fits(orchestrator, title)
        shoot(page, orchestrator, artifacts / f"narrow-{title.lower()}.png")

    try:
        set_theme(page, "JupyterLab Dark")
        assert page.evaluate("document.body.dataset.jpThemeLight") == "false"
        dark_text: list[str] = []
        for title in TABS:
            widget_tab(orchestrator, title)
            page.wait_for_timeout(400)
            shoot(page, orchestrator, artifacts / f"dark-{title.lower()}.png")
            # text follows the theme: light on dark, never the light theme's dark grey (SVG charts aside)
            texts = orchestrator.evaluate(TEXT_COLOURS)
            assert texts, title
            dark_text += [
                f"{title}: {text!r} {colour} on {ground}"
                for text, colour, ground in texts
                if contrast(colour, ground) < 3.0
            ]
        assert dark_text == []
    finally:
        set_theme(page, "JupyterLab Light")
    for title in TABS:
        assert (artifacts / f"narrow-{title.lower()}.png").stat().st_size > 1000
        assert (artifacts / f"dark-{title.lower()}.png").stat().st_size > 1000


def luminance(colour: str) -> float:
    """The relative luminance (WCAG: 0 black .. 1 white) of a computed ``rgb(...)``/``rgba(...)`` colour."""
    channels = [float(part) / 255 for part in re.findall(r"[\d.]+", colour)[:3]]
    red, green, blue = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(colour: str, ground: str) -> float:
    """WCAG contrast ratio of text ``colour`` on ``ground`` (1 .. 21; 3 is the floor for large text and controls)."""
    lighter, darker = sorted((luminance(colour), luminance(ground)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_status_line_after_install_and_benchmark_history_screenshots(lab: dict, page, artifacts: Path) -> None:  # noqa: ANN001
    """``status-line.png`` after INSTALL; ``benchmark-history.png`` after two benchmarks of mode 0 (flight)."""
    cells = [new_code_cell("from agi_jupyter import Orchestrator\n\nOrchestrator('flight_project')")]
    notebook_file = new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nbformat.write(notebook_file, lab["root"] / "history.ipynb")
    orchestrator = open_notebook(lab, page, "history.ipynb", 0)

    install = widget_tab(orchestrator, "Install")
    button(install, "INSTALL").click()
    page.get_by_text(re.compile(r"installed in \d")).wait_for(timeout=180_000)
    status = orchestrator.locator(".agi-status-line")
    status.get_by_text(re.compile(r"✓ installed")).wait_for()
    status.screenshot(path=str(artifacts / "status-line.png"))

    run = widget_tab(orchestrator, "Run")
    run.locator(".widget-checkbox:visible", has_text="Benchmark").locator("input").check()
    modes = run.locator(".widget-select-multiple select:visible")
    modes.select_option(value=[modes.locator("option").first.get_attribute("value")])  # mode 0 only
    note = run.get_by_text(re.compile(r"benchmark history yet|the last \d+ benchmark\(s\)")).first
    before = re.search(r"the last (\d+)", note.inner_text())
    count = int(before.group(1)) if before else 0
    for number in (count + 1, count + 2):
        button(run, "RUN").click()
        run.get_by_text(f"the last {number} benchmark(s), from").wait_for(timeout=180_000)
        page.wait_for_function("el => !el.disabled", arg=button(run, "RUN").element_handle(), timeout=60_000)
    history = orchestrator.locator(".agi-benchmark-history")
    history.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    history.screenshot(path=str(artifacts / "benchmark-history.png"))
    assert history.locator(".bqplot .line").count() >= 1  # one line per mode
    assert (artifacts / "status-line.png").stat().st_size > 1000
    assert (artifacts / "benchmark-history.png").stat().st_size > 1000
