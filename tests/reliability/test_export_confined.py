"""EXPORT stays in the app's export dir, never writes onto an app output, never replaces silently.

Outputs here are real files in the app's output folder (what a run leaves there); the tab is the
real Data tab, driven by clicks.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import save_args
from agi_jupyter.core.data import export, export_target
from agi_jupyter.core.outputs import DataError, output_folder
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.data_tab import DataTab

FRAME = pd.DataFrame({"flight": ["AGI0000", "AGI0001"], "distance_km": [812.5, 344.0]})


def write_output(env: AgiEnv, name: str = "AGI0000.csv") -> Path:
    """An output file as a run leaves it in the app's output folder."""
    folder = output_folder(env)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    FRAME.to_csv(path, index=False)
    return path


def everything_under(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


@pytest.fixture
def env(apps_path: Path) -> AgiEnv:
    return AgiEnv("flight", apps_path=apps_path)


@pytest.mark.parametrize("target", ["../escaped.csv", "../../escaped.csv", "sub/../../escaped.csv"])
def test_a_relative_target_cannot_climb_out_of_the_export_dir(env: AgiEnv, isolated_roots: Path, target: str) -> None:
    before = everything_under(isolated_roots)
    with pytest.raises(DataError) as caught:
        export(FRAME, ["flight"], target, env)
    message = str(caught.value)
    assert target in message and str(env.export_dir) in message and "outside" in message
    assert everything_under(isolated_roots) == before


def test_an_absolute_target_outside_the_export_dir_is_refused(env: AgiEnv, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "mine.csv"
    with pytest.raises(DataError, match="outside the export dir"):
        export(FRAME, ["flight"], target, env)
    assert not target.parent.exists()


def test_a_link_in_the_export_dir_pointing_out_is_refused(env: AgiEnv, tmp_path: Path) -> None:
    outside = tmp_path / "precious.csv"
    outside.write_text("keep me\n")
    env.export_dir.mkdir(parents=True)
    (env.export_dir / "link.csv").symlink_to(outside)
    with pytest.raises(DataError, match="outside the export dir"):
        export(FRAME, ["flight"], "link.csv", env, overwrite=True)
    assert outside.read_text() == "keep me\n"


def test_exporting_onto_an_app_output_is_refused_and_the_output_is_untouched(env: AgiEnv) -> None:
    save_args(env, {"data_out": str(env.export_dir / "summary")})  # outputs inside the export dir
    output = write_output(env)
    saved = output.read_bytes()
    with pytest.raises(DataError) as caught:
        export(output, ["flight"], output, env, overwrite=True)
    assert str(output) in str(caught.value) and "app output" in str(caught.value)
    with pytest.raises(DataError, match="app output"):
        export(FRAME, ["flight"], "summary/new.csv", env, overwrite=True)
    assert output.read_bytes() == saved
    assert sorted(path.name for path in output.parent.iterdir()) == [output.name]


def test_a_second_export_needs_an_explicit_overwrite(env: AgiEnv) -> None:
    first = export(FRAME, ["flight"], None, env)
    saved = first.path.read_bytes()
    with pytest.raises(DataError) as caught:
        export(FRAME, ["flight", "distance_km"], None, env)
    assert str(env.export_path) in str(caught.value) and "overwrite" in str(caught.value)
    assert env.export_path.read_bytes() == saved
    assert sorted(path.name for path in env.export_dir.iterdir()) == ["export.csv"]
    replaced = export(FRAME, ["flight", "distance_km"], None, env, overwrite=True)
    assert list(pd.read_csv(replaced.path).columns) == ["flight", "distance_km"]
    with pytest.raises(DataError, match="already exists"):
        export_target(None, env)
    assert export_target(None, env, overwrite=True) == env.export_path


# ----- the Data tab -------------------------------------------------------------------------------
def loaded_tab(env: AgiEnv) -> DataTab:
    write_output(env)
    tab = DataTab(Context(env, cell_id=None))
    tab.load.click()
    tab.context.actions.wait(60)
    assert tab.current is not None, tab.message.text
    tab.columns.value = ("flight",)
    return tab


def click_export(tab: DataTab) -> None:
    tab.export.click()
    tab.context.actions.wait(60)


def test_the_tab_refuses_a_second_export_until_overwrite_is_ticked(env: AgiEnv) -> None:
    tab = loaded_tab(env)
    assert tab.overwrite.value is False
    click_export(tab)
    assert tab.message.kind == "ok", tab.message.text
    saved = env.export_path.read_bytes()
    tab.columns.value = ("flight", "distance_km")
    click_export(tab)
    assert tab.message.kind == "error"
    assert "already exists" in tab.message.text and str(env.export_path) in tab.message.text
    assert "overwrite" in tab.message.text
    assert env.export_path.read_bytes() == saved
    tab.overwrite.value = True
    click_export(tab)
    assert tab.message.kind == "ok", tab.message.text
    assert list(pd.read_csv(env.export_path).columns) == ["flight", "distance_km"]


def test_the_tab_shows_an_escaping_target_inline_and_writes_nothing(env: AgiEnv, isolated_roots: Path) -> None:
    tab = loaded_tab(env)
    before = everything_under(isolated_roots)
    tab.target.value = "../../escaped.csv"
    tab.overwrite.value = True
    click_export(tab)
    assert tab.message.kind == "error" and "outside the export dir" in tab.message.text
    assert "../../escaped.csv" in tab.message.text
    assert everything_under(isolated_roots) == before
