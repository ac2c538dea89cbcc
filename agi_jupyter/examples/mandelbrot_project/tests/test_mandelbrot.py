"""The mandelbrot app: bands cover the image, costs are uneven but balanced, statistics are right,
and the worker module is valid Cython that compiles and computes the same numbers."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args

if TYPE_CHECKING:  # app_args.py as mypy names it; the engine imports it from src/ as mandelbrot.app_args
    from agi_jupyter.examples.mandelbrot_project.src.mandelbrot.app_args import MandelbrotArgs

APP = Path(__file__).resolve().parents[1]
SMALL = {"width": 64, "height": 48, "bands": 12, "max_iter": 64}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgiEnv:
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "share"))
    return AgiEnv(APP)


def mandelbrot_args(env: AgiEnv, overrides: dict[str, Any] | None = None) -> MandelbrotArgs:
    """``load_args`` typed as the app's own model: exactly the class the engine loaded from src/."""
    args = load_args(env, overrides)
    assert type(args) is env.args_model() and type(args).__name__ == "MandelbrotArgs"
    return cast("MandelbrotArgs", args)


def reference_row(row: int, args: MandelbrotArgs) -> tuple[int, int]:
    """Escape counts with Python complex numbers: independent of the worker's typed loop."""
    y = args.y_min + (row + 0.5) * (args.y_max - args.y_min) / args.height
    inside = total = 0
    for column in range(args.width):
        c = complex(args.x_min + (column + 0.5) * (args.x_max - args.x_min) / args.width, y)
        z, count = 0j, 0
        while count < args.max_iter and z.real * z.real + z.imag * z.imag <= 4.0:
            z = z * z + c
            count += 1
        total += count
        inside += count == args.max_iter
    return inside, total


def test_bands_cover_every_row_once_with_uneven_costs(env: AgiEnv) -> None:
    args = mandelbrot_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 3})
    bands = sorted((item["row_start"], item["row_stop"]) for slot in plan.slots for c in slot for item in c.items)
    assert bands[0][0] == 0 and bands[-1][1] == args.height
    assert all(stop == next_start for (_, stop), (next_start, _) in itertools.pairwise(bands))
    weights = [c.weight for slot in plan.slots for c in slot]
    assert max(weights) > 3 * min(weights)  # the set's rows cost more: balancing matters
    assert max(plan.loads) < 1.5 * min(plan.loads)


def test_worker_statistics_match_an_independent_computation(env: AgiEnv) -> None:
    args = mandelbrot_args(env, SMALL)
    plan = env.manager_class()(args, env).distribution({"127.0.0.1": 2})
    chunk = plan.slots[1][0]
    worker = env.worker_class_object()(args, share_dir=env.share_dir)
    [output] = worker.run([(chunk.label, chunk.items)])
    frame = pd.read_parquet(output)
    item = chunk.items[0]
    assert frame["row"].tolist() == list(range(item["row_start"], item["row_stop"]))
    for row in frame.itertuples():
        assert (row.inside, row.iterations) == reference_row(row.row, args)


@pytest.mark.slow
def test_worker_module_compiles_with_cython_and_agrees(tmp_path: Path) -> None:
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.fail("no C compiler: the Cython example needs one")
    source = APP / "src" / "mandelbrot_worker" / "mandelbrot_worker.py"
    shutil.copy(source, tmp_path / "mandelbrot_kernel.py")
    build = subprocess.run(
        [sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-3", "-q", "mandelbrot_kernel.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    check = (
        "import mandelbrot_kernel as k; print(k.__file__.endswith('.so'), k.compiled(), "
        "k.row_statistics(0.1, -2.2, 3/64, 64, 64))"
    )
    result = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, check=True)
    compiled_file, compiled_flag, numbers = result.stdout.strip().split(" ", 2)
    assert compiled_file == compiled_flag == "True"
    spec = importlib.util.spec_from_file_location("mandelbrot_pure", source)
    assert spec is not None and spec.loader is not None
    pure = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pure)
    assert not pure.compiled()
    assert numbers == str(pure.row_statistics(0.1, -2.2, 3 / 64, 64, 64))
