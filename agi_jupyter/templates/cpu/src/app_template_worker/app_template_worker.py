# cython: cdivision=True
"""Worker of the app_template app, in Cython's typed pure-Python mode.

Run as plain Python the ``cython.*`` annotations are ignored; compiled by the cython modes
(INSTALL with the cython bit) the annotated locals become C integers and the loop in
:func:`count_primes` runs at C speed. Keep the hot loop in such typed functions and the rest
plain Python: both stay valid for both.
"""

from __future__ import annotations

from typing import Any

import cython
import pandas as pd
from agi_jupyter.worker import PandasWorker


def count_primes(start: cython.longlong, stop: cython.longlong) -> tuple[int, int]:
    """(how many primes, the largest prime, or 0) in ``[start, stop)``, by trial division."""
    count: cython.longlong = 0
    largest: cython.longlong = 0
    number: cython.longlong
    divisor: cython.longlong
    prime: cython.bint
    for number in range(max(start, 2), stop):
        prime = number == 2 or number % 2 == 1
        divisor = 3
        while prime and divisor * divisor <= number:
            if number % divisor == 0:
                prime = False
            divisor += 2
        if prime:
            count += 1
            largest = number
    return count, largest


def compiled() -> bool:
    """True when this module runs as the Cython extension."""
    return cython.compiled


class AppTemplateWorker(PandasWorker):
    """Counts the primes of one range of numbers per work item; one row per item."""

    def work_pool(self, item: dict[str, Any]) -> pd.DataFrame:
        count, largest = count_primes(item["start"], item["stop"])
        return pd.DataFrame([{"start": item["start"], "stop": item["stop"], "primes": count, "largest": largest}])
