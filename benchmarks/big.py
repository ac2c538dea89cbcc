"""Big plans for benchmarks/RESULTS.md (never fails on a number): 10,000 chunks, 100,000 work items.

(a) the plan: build, save, reuse check, load of a 10,000-chunk, 100,000-item plan;
(b) the Distribute tab built on it (tree and chart; target <= 300 ms);
(c) dask-mode ``AGI.run`` vs raw ``client.map`` + ``gather`` of the same per-chunk work on the
    same 2-worker local cluster, 10,000 chunks (ratio, target <= 1.3);
(d) the kernel's memory (RSS) during the first ``AGI.run`` (which builds the plan) and the next:
    before, peak (sampled by a thread every 10 ms) and after (target: growth < 200 MB).

The app is made at run time in a temporary apps folder (:func:`make_app`): ``chunks`` chunks of
``items`` integers each; a worker item spins ``spin`` loop turns, and each chunk writes one small
text file (the sum of its items), so every chunk's output can be accounted for.

Run: ``.venv/bin/python benchmarks/big.py``. Medians of 3; everything under a temporary root.
``--quick``: one run of each, 2,000 chunks for (c) and (d). Each figure is printed on a line
starting with its letter.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

from _common import median_seconds, temporary_roots

RUNS = 3
CHUNKS = 10_000
ITEMS = 10  # per chunk
APP = "bigplan"

MANAGER = '''
"""Manager of the big-plan benchmark app: ``chunks`` chunks of ``items`` integers each."""

from agi_jupyter.app import BaseManager, Chunk, WorkPlan, worker_slots


class Bigplan(BaseManager):
    def build_distribution(self, workers: dict[str, int]) -> WorkPlan:
        a = self.args
        chunks = [
            Chunk(f"chunk_{n:06d}", float(1 + n % 7), list(range(n * a.items, (n + 1) * a.items)))
            for n in range(a.chunks)
        ]
        return WorkPlan.balanced(chunks, len(worker_slots(workers)), partition_key="chunk", weights_key="cost")
'''

ARGS = '''
"""Arguments of the big-plan benchmark app."""

from pydantic import BaseModel, Field


class BigplanArgs(BaseModel):
    chunks: int = Field(10000, ge=1)
    items: int = Field(10, ge=1)
    spin: int = Field(0, ge=0)
    data_out: str = "bigplan"
'''

WORKER = '''
"""Worker of the big-plan benchmark app: each chunk writes ``<data_out>/<label>.txt`` (the sum of its items)."""

from agi_jupyter.core.plan import output_stem
from agi_jupyter.worker import BaseWorker


class BigplanWorker(BaseWorker):
    def work_init(self) -> None:
        self.folder = self.data_path(self.args.data_out)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.total = 0

    def work_pool(self, item: int) -> None:
        for _ in range(self.args.spin):
            pass
        self.total += item
        return None

    def work_done(self, frame: object) -> None:
        path = self.folder / f"{output_stem(self.chunk_label)}.txt"
        path.write_text(str(self.total))
        self.total = 0
        self.outputs.append(path)
'''

PYPROJECT = f"""
[project]
name = "{APP}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = []
"""

SETTINGS = """
[args]
chunks = 10000
items = 10
spin = 0
data_out = "bigplan"

[cluster]
pool = false
cython = false
cluster_enabled = true
rapids = false
scheduler = ""
workers = {"127.0.0.1" = 2}
verbose = 0
"""


def make_app(apps: Path) -> Path:
    """Write the benchmark app ``bigplan`` under ``apps``; returns its project folder."""
    project = apps / f"{APP}_project"
    files = {
        "pyproject.toml": PYPROJECT,
        "src/app_settings.toml": SETTINGS,
        f"src/{APP}/__init__.py": "",
        f"src/{APP}/app_args.py": ARGS,
        f"src/{APP}/{APP}.py": MANAGER,
        f"src/{APP}_worker/__init__.py": "",
        f"src/{APP}_worker/{APP}_worker.py": WORKER,
    }
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return project


def raw_chunk(spec: dict[str, Any], chunk: dict[str, Any]) -> str:
    """Plain Dask baseline: the app's worker and every hook for one chunk (no engine around it)."""
    from agi_jupyter.core.runner import make_worker

    worker = make_worker(spec, 0, 1)
    worker.start()
    worker.work_init()
    worker.process_chunk(chunk["items"], chunk["label"])
    worker.stop()
    return str(worker.outputs[0])


def nothing(number: int) -> int:
    """A task that does no work: what Dask itself costs per task."""
    return number


