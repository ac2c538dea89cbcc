"""How long constructing the Orchestrator takes with warm imports (target < 300 ms).

Run: ``.venv/bin/python benchmarks/widget.py``. Median of 7 constructions of the flight app's
Orchestrator after one warm-up (imports done, a saved plan and a benchmark table present);
``--quick``: 2 constructions. The figure is printed on a line starting with (a).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time

from _common import temporary_roots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2 constructions after the warm-up")
    constructions = 2 if parser.parse_args().quick else 7
    root = temporary_roots("agi-bench-widget-")
    import asyncio

    from agi_jupyter import AGI, AgiEnv, Mode, Orchestrator
    from agi_jupyter.core.env import EXAMPLES_PATH

    shutil.copytree(EXAMPLES_PATH, root / "apps", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    env = AgiEnv("flight", apps_path=root / "apps")
    asyncio.run(AGI.install(env, modes_enabled=Mode(0)))
    asyncio.run(AGI.run(env, mode=0))
    Orchestrator("flight", apps_path=root / "apps")  # warm-up: imports, bqplot, ipytree
    samples = []
    for _ in range(constructions):
        start = time.perf_counter()
        Orchestrator("flight", apps_path=root / "apps")
        samples.append(time.perf_counter() - start)
    print(
        f"(a) Orchestrator construction (warm imports), {constructions} times: "
        f"median {statistics.median(samples) * 1000:.0f} ms, "
        f"min {min(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms"
    )
    from agi_jupyter.core.local import close_local_workers

    close_local_workers()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
