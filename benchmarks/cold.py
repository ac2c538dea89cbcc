"""Cold-path figures for benchmarks/RESULTS.md (never fails on a number).

(a) a fresh ``python -c "from agi_jupyter import AGI, AgiEnv, RunRequest"``: median wall time of
    fresh processes (the interpreter's own start included, target <= 0.12 s), next to the bare
    interpreter and to pydantic alone with one small model (the floor ``RunRequest`` needs);
(b) the first dask-mode run of a fresh process, as a new kernel does it on an app that was
    installed and distributed before: INSTALL with the dask bit, then RUN in dask mode, on the
    flight example with 8 logs, split into imports (Dask's, then ours), the local cluster's
    start, the rest of INSTALL, shipping (plugin registration and the workers' check), the first
    run; the second run of the same process shows what the first one paid for warming up.

Run: ``.venv/bin/python benchmarks/cold.py``: (a) median of 20 processes, (b) median of 3.
``--quick``: 5 processes and one first run. Each figure is printed on a line starting with its letter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

IMPORT = "from agi_jupyter import AGI, AgiEnv, RunRequest"
PYDANTIC_FLOOR = "from pydantic import BaseModel\nclass Probe(BaseModel):\n    value: int = 0"
PARAMS = {"flights": 8}
WORKERS = 2


def fresh_seconds(code: str, runs: int) -> list[float]:
    """Wall time of ``runs`` fresh ``python -c code`` processes, run outside the repository."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=tempfile.gettempdir())
        samples.append(time.perf_counter() - start)
    return samples


def environment(root: Path) -> dict[str, str]:
    folders = {"AGI_SHARE_DIR": "share", "AGI_LOG_DIR": "log", "AGI_WORKER_ENV_DIR": "wenv"}
    folders |= {"AGILAB_EXPORT_ABS": "export", "AGI_CLUSTER_DIR": "cluster"}
    return {**os.environ, **{name: str(root / folder) for name, folder in folders.items()}}


def prepare(root: Path) -> float:
    """A copy of the examples, no scheduler configured (the engine's local cluster), the flight app
    installed for the local modes and its plan built (its 8 logs generated): what a kernel opened
    on an app used before finds. Done in its own process; returns its wall time."""
    code = (
        "import asyncio, shutil, sys\n"
        "from pathlib import Path\n"
        "from agi_jupyter import AGI, AgiEnv, Mode\n"
        "from agi_jupyter.core.env import EXAMPLES_PATH\n"
        "from agi_jupyter.core.settings import save_settings\n"
        "apps = Path(sys.argv[1]) / 'apps'\n"
        "shutil.copytree(EXAMPLES_PATH, apps, ignore=shutil.ignore_patterns('__pycache__', 'tests'))\n"
        "env = AgiEnv('flight', apps_path=apps)\n"
        "save_settings(env.settings_path, {'cluster.scheduler': '', ('cluster', 'workers'): "
        f"{{'127.0.0.1': {WORKERS}}}}})\n"
        "asyncio.run(AGI.install(env, modes_enabled=Mode(0)))\n"
        f"asyncio.run(AGI.get_distrib(env, params={PARAMS!r}))\n"
        "AGI.close()\n"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(root)], check=True, env=environment(root), cwd=root)
    return time.perf_counter() - start


def first_run(root: Path) -> dict[str, float]:
    """One fresh process doing INSTALL (dask bit) and two dask-mode runs; its phases in seconds."""
    launched = time.time()
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(root)],
        check=True,
        env=environment(root),
        cwd=root,
        capture_output=True,
        text=True,
    )
    ended = time.time()
    phases: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    phases["interpreter start"] = phases.pop("began") - launched
    phases["process exit"] = ended - phases.pop("done")
    return phases


