"""LOAD DATA reads a whole run: every output file it wrote, grouped by its run log, up to a row limit."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from agi_jupyter import AGI, AgiEnv
from agi_jupyter.core.data import ROW_LIMIT, load_run
from agi_jupyter.core.outputs import DataError, list_runs, output_folder
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.data_tab import DataTab


@pytest.fixture
def env(apps_path: Path) -> AgiEnv:
    return AgiEnv("flight", apps_path=apps_path)


def run_flight(env: AgiEnv, flights: int) -> None:
    asyncio.run(AGI.run(env, mode=0, params={"flights": flights}))


def forge_run(env: AgiEnv, ago: float, files: dict[str, pd.DataFrame], fmt: dict[str, str] | None = None) -> Path:
    """What a RUN ``ago`` seconds ago leaves: its log (named after its start second) and its outputs."""
    now = time.time()
    started = now - ago
    env.log_dir.mkdir(parents=True, exist_ok=True)
    log = env.log_dir / f"run_{time.strftime('%Y%m%d-%H%M%S', time.localtime(started))}.log"
    log.write_text(f"RUN flight_project in mode 0: python (____)\nRUN done in 3.0 s: {len(files)} output file(s)\n")
    folder = output_folder(env)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in files.items():
        path = folder / name
        if name.endswith(".parquet"):
            frame.to_parquet(path)
        elif name.endswith(".csv"):
            frame.to_csv(path, index=False)
        elif (fmt or {}).get(name) == "records":
            path.write_text(json.dumps(frame.to_dict("records")))
        else:
            frame.to_json(path, orient="records", lines=True)
        os.utime(path, (started + 2, started + 2))
    os.utime(log, (started + 3, started + 3))
    return log


def frame(rows: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"n": range(start, start + rows), "value": [i / 2 for i in range(start, start + rows)]})


def click(tab: DataTab, button: object) -> None:
    button.click()  # type: ignore[attr-defined]
    tab.context.actions.wait(60)


def test_a_run_that_wrote_six_files_loads_all_six_with_their_source(env: AgiEnv) -> None:
    asyncio.run(AGI.install(env, modes_enabled=0))
    run_flight(env, 6)
    [run] = list_runs(env)
    assert run.log is not None and run.key == run.log.name and run.expected == 6 and len(run.files) == 6
    assert run.label.endswith("· mode 0: python (____) · 6 files")
    loaded = load_run(env)
    files = sorted(output_folder(env).glob("*.parquet"))
    whole = pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)
    assert loaded.total_rows == len(whole) == len(loaded.frame) and not loaded.truncated and loaded.note == ""
    assert loaded.columns == ["source_file", *whole.columns]
    assert sorted(set(loaded.frame["source_file"])) == [path.name for path in files]
    assert loaded.frame.drop(columns="source_file").equals(whole)


def test_csv_and_json_outputs_load_together_and_the_limit_says_how_much_is_shown(env: AgiEnv) -> None:
    parts = {
        "part-a.parquet": frame(20_000),
        "part-b.csv": frame(20_000, 20_000),
        "part-c.json": frame(8_000, 40_000),
        "nested/part-d.json": frame(312, 48_000),
    }
    (output_folder(env) / "nested").mkdir(parents=True)
    forge_run(env, 100, parts, {"nested/part-d.json": "records"})
    loaded = load_run(env)
    assert loaded.limit == ROW_LIMIT == 10_000 and loaded.total_rows == 48_312 and len(loaded.frame) == 10_000
    assert loaded.truncated and loaded.note == "showing 10,000 of 48,312 rows (row limit 10,000)"
    assert set(loaded.frame["source_file"]) == {"nested/part-d.json", "part-a.parquet"}  # files in name order
    everything = load_run(env, limit=None)
    assert len(everything.frame) == 48_312 and everything.note == ""
    order = ["nested/part-d.json", "part-a.parquet", "part-b.csv", "part-c.json"]
    assert list(dict.fromkeys(everything.frame["source_file"])) == order
    sources = everything.frame.groupby("source_file").size().to_dict()
    assert sources == {"nested/part-d.json": 312, "part-a.parquet": 20_000, "part-b.csv": 20_000, "part-c.json": 8_000}
    some = load_run(env, limit=20_005)
    assert len(some.frame) == 20_005 and some.frame["source_file"].iloc[-1] == "part-a.parquet"

    tab = DataTab(Context(env, cell_id=None))  # a fresh tab loads the latest run by itself
    tab.context.actions.wait(60)
    assert tab.current is not None and tab.current.total_rows == 48_312
    assert tab.limit.value == 10_000 and tab.limit_note.kind == "warn"
    assert tab.limit_note.text.startswith("showing 10,000 of 48,312 rows")
    tab.limit.value = 0  # no limit
    click(tab, tab.load)
    assert tab.current.shape == (48_312, 3) and tab.limit_note.value == ""
    assert tab.message.text == "loaded 4 files: 48,312 rows, 3 columns"
    for control in (tab.load, tab.run_choice, tab.limit, tab.export, tab.overwrite, tab.select_all, tab.target):
        assert control.tooltip, control.description


def test_export_writes_the_loaded_rows_and_says_when_the_run_has_more(env: AgiEnv) -> None:
    forge_run(env, 100, {"a.csv": frame(30), "b.csv": frame(30, 30)})
    tab = DataTab(Context(env, cell_id=None), limit=40)
    tab.context.actions.wait(60)
    tab.columns.value = ("source_file", "n")
    click(tab, tab.export)
    written = pd.read_csv(env.export_path)
    assert written["n"].tolist() == list(range(40)) and set(written["source_file"]) == {"a.csv", "b.csv"}
    assert tab.message.kind == "ok" and "the run has 60" in tab.message.text


def test_choosing_an_earlier_run_loads_the_files_it_still_owns(env: AgiEnv) -> None:
    asyncio.run(AGI.install(env, modes_enabled=0))
    run_flight(env, 6)
    run_flight(env, 2)  # rewrites flight_0000 and flight_0001
    later, earlier = list_runs(env)
    assert [item.path.name for item in later.files] == ["flight_0000.parquet", "flight_0001.parquet"]
    assert [item.path.name for item in earlier.files] == [f"flight_000{n}.parquet" for n in range(2, 6)]
    assert earlier.expected == 6 and "4 of 6 files" in earlier.label
    tab = DataTab(Context(env, cell_id=None))
    tab.context.actions.wait(60)
    assert tab.current is not None and tab.current.run.key == later.key
    assert [key for _, key in tab.run_choice.options] == ["", later.key, earlier.key]
    tab.run_choice.value = earlier.key  # choosing a run loads it
    tab.context.actions.wait(60)
    assert tab.message.kind == "ok", tab.message.text
    assert tab.current.run.key == earlier.key and tab.message.text.startswith("loaded 4 files")
    assert sorted(set(tab.current.frame["source_file"])) == [f"flight_000{n}.parquet" for n in range(2, 6)]
    assert tab.run_choice.value == earlier.key  # the choice stays after the list is refreshed
    with pytest.raises(DataError, match="no output files left"):
        load_run(env, "run_19990101-000000.log")


def test_a_single_file_run_has_the_source_column_too_and_an_unreadable_file_is_skipped_and_named(env: AgiEnv) -> None:
    forge_run(env, 300, {"only.csv": frame(3)})
    single = load_run(env)
    assert single.columns == ["source_file", "n", "value"] and single.shape == (3, 3)  # the same columns as many files
    assert load_run(env, source_column=False).columns == ["n", "value"]
    log = forge_run(env, 100, {"good.csv": frame(2), "bad.parquet": frame(1)})
    bad = output_folder(env) / "bad.parquet"
    bad.write_text("not parquet")
    os.utime(bad, (log.stat().st_mtime - 1, log.stat().st_mtime - 1))
    loaded = load_run(env)
    assert loaded.shape == (2, 3) and [path.name for path, _ in loaded.skipped] == ["bad.parquet"]
    assert "cannot be read as parquet" in loaded.skipped[0][1]
    tab = DataTab(Context(env, cell_id=None))
    tab.context.actions.wait(60)
    assert tab.current is not None
    click(tab, tab.load)
    assert tab.message.kind == "warn" and "skipped 1 unreadable file(s): bad.parquet" in tab.message.text
