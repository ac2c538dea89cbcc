"""The Data tab outside a kernel, over real outputs of the flight app (mode 0) and real files."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from engine_helpers import SMALL

from agi_jupyter import AGI, AgiEnv
from agi_jupyter.core.data import export, preview
from agi_jupyter.core.outputs import DataError, newest_output, output_folder
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.data_tab import DataTab


def context_for(apps_path: Path) -> Context:
    return Context(AgiEnv("flight", apps_path=apps_path), cell_id=None)


def run_flight(env: AgiEnv) -> None:
    asyncio.run(AGI.install(env, modes_enabled=0))
    asyncio.run(AGI.run(env, mode=0, params=SMALL["flight"]))


def click(tab: DataTab, button) -> None:
    button.click()
    tab.context.actions.wait(60)


@pytest.fixture
def ran(apps_path: Path) -> Context:
    """A context whose app has run once: one summary file per chunk under data_out."""
    context = context_for(apps_path)
    run_flight(context.env)
    return context


def test_no_output_yet_says_where_it_looked_and_to_run_first(apps_path: Path) -> None:
    context = context_for(apps_path)
    tab = DataTab(context)
    assert tab.current is None and tab.preview.value == ""
    click(tab, tab.load)
    folder = output_folder(context.env)
    assert tab.message.kind == "error"
    assert str(folder) in tab.message.text and "RUN" in tab.message.text
    click(tab, tab.export)
    assert tab.message.kind == "error" and "LOAD DATA first" in tab.message.text


def test_load_data_reads_every_output_file_of_the_last_run(apps_path: Path) -> None:
    context = context_for(apps_path)
    tab = DataTab(context)  # made before the run: nothing to show yet
    assert tab.current is None and [key for _, key in tab.run_choice.options] == [""]
    run_flight(context.env)
    click(tab, tab.load)
    files = sorted(output_folder(context.env).glob("*.parquet"))
    whole = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    assert tab.message.kind == "ok", tab.message.text
    assert len(files) == 6 and tab.message.text == f"loaded 6 files: {len(whole):,} rows, {whole.shape[1] + 1} columns"
    assert tab.current.shape == (len(whole), whole.shape[1] + 1) and tab.current.total_rows == len(whole)
    assert tab.current.frame["source_file"].tolist() == [path.name for path in files for _ in range(len(whole) // 6)]
    assert list(tab.columns.options) == ["source_file", *whole.columns] == tab.current.columns
    assert tab.current.dtypes["samples"] == "int64" and tab.current.dtypes["flight"] in ("object", "str")
    assert "6 files" in tab.summary.value and f"{len(whole):,} rows" in tab.summary.value
    assert str(output_folder(context.env)) in tab.summary.value and tab.limit_note.value == ""
    assert all(f"<th>{name}</th>" in tab.preview.value for name in whole.columns)
    assert str(whole["flight"].iat[0]) in tab.preview.value
    assert [key for _, key in tab.run_choice.options][1].startswith("run_")  # the run, by its log


def test_the_loaded_run_survives_recreating_the_tab_without_a_click(ran: Context) -> None:
    first = DataTab(ran)
    click(first, first.load)
    loaded = first.current
    later = output_folder(ran.env) / "later.csv"  # a newer output appears after the user loaded
    pd.DataFrame({"x": [1]}).to_csv(later, index=False)
    again = DataTab(Context(AgiEnv("flight", apps_path=ran.env.apps_path), cell_id=None))
    assert again.current is loaded  # shown at once, nothing read again
    assert again.preview.value == first.preview.value and again.summary.value == first.summary.value
    assert list(again.columns.options) == first.current.columns
    click(again, again.load)  # LOAD DATA takes the latest outputs: the file no run log accounts for
    assert again.current.path == later and again.current.shape == (1, 2)  # source_file + its one column
    assert "files without a RUN log" in again.current.run.label


def test_export_writes_exactly_the_selected_columns(ran: Context) -> None:
    tab = DataTab(ran)
    click(tab, tab.load)
    tab.columns.value = ("flight", "distance_km")
    assert tab.select_all.value is False
    click(tab, tab.export)
    written = pd.read_csv(ran.env.export_path)
    source = tab.current.frame
    assert list(written.columns) == ["flight", "distance_km"] and len(written) == len(source)
    assert written["distance_km"].tolist() == pytest.approx(source["distance_km"].tolist())
    assert tab.message.kind == "ok"
    assert tab.message.text == f"wrote {len(source)} rows, 2 columns to {ran.env.export_path}"
    assert not [path for path in ran.env.export_dir.iterdir() if path.name != "export.csv"]  # no temp left


def test_select_all_exports_every_column(ran: Context) -> None:
    tab = DataTab(ran)
    click(tab, tab.load)
    tab.select_all.value = True
    assert tab.columns.value == tuple(tab.current.columns)
    click(tab, tab.export)
    assert list(pd.read_csv(ran.env.export_path).columns) == tab.current.columns
    tab.columns.value = tab.columns.value[:-1]  # unselecting one column unticks the box
    assert tab.select_all.value is False
    tab.select_all.value = False
    tab.select_all.value = True
    tab.select_all.value = False
    assert tab.columns.value == ()


@pytest.mark.parametrize("bad", ["folder", "notes.txt", "file-as-folder"])
def test_bad_target_is_an_inline_error_and_keeps_the_saved_export(ran: Context, bad: str) -> None:
    tab = DataTab(ran)
    click(tab, tab.load)
    tab.columns.value = ("flight",)
    click(tab, tab.export)
    saved = ran.env.export_path.read_bytes()
    stamp = ran.env.export_path.stat().st_mtime_ns
    targets = {
        "folder": ran.env.export_dir,
        "notes.txt": ran.env.export_dir / "notes.txt",
        "file-as-folder": ran.env.export_path / "inner.csv",
    }
    tab.target.value = str(targets[bad])
    tab.columns.value = ("flight", "origin")
    click(tab, tab.export)
    assert tab.message.kind == "error" and str(targets[bad]) in tab.message.text
    assert ran.env.export_path.read_bytes() == saved and ran.env.export_path.stat().st_mtime_ns == stamp
    assert sorted(path.name for path in ran.env.export_dir.iterdir()) == ["export.csv"]
    tab.target.value = str(ran.env.export_path)
    tab.columns.value = ()
    click(tab, tab.export)
    assert tab.message.kind == "error" and "no columns selected" in tab.message.text
    assert ran.env.export_path.read_bytes() == saved


# ----- the engine side, without widgets --------------------------------------------------------------
def test_newest_output_ignores_hidden_temporary_and_other_files(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    folder = output_folder(env)
    assert folder == env.share_dir / "flight" / "summary" and newest_output(env) is None
    with pytest.raises(DataError, match="RUN the app first"):
        newest_output(env, required=True)
    (folder / "nested").mkdir(parents=True)
    real = folder / "nested" / "part.json"
    real.write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    os.utime(real, (time.time() - 60, time.time() - 60))
    for name in (".hidden.csv", "part.parquet.tmp", "~lock.csv", "readme.txt"):
        (folder / name).write_text("a\n1\n")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "newer.csv").write_text("a\n1\n")
    assert newest_output(env) == real
    assert newest_output(env, {"data_out": "elsewhere"}) is None


def test_preview_and_export_read_every_format(tmp_path: Path, isolated_roots: Path) -> None:
    exports = isolated_roots / "export"  # without an app, exports stay under ${AGILAB_EXPORT_ABS}
    frame = pd.DataFrame({"n": range(25), "name": [f"row{i}" for i in range(25)], "value": [i / 4 for i in range(25)]})
    files = {
        "data.parquet": lambda p: frame.to_parquet(p),
        "data.csv": lambda p: frame.to_csv(p, index=False),
        "records.json": lambda p: p.write_text(json.dumps(frame.to_dict("records"))),
        "lines.json": lambda p: frame.to_json(p, orient="records", lines=True),
    }
    for name, write in files.items():
        path = tmp_path / name
        write(path)
        shown = preview(path, rows=5)
        assert shown.shape == (25, 3) and shown.columns == ["n", "name", "value"], name
        assert len(shown.head) == 5 and shown.dtypes["n"] == "int64", name
        result = export(path, ["value", "n"], exports / "out" / f"{name}.csv")
        assert result.rows == 25 and result.columns == ["value", "n"]
        assert pd.read_csv(result.path).equals(frame[["value", "n"]]), name
    with pytest.raises(DataError, match=r"unknown column\(s\) 'nope'.*the data has: n, name, value"):
        export(frame, ["n", "nope"], exports / "x.csv")
    with pytest.raises(DataError, match="no columns selected"):
        export(frame, [], exports / "x.csv")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="broken.parquet: cannot be read as parquet"):
        preview(tmp_path / "broken.parquet")
    assert not (exports / "x.csv").exists()
