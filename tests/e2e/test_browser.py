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
        orchestrator.screenshot(path=str(artifacts / f"tab-{title.lower()}.png"))
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