class MemorySampler:
    """This process's RSS before, at its peak (a thread samples it every ``interval`` s) and after."""

    def __init__(self, interval: float = 0.01) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.before = self.peak = self.after = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> MemorySampler:
        self.before = self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = self.process.memory_info().rss
        self.peak = max(self.peak, self.after)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one run of each figure, 2,000 chunks for (c) and (d)")
    quick = parser.parse_args().quick
    runs = 1 if quick else RUNS
    run_chunks = 2_000 if quick else CHUNKS

    root = temporary_roots("agi-big-")
    from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
    from agi_jupyter.core import distrib
    from agi_jupyter.core.args import load_args

    apps = root / "apps"
    make_app(apps)
    env = AgiEnv(APP, apps_path=apps)
    workers = {"127.0.0.1": 2}
    try:
        # (a) the plan
        params = {"chunks": CHUNKS, "items": ITEMS}
        args = load_args(env, params)
        build = median_seconds(lambda: distrib.build(env, args, workers), runs)  # build includes the save
        saved = distrib.read(env)
        assert saved is not None and saved.plan.chunk_count == CHUNKS and saved.plan.item_count == CHUNKS * ITEMS
        save = median_seconds(lambda: distrib.save(env, saved), runs)
        reuse = median_seconds(lambda: distrib.reuse_or_build(env, args, workers), runs)
        reused = distrib.reuse_or_build(env, args, workers)
        assert reused.reason.startswith("saved plan reused"), reused.reason
        load = median_seconds(lambda: distrib.read(env), runs)
        size = env.plan_path.stat().st_size
        print(
            f"(a) plan of {CHUNKS:,} chunks / {CHUNKS * ITEMS:,} items ({size / 1e6:.1f} MB saved): "
            f"build+save {build * 1000:.0f} ms, save {save * 1000:.0f} ms, "
            f"reuse check {reuse * 1000:.0f} ms, load {load * 1000:.0f} ms"
        )

        # (b) the Distribute tab on it
        from agi_jupyter.widgets.common import Context
        from agi_jupyter.widgets.distribute_tab import DistributeTab

        DistributeTab(Context(env, cell_id=None))  # warm imports (ipytree, bqplot)
        context_seconds = median_seconds(lambda: Context(env, cell_id=None), runs)
        context = Context(env, cell_id=None)
        tab_seconds = median_seconds(lambda: DistributeTab(context), runs)
        tab = DistributeTab(context)
        assert tab.plan is not None and tab.plan.chunk_count == CHUNKS
        distribution = tab.distribution
        assert distribution is not None
        show = median_seconds(lambda: tab.show(distribution), runs)
        print(
            f"(b) Distribute tab on {CHUNKS:,} chunks: built {tab_seconds * 1000:.0f} ms (reads the saved plan, "
            f"draws tree and chart; target <= 300 ms), of which tree and chart {show * 1000:.0f} ms; "
            f"the Orchestrator's shared Context (reads the plan's stamp) {context_seconds * 1000:.0f} ms"
        )

        # (c) dask-mode AGI.run vs raw client.map + gather, same chunks, same cluster
        asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
        run_params = {"chunks": run_chunks, "items": ITEMS}
        run = lambda: asyncio.run(AGI.run(env, RunRequest(mode=Mode.DASK, params=run_params)))  # noqa: E731
        env.plan_path.unlink()  # the first run builds its plan
        with MemorySampler() as first_memory:
            first = run()
        assert first.chunks == run_chunks and len(first.outputs) == run_chunks, (first.chunks, len(first.outputs))
        with MemorySampler() as memory:  # (d), before the baseline's 10,000 tasks fill the kernel's scheduler
            again = run()
        assert first.plan.startswith("no saved plan") and again.plan.startswith("saved plan reused"), again.plan
        assert len(again.outputs) == run_chunks
        from agi_jupyter.core.cluster import select_client
        from agi_jupyter.core.distrib import load as load_plan

        client = select_client(None, workers=workers).client
        plan = load_plan(env)
        assert plan is not None
        chunks = [{"label": c.label, "items": c.items} for slot in plan.plan.slots for c in slot]
        spec = {
            "paths": [],
            "cython": False,
            "worker_package": env.worker_module,
            "worker_module": f"{env.worker_module}.{env.worker_module}",
            "worker_class": env.worker_class,
            "args_module": f"{env.target}.app_args",
            "args_class": env.args_class,
            "args": load_args(env, run_params).model_dump(mode="json"),
            "share_dir": str(env.share_dir),
            "verbose": 0,
        }

        def raw() -> list[str]:
            return client.gather(client.map(raw_chunk, [spec] * len(chunks), chunks, pure=False))

        assert len(set(raw())) == run_chunks  # warm: the baseline's imports on the workers
        raw_seconds = median_seconds(raw, runs)
        engine_seconds = median_seconds(run, runs)
        floor = median_seconds(lambda: client.gather(client.map(nothing, range(run_chunks), pure=False)), runs)
        print(
            f"(c) {run_chunks:,} chunks ({run_chunks * ITEMS:,} items) on 2 Dask workers: "
            f"raw client.map+gather {raw_seconds:.3f} s, AGI.run {engine_seconds:.3f} s, "
            f"ratio {engine_seconds / raw_seconds:.2f} (target <= 1.3); "
            f"Dask's own floor, {run_chunks:,} tasks doing nothing: {floor:.3f} s"
        )

        # (d) kernel memory during AGI.run (sampled above)
        def growth(sample: MemorySampler) -> str:
            mb = 1024 * 1024
            return (
                f"before {sample.before / mb:.0f} MB, peak +{(sample.peak - sample.before) / mb:.0f} MB, "
                f"after +{(sample.after - sample.before) / mb:.0f} MB"
            )

        print(
            f"(d) kernel RSS during a {run_chunks:,}-chunk AGI.run (target growth < 200 MB): "
            f"first run (builds and saves the plan) {growth(first_memory)}; next run {growth(memory)}"
        )
    finally:
        AGI.close()
        shutil.rmtree(root, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
