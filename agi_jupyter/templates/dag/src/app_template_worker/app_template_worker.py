"""Worker of the app_template app: one method per kind of step.

A step receives the results of the steps it depends on (``inputs``, by step name) and returns
its own DataFrame, which the DagWorker base class keeps and writes to ``data_out`` as
``<step>.<output_format>``, so a step on another worker slot can read it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from agi_jupyter.worker import DagWorker

INVALID = -1.0  # what a broken till records instead of an amount


def sales(region: str, days: int, seed: int) -> pd.DataFrame:
    """Daily sales of one region, with a few invalid records for ``clean`` to drop."""
    rng = np.random.default_rng([seed, *region.encode()])
    amount = np.round(rng.gamma(4.0, 250.0, size=days), 2)
    amount[rng.choice(days, size=days // 15, replace=False)] = INVALID
    day = pd.date_range("2026-01-01", periods=days, freq="D")
    return pd.DataFrame({"day": day, "region": region, "amount": amount})


class AppTemplateWorker(DagWorker):
    """Runs the generate, clean, combine, totals, daily and report steps."""

    def run_step(self, step: str, inputs: dict[str, pd.DataFrame], params: dict[str, Any]) -> pd.DataFrame:
        kind = step.split("_", 1)[0]
        if kind == "generate":
            return sales(params["region"], self.args.days, self.args.seed)
        if kind == "clean":
            raw = inputs[f"generate_{params['region']}"]
            return raw[raw["amount"] != INVALID].reset_index(drop=True)
        if kind == "combine":
            return pd.concat(inputs.values(), ignore_index=True).sort_values(["region", "day"], ignore_index=True)
        if kind == "totals":
            grouped = inputs["combine"].groupby("region", as_index=False)
            return grouped.agg(days=("day", "nunique"), total=("amount", "sum"), best=("amount", "max"))
        if kind == "daily":
            return inputs["combine"].groupby("day", as_index=False).agg(total=("amount", "sum"))
        if kind == "report":
            totals, daily = inputs["totals"], inputs["daily"]
            report = totals.assign(share=totals["total"] / totals["total"].sum())
            return report.assign(best_day=daily.loc[daily["total"].idxmax(), "day"])
        raise ValueError(f"unknown step {step!r}")
