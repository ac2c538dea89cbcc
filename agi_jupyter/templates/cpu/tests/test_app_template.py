"""This app: blocks cover every number once, and the prime counts are right (run: pytest)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pytest
from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args

if TYPE_CHECKING:  # the engine imports the model from src/ itself; this name is for type checkers
    from app_template.app_args import AppTemplateArgs

APP = Path(__file__).resolve().parents[1]
SMALL = {"limit": 20_000, "blocks": 6, "parts": 3}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgiEnv:
    """The app with its data and logs in a temporary folder."""
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    monkeypatch.setenv("AGI_LOG_DIR", str(tmp_path / "log"))
    return AgiEnv(APP)


def app_args(env: AgiEnv, overrides: dict[str, Any] | None = None) -> AppTemplateArgs:
    """The validated arguments: ``[args]`` of the settings, then ``overrides``."""
    return cast("AppTemplateArgs", load_args(env, overrides))


def sieve(limit: int) -> list[int]:
    """The primes below ``limit`` by Eratosthenes' sieve: independent of the worker's loop."""
    flags = [True] * limit
    flags[:2] = [False] * min(2, limit)
    for number in range(2, int(limit**0.5) + 1):
        if flags[number]:
            flags[number * number :: number] = [False] * len(range(number * number, limit, number))
    return [number for number, prime in enumerate(flags) if prime]


def test_blocks_cover_every_number_once_and_later_ones_weigh_more(env: AgiEnv) -> None:
    args = app_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 2})
    ranges = sorted((item["start"], item["stop"]) for slot in plan.slots for chunk in slot for item in chunk.items)
    assert ranges[0][0] == 0 and ranges[-1][1] == args.limit and len(ranges) == args.blocks * args.parts
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(ranges))
    weights = sorted((chunk.label, chunk.weight) for slot in plan.slots for chunk in slot)
    assert weights[-1][1] > weights[0][1]


def test_worker_counts_the_primes_right(env: AgiEnv) -> None:
    args = app_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 1})
    worker = env.worker_class_object()(args, share_dir=env.share_dir)
    outputs = worker.run([(chunk.label, chunk.items) for chunk in plan.slots[0]])
    rows = pd.concat([pd.read_parquet(path) for path in outputs], ignore_index=True)
    primes = sieve(args.limit)
    assert int(rows["primes"].sum()) == len(primes) and int(rows["largest"].max()) == primes[-1]
    for row in rows.itertuples():
        inside = [p for p in primes if row.start <= p < row.stop]
        assert (row.primes, row.largest) == (len(inside), inside[-1] if inside else 0)
