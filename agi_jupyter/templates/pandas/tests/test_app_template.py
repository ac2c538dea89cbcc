"""This app: a plan over every input file, and correct summaries (run: pytest)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pytest
from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args

if TYPE_CHECKING:  # the engine imports the model from src/ itself; this name is for type checkers
    from app_template.app_args import AppTemplateArgs

APP = Path(__file__).resolve().parents[1]
SMALL = {"files": 5, "rows": 200}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgiEnv:
    """The app with its data and logs in a temporary folder."""
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    monkeypatch.setenv("AGI_LOG_DIR", str(tmp_path / "log"))
    return AgiEnv(APP)


def app_args(env: AgiEnv, overrides: dict[str, Any] | None = None) -> AppTemplateArgs:
    """The validated arguments: ``[args]`` of the settings, then ``overrides``."""
    return cast("AppTemplateArgs", load_args(env, overrides))


def test_plan_covers_every_input_file_once(env: AgiEnv) -> None:
    args = app_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 2})
    files = sorted(env.data_path(args.data_in).glob("*.csv"))
    assert len(files) == SMALL["files"] and len(plan.slots) == 2
    items = sorted(item for slot in plan.slots for chunk in slot for item in chunk.items)
    assert items == sorted(map(str, files))


def test_worker_summaries_match_the_input_files(env: AgiEnv) -> None:
    args = app_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 1})
    chunks = [(chunk.label, chunk.items) for chunk in plan.slots[0]]
    worker = env.worker_class_object()(args, share_dir=env.share_dir)
    outputs = worker.run(chunks)
    assert len(outputs) == SMALL["files"]
    for output in outputs:
        summary = pd.read_parquet(output)
        source = env.data_path(args.data_in) / str(summary["file"].iloc[0])
        with source.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        quantities: Counter[str] = Counter()
        for row in rows:
            quantities[row["category"]] += int(row["quantity"])
        assert dict(zip(summary["category"], summary["quantity"].astype(int), strict=True)) == dict(quantities)
        assert int(summary["orders"].sum()) == len(rows)


def test_your_own_csv_files_are_used_as_they_are(env: AgiEnv) -> None:
    args = app_args(env)
    folder = env.data_path(args.data_in)
    folder.mkdir(parents=True)
    mine = folder / "mine.csv"
    mine.write_text("order_id,category,quantity,unit_price\n1,books,2,10.0\n")
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 1})
    assert [chunk.items for chunk in plan.slots[0]] == [[str(mine)]]
    assert mine.read_text().count("\n") == 2