def child(root: Path) -> None:
    """The fresh process of :func:`first_run`: prints its phases as one JSON line."""
    began = time.time()
    phases: dict[str, float] = {}

    def phase(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = phases.get(name, 0.0) + now - since
        return now

    import asyncio  # a kernel has it before any cell runs

    mark = time.perf_counter()
    from agi_jupyter import AGI, AgiEnv, Mode, RunRequest

    mark = phase("import agi_jupyter", mark)
    import distributed  # noqa: F401 - what the engine's dask path needs of Dask, timed on its own

    mark = phase("import Dask (distributed)", mark)
    from agi_jupyter.core import benchmark, cluster, install, run, shipping  # noqa: F401 - the rest of ours

    mark = phase("import the engine's run, install, cluster", mark)

    stage = ["install"]  # the engine's steps below count in the stage they run in

    def timed(module: Any, name: str, label: str) -> None:
        function = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            since = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phase(label if stage[0] == "install" else f"{stage[0]}: {label}", since)

        setattr(module, name, wrapper)

    # the engine's own path (the first INSTALL picks and starts the cluster), its steps timed
    timed(cluster, "_labextension_client", "looking for dask-labextension clusters")
    timed(cluster, "_start_local", "local cluster start")
    timed(shipping, "ship_app", "shipping: plugin registered")
    timed(shipping, "check_workers", "shipping: workers checked")
    env = AgiEnv("flight", apps_path=root / "apps")
    asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
    mark = phase("install total", mark)
    stage[0] = "first run"
    asyncio.run(AGI.run(env, RunRequest(mode=Mode.DASK, params=PARAMS)))
    mark = phase("first run", mark)
    stage[0] = "second run"
    asyncio.run(AGI.run(env, RunRequest(mode=Mode.DASK, params=PARAMS)))
    mark = phase("second run", mark)
    AGI.close()
    mark = phase("cluster close", mark)
    phases["began"] = began
    phases["done"] = time.time()
    print(json.dumps(phases), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="5 fresh processes for (a), one first run for (b)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options.child)
        return
    processes, first_runs = (5, 1) if options.quick else (20, 3)

    bare = statistics.median(fresh_seconds("pass", processes))
    floor = statistics.median(fresh_seconds(PYDANTIC_FLOOR, processes))
    samples = fresh_seconds(IMPORT, processes)
    print(
        f"(a) fresh `{IMPORT}`: median {statistics.median(samples) * 1000:.0f} ms of {processes} "
        f"(min {min(samples) * 1000:.0f}, max {max(samples) * 1000:.0f}); bare interpreter {bare * 1000:.0f} ms, "
        f"pydantic + one model {floor * 1000:.0f} ms",
        flush=True,
    )

    runs = []
    for _ in range(first_runs):
        root = Path(tempfile.mkdtemp(prefix="agi-bench-cold-"))
        try:
            prepared = prepare(root)
            runs.append(first_run(root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    phases = {name: statistics.median(run.get(name, 0.0) for run in runs) for name in runs[0]}
    shipping = phases["shipping: plugin registered"] + phases["shipping: workers checked"]
    inside = shipping + phases["looking for dask-labextension clusters"] + phases["local cluster start"]
    phases["install, the rest"] = phases.pop("install total") - inside
    order = [
        "interpreter start",
        "import agi_jupyter",
        "import Dask (distributed)",
        "import the engine's run, install, cluster",
        "looking for dask-labextension clusters",
        "local cluster start",
        "install, the rest",
        "shipping: plugin registered",
        "shipping: workers checked",
        "first run",
    ]
    split = ", ".join(f"{name} {phases[name]:.2f} s" for name in order)
    until = sum(phases[name] for name in order)
    print(
        f"(b) first dask-mode INSTALL + RUN in a fresh process (flight, {PARAMS['flights']} logs, "
        f"{WORKERS} local workers), median of {first_runs}: {until:.2f} s until the first result = {split}; "
        f"second run {phases['second run']:.2f} s; cluster close {phases['cluster close']:.2f} s, "
        f"process exit {phases['process exit']:.2f} s "
        f"(the app's earlier install and plan took {prepared:.1f} s in their own process)",
        flush=True,
    )


if __name__ == "__main__":
    main()
