"""How fast and how well ``balance`` splits 100,000 weighted items over 64 slots.

Run: ``.venv/bin/python benchmarks/balance.py``. Reports the median of several runs and the
makespan as a ratio of the lower bound ``max(total / slots, largest item)``; never fails on a
number (this machine is shared and noisy). ``--quick``: 10,000 items, one run. Each figure is
printed on a line starting with its letter: (a) uniform, (b) lognormal, (c) pareto weights.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from agi_jupyter.app import balance
from agi_jupyter.core.plan import lower_bound

ITEMS, SLOTS, RUNS = 100_000, 64, 5


def one_run(seed: int, shape: str, items: int = ITEMS) -> tuple[float, float]:
    rng = random.Random(seed)
    draw = {
        "uniform": lambda: rng.uniform(1, 100),
        "lognormal": lambda: rng.lognormvariate(3, 1.2),
        "pareto": lambda: rng.paretovariate(1.2),
    }[shape]
    weights = [draw() for _ in range(items)]
    start = time.perf_counter()
    groups = balance(list(zip(range(items), weights)), SLOTS)
    seconds = time.perf_counter() - start
    peak = max(sum(weights[i] for i in group) for group in groups)
    return seconds, peak / lower_bound(weights, SLOTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="10,000 items, one run per figure")
    options = parser.parse_args()
    items, runs = (10_000, 1) if options.quick else (ITEMS, RUNS)
    print(f"balance: {items:,} items over {SLOTS} slots, median of {runs} runs")
    for letter, shape in zip("abc", ("uniform", "lognormal", "pareto")):
        results = [one_run(seed, shape, items) for seed in range(runs)]
        seconds = statistics.median(r[0] for r in results)
        ratio = max(r[1] for r in results)
        print(f"({letter}) {shape:<10} {seconds * 1000:7.1f} ms   worst makespan / lower bound = {ratio:.6f}")


if __name__ == "__main__":
    main()
