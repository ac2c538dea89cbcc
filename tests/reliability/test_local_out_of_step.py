"""A local run that stops reading its worker mid-job never hands that worker to the next run.

A progress callback that raises (a widget gone, a notebook cell interrupted) ends ``AGI.run`` while
the warm worker still streams the job's events. Reusing that process would feed the rest of the
old job's events, its results and its ``done``, to the next run. Real worker processes of a copy
of the probe app.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import pytest
from probe_helpers import copy_probe, executions

from agi_jupyter import AGI, Mode, RunRequest


class Gone(RuntimeError):
    """What a progress callback of a closed view raises."""


def test_a_run_whose_progress_callback_raises_leaves_no_events_to_the_next_run(tmp_path: Path) -> None:
    env = copy_probe(tmp_path)
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))

    def broken(done: int, total: int) -> None:
        if done >= 1:  # mid-job: the worker still has chunks, slot results and `done` to send
            raise Gone("the view that showed progress is gone")

    with pytest.raises(Gone):
        asyncio.run(AGI.run(env, RunRequest(mode=Mode(0), params={"items": 6, "delay": 0.05}), on_progress=broken))
    second = RunRequest(mode=Mode(0), params={"items": 2, "delay": 0.0, "data_out": "second"})
    result = asyncio.run(AGI.run(env, second))
    assert executions(env, "second") == collections.Counter({"item0": 1, "item1": 1})
    ran = sorted(label for labels in result.dispatched.values() for label in labels)
    assert ran == ["item0", "item1"], f"the second run reported another job's chunks: {ran}"
