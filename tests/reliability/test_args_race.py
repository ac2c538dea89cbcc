"""Two processes saving [args] at once never store a combination the args model rejects.

The mandelbrot window needs ``x_min < x_max``. Starting from x_min=-2.2, x_max=0.8, one process
saves x_min=0.5 (valid with x_max=0.8) and another x_max=0.0 (valid with x_min=-2.2); together
they are invalid. The test holds the settings file lock while both real child processes start
their save, and lets them go only once each has asked for the lock, so both have read the file
as it was before either wrote: the worst interleaving, every time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from filelock import FileLock

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args
from agi_jupyter.core.errors import ArgsError
from agi_jupyter.core.settings import AppSettings, lock_path

CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from agi_jupyter import AgiEnv
    from agi_jupyter.core.args import save_args

    apps_path, values = Path(sys.argv[1]), json.loads(sys.argv[2])
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    env.args_model()

    def announce(frame, event, arg):
        # tell the parent the moment this save first asks for the settings lock
        if event == "call" and frame.f_code.co_name == "acquire" and "filelock" in frame.f_code.co_filename:
            sys.setprofile(None)
            print("asking for the lock", flush=True)

    sys.setprofile(announce)
    try:
        save_args(env, values)
    except Exception as error:
        print(f"refused: {error}", flush=True)
        sys.exit(3)
    print("saved", flush=True)
""")


def start_save(apps_path: Path, values: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(apps_path), values],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_concurrent_valid_saves_never_store_an_invalid_window(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    saved = AppSettings.load(env.settings_path).args
    assert (saved["x_min"], saved["x_max"]) == (-2.2, 0.8)
    lock = FileLock(str(lock_path(env.settings_path)))
    with lock:
        children = [start_save(apps_path, '{"x_min": 0.5}'), start_save(apps_path, '{"x_max": 0.0}')]
        for child in children:
            line = child.stdout.readline()
            assert line == "asking for the lock\n", f"child failed before saving: {line}{child.stderr.read()}"
    outcomes = []
    for child in children:
        out, err = child.communicate(timeout=120)
        outcomes.append((child.returncode, out, err))
    load_args(env)  # raises ArgsError if the stored window is invalid
    stored = AppSettings.load(env.settings_path).args
    assert stored["x_min"] < stored["x_max"]
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 3], outcomes
    refused = next(out for code, out, _ in outcomes if code == 3)
    assert str(env.settings_path) in refused and "x_min" in refused
    assert "another process" in refused
    assert (stored["x_min"], stored["x_max"]) in {(0.5, 0.8), (-2.2, 0.0)}


def test_a_refused_save_keeps_the_comments_and_other_keys(apps_path: Path) -> None:
    """The check under the lock refuses without writing: the file is byte for byte unchanged."""
    from agi_jupyter.core.args import save_args

    env = AgiEnv("mandelbrot", apps_path=apps_path)
    save_args(env, {"x_max": 0.0})
    before = env.settings_path.read_bytes()
    with pytest.raises(ArgsError) as caught:
        save_args(env, {"x_min": 0.5})
    assert "x_min" in str(caught.value) and str(env.settings_path) in str(caught.value)
    assert env.settings_path.read_bytes() == before
