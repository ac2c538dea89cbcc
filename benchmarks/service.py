"""Service-mode figures for benchmarks/RESULTS.md (never fails on a number).

(a) start -> status -> health -> stop cycle with 2 loops on a warm local cluster (median of 5);
(b) submit-to-done latency of a trivial task, one at a time (median and p95 of 200);
(c) throughput of 2 loops draining a backlog of 5,000 tiny tasks (queued while the service is
    stopped, timed from START to the last result);
(d) throughput of a burst of 5,000 tiny tasks on 2 running loops: queued by one ``submit_many``
    (its own rate is given), the loops woken once, timed from the first file written to the last
    result (queueing and serving share the disk);
(e) throughput of 1,000 tiny tasks each queued by its own ``submit()`` call (a wake per call).

Run: ``.venv/bin/python benchmarks/service.py`` (uses the probe test app); ``--quick`` runs
smaller figures in well under 20 s. Each figure is printed on a line starting with its letter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from _common import temporary_roots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small figures, well under 20 s")
    options = parser.parse_args()
    cycles_count, single, burst, one_by_one = (2, 30, 500, 200) if options.quick else (5, 200, 5000, 1000)

    root = temporary_roots("agi-bench-service-")
    from agi_jupyter import AGI, AgiEnv, Mode
    from agi_jupyter.core.install import install
    from agi_jupyter.core.requests import InstallRequest, ServeRequest, SubmitRequest
    from agi_jupyter.core.service import serve, submit
    from agi_jupyter.core.service.lifecycle import queue_dir, wake
    from agi_jupyter.core.service.serve import registry

    shutil.copytree(Path(__file__).parents[1] / "tests" / "apps", root / "apps")
    env = AgiEnv("probe", apps_path=root / "apps")
    install(env, InstallRequest(modes_enabled=Mode(0)))
    try:
        cold_start = time.perf_counter()
        serve(env, ServeRequest(action="start"))
        cold = time.perf_counter() - cold_start
        serve(env, ServeRequest(action="stop"))
        cycles = []
        for _ in range(cycles_count):
            start = time.perf_counter()
            for action in ("start", "status", "health", "stop"):
                serve(env, ServeRequest(action=action))
            cycles.append(time.perf_counter() - start)
        print(
            f"(a) cycle start->status->health->stop, 2 loops: median {statistics.median(cycles) * 1000:.0f} ms "
            f"of {cycles_count} (first START with the cluster cold: {cold:.2f} s)",
            flush=True,
        )

        serve(env, ServeRequest(action="start"))
        done = env.service_dir / "queue" / "done"
        time.sleep(1.0)  # loops set up and waiting
        latencies = []
        for number in range(single):
            start = time.perf_counter()
            [task] = submit(env, SubmitRequest(items=[f"latency{number}"]))
            target = done / f"{task}.json"
            while not target.exists():
                time.sleep(0.0002)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        print(
            f"(b) submit-to-done latency, {single} trivial tasks one at a time: "
            f"median {statistics.median(latencies) * 1000:.1f} ms, p95 {percentile(latencies, 0.95) * 1000:.1f} ms",
            flush=True,
        )

        from agi_jupyter.core.service.queue import TaskQueue

        queue = TaskQueue(queue_dir(env))
        serve(env, ServeRequest(action="stop"))
        before = results(done)
        submit_many(queue, [[f"backlog{number}"] for number in range(burst)])
        start = time.perf_counter()
        serve(env, ServeRequest(action="start"))
        while results(done) < before + burst:
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        print(
            f"(c) 2 loops draining a backlog of {burst:,} tiny tasks (timed from START): {seconds:.2f} s, "
            f"{burst / seconds:.0f} tasks/s",
            flush=True,
        )

        before = results(done)
        start = time.perf_counter()
        submit_many(queue, [[f"burst{number}"] for number in range(burst)])
        queued = time.perf_counter() - start
        for service in registry.of_target(env.target):
            wake(service)
        while results(done) < before + burst:
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        print(
            f"(d) burst of {burst:,} tiny tasks on 2 running loops, queued by one submit_many: {seconds:.2f} s, "
            f"{burst / seconds:.0f} tasks/s end to end (queued in {queued:.2f} s, {burst / queued:.0f} tasks/s)",
            flush=True,
        )

        before = results(done)
        start = time.perf_counter()
        for number in range(one_by_one):
            submit(env, SubmitRequest(items=[f"tiny{number}"]))
        while results(done) < before + one_by_one:
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        print(
            f"(e) {one_by_one:,} tiny tasks, one submit() call each, on 2 loops: {seconds:.2f} s, "
            f"{one_by_one / seconds:.0f} tasks/s",
            flush=True,
        )
        serve(env, ServeRequest(action="stop"))
    finally:
        AGI.close()
        shutil.rmtree(root, ignore_errors=True)


def submit_many(queue: Any, items: list[list[str]]) -> None:
    """One burst through the queue's batch submit (one task at a time on code without it)."""
    if hasattr(queue, "submit_many"):
        queue.submit_many([{"items": task_items} for task_items in items])
    else:
        for task_items in items:
            queue.submit(task_items)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of the sorted ``values`` lie (nearest rank)."""
    return values[max(0, min(len(values) - 1, round(fraction * len(values)) - 1))]


def results(folder: Path) -> int:
    """Published results (temporary files of a write in progress are hidden and not counted)."""
    return sum(1 for entry in os.scandir(folder) if not entry.name.startswith("."))


if __name__ == "__main__":
    main()
