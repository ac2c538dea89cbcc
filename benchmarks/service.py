"""Service-mode figures for benchmarks/RESULTS.md (never fails on a number).

- start -> status -> health -> stop cycle with 2 loops on a warm local cluster (median of 5);
- submit-to-done latency of a trivial task (median and p95 of 200);
- throughput of 1,000 tiny tasks on 2 loops.

Run: ``.venv/bin/python benchmarks/service.py`` (uses the probe test app).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="agi-bench-service-"))
    for name, folder in {
        "AGI_SHARE_DIR": "share",
        "AGI_LOG_DIR": "log",
        "AGI_WORKER_ENV_DIR": "wenv",
        "AGILAB_EXPORT_ABS": "export",
    }.items():
        os.environ[name] = str(root / folder)
    from agi_jupyter import AGI, AgiEnv, Mode
    from agi_jupyter.core.install import install
    from agi_jupyter.core.requests import InstallRequest, ServeRequest, SubmitRequest
    from agi_jupyter.core.service import serve, submit

    shutil.copytree(Path(__file__).parents[1] / "tests" / "apps", root / "apps")
    env = AgiEnv("probe", apps_path=root / "apps")
    install(env, InstallRequest(modes_enabled=Mode(0)))
    try:
        cold_start = time.perf_counter()
        serve(env, ServeRequest(action="start"))
        cold = time.perf_counter() - cold_start
        serve(env, ServeRequest(action="stop"))
        cycles = []
        for _ in range(5):
            start = time.perf_counter()
            for action in ("start", "status", "health", "stop"):
                serve(env, ServeRequest(action=action))
            cycles.append(time.perf_counter() - start)
        print(
            f"cycle start->status->health->stop, 2 loops: median {statistics.median(cycles) * 1000:.0f} ms "
            f"(first START with the cluster cold: {cold:.2f} s)"
        )

        serve(env, ServeRequest(action="start"))
        done = env.service_dir / "queue" / "done"
        time.sleep(1.0)  # loops set up and waiting
        latencies = []
        for number in range(200):
            start = time.perf_counter()
            [task] = submit(env, SubmitRequest(items=[f"latency{number}"]))
            target = done / f"{task}.json"
            while not target.exists():
                time.sleep(0.0005)
            latencies.append(time.perf_counter() - start)
        latencies.sort()
        print(
            f"submit-to-done latency, 200 trivial tasks: median {statistics.median(latencies) * 1000:.1f} ms, "
            f"p95 {latencies[int(0.95 * len(latencies)) - 1] * 1000:.1f} ms"
        )

        before = results(done)
        start = time.perf_counter()
        for number in range(1000):
            submit(env, SubmitRequest(items=[f"tiny{number}"]))
        while results(done) < before + 1000:
            time.sleep(0.01)
        seconds = time.perf_counter() - start
        print(f"throughput, 1,000 tiny tasks on 2 loops: {seconds:.2f} s, {1000 / seconds:.0f} tasks/s")
        serve(env, ServeRequest(action="stop"))
    finally:
        AGI.close()
        shutil.rmtree(root, ignore_errors=True)


def results(folder: Path) -> int:
    """Published results (temporary files of a write in progress are hidden and not counted)."""
    return sum(1 for path in folder.iterdir() if not path.name.startswith("."))


if __name__ == "__main__":
    main()
