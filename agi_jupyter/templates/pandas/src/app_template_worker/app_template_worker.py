"""Worker of the app_template app: summarises one input file per work item.

Each chunk's result is written to ``data_out`` as ``<file name>.<output_format>`` by the
PandasWorker base class; an app only returns DataFrames from :meth:`work_pool`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from agi_jupyter.worker import PandasWorker


def summarise(orders: pd.DataFrame) -> pd.DataFrame:
    """Orders, quantity and revenue per category: the result of one input file."""
    revenue = orders["quantity"] * orders["unit_price"]
    grouped = orders.assign(revenue=revenue).groupby("category", as_index=False)
    return grouped.agg(orders=("order_id", "count"), quantity=("quantity", "sum"), revenue=("revenue", "sum"))


class AppTemplateWorker(PandasWorker):
    """Reads one CSV file per work item (its path) and returns its per-category summary."""

    def work_pool(self, item: str) -> pd.DataFrame:
        summary = summarise(pd.read_csv(item))
        summary.insert(0, "file", Path(item).name)
        # shown in the run log when [cluster] verbose (the Settings tab) is 2 or more
        self.log(f"{Path(item).name}: {len(summary)} categories", level=2)
        return summary
