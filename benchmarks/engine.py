"""Engine figures for benchmarks/RESULTS.md (never fails on a number).

(a) dask-mode overhead: the same 200 chunks through ``client.map`` + ``gather`` vs ``AGI.run``
    on the same client (ratio, target <= 1.3);
(b) cython vs python mode on the CPU-bound mandelbrot example (ratio, target >= 3);
(c) the pandas (flight) example end to end: python mode, and dask mode with a warm client;
(d) a warm re-install.

Run: ``.venv/bin/python benchmarks/engine.py``. Medians of 5; everything under a temporary root.
``--quick``: one run of each, 20 chunks for (a), 160x120 pixels and 64 iterations for (b), 8 logs
for (c). Each figure is printed on a line starting with its letter.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil

from _common import median_seconds, temporary_roots

RUNS = 5


def raw_chunk(spec: dict, chunk: dict) -> int:
    """Plain Dask baseline: build the app's worker and process one chunk (no engine around it)."""
    from agi_jupyter.core.runner import make_worker

    worker = make_worker(spec, 0, 1)
    worker.process_chunk(chunk["items"], chunk["label"])
    return len(worker.outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one run of each figure, small sizes")
    quick = parser.parse_args().quick
    runs = 1 if quick else RUNS

    def median_of_runs(action) -> float:  # noqa: ANN001 - any zero-argument callable
        return median_seconds(action, runs)

    bands = 20 if quick else 200
    root = temporary_roots("agi-bench-")
    from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
    from agi_jupyter.core.cluster import select_client
    from agi_jupyter.core.env import EXAMPLES_PATH

    apps = root / "apps"
    shutil.copytree(EXAMPLES_PATH, apps, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    run = lambda env, **fields: asyncio.run(AGI.run(env, RunRequest(**fields)))  # noqa: E731
    try:
        mandelbrot = AgiEnv("mandelbrot", apps_path=apps)
        asyncio.run(AGI.install(mandelbrot, modes_enabled=Mode.CYTHON | Mode.DASK))

        # (a) dask overhead on 200 chunks
        params = {"width": 160, "height": 2 * bands, "bands": bands, "max_iter": 200}
        run(mandelbrot, mode=Mode.DASK, params=params)  # warm: plan built, code shipped
        client = select_client(None, workers={"127.0.0.1": 2}).client
        from agi_jupyter.core.args import load_args
        from agi_jupyter.core.distrib import load

        chunks = [{"label": c.label, "items": c.items} for slot in load(mandelbrot).plan.slots for c in slot]
        spec = {
            "paths": [],
            "cython": False,
            "worker_package": mandelbrot.worker_module,
            "worker_module": f"{mandelbrot.worker_module}.{mandelbrot.worker_module}",
            "worker_class": mandelbrot.worker_class,
            "args_module": "mandelbrot.app_args",
            "args_class": mandelbrot.args_class,
            "args": load_args(mandelbrot, params).model_dump(mode="json"),
            "share_dir": str(mandelbrot.share_dir),
            "verbose": 0,
        }
        raw = median_of_runs(lambda: client.gather(client.map(raw_chunk, [spec] * len(chunks), chunks, pure=False)))
        engine = median_of_runs(lambda: run(mandelbrot, mode=Mode.DASK, params=params))
        print(
            f"(a) {bands} chunks on 2 Dask workers: raw client.map+gather {raw:.3f} s, AGI.run {engine:.3f} s, "
            f"ratio {engine / raw:.2f}"
        )

        # (b) cython vs python, CPU-bound
        heavy = {"width": 160, "height": 120, "bands": 8, "max_iter": 64} if quick else {}
        heavy = heavy or {"width": 640, "height": 480, "bands": 32, "max_iter": 256}
        python = median_of_runs(lambda: run(mandelbrot, mode=0, params=heavy))
        cython = median_of_runs(lambda: run(mandelbrot, mode=Mode.CYTHON, params=heavy))
        print(
            f"(b) mandelbrot {heavy['width']}x{heavy['height']}, {heavy['max_iter']} iterations: "
            f"python {python:.3f} s, cython {cython:.3f} s, "
            f"speed-up {python / cython:.1f}x"
        )

        # (c) pandas example end to end
        flight = AgiEnv("flight", apps_path=apps)
        logs = {"flights": 8 if quick else 48}
        asyncio.run(AGI.install(flight, modes_enabled=Mode.DASK))
        run(flight, mode=0, params=logs)  # generates the logs once
        local = median_of_runs(lambda: run(flight, mode=0, params=logs))
        run(flight, mode=Mode.DASK, params=logs)
        dask = median_of_runs(lambda: run(flight, mode=Mode.DASK, params=logs))
        print(f"(c) flight, {logs['flights']} logs: python mode {local:.3f} s, dask mode (warm client) {dask:.3f} s")

        # (d) warm re-install
        warm = median_of_runs(lambda: asyncio.run(AGI.install(flight, modes_enabled=Mode(0))))
        warm_dask = median_of_runs(lambda: asyncio.run(AGI.install(flight, modes_enabled=Mode.DASK)))
        print(f"(d) warm re-install: {warm * 1000:.0f} ms (local), {warm_dask * 1000:.0f} ms (with shipping to Dask)")
    finally:
        AGI.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
