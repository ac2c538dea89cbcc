"""What the benchmark scripts share: temporary roots for everything the product writes, and medians.

Not a benchmark itself (the leading underscore keeps it out of ``tests/test_benchmarks_quick.py``).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOTS = {
    "AGI_SHARE_DIR": "share",
    "AGI_LOG_DIR": "log",
    "AGI_WORKER_ENV_DIR": "wenv",
    "AGILAB_EXPORT_ABS": "export",
    "AGI_CLUSTER_DIR": "cluster",
}


def temporary_roots(prefix: str) -> Path:
    """A fresh folder holding every root the product writes (set in ``os.environ``), never the user's home."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    for name, folder in ROOTS.items():
        os.environ[name] = str(root / folder)
    return root


def seconds(action: Callable[[], Any]) -> float:
    """The wall time of one call of ``action`` (for scripts that interleave their samples)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def median_seconds(action: Callable[[], Any], runs: int) -> float:
    """The median wall time of ``runs`` calls of ``action``."""
    return statistics.median(seconds(action) for _ in range(runs))
