"""A settings save killed with SIGKILL mid-write leaves app_settings.toml whole: old or new text.

A real child process saves ``cluster.verbose`` back and forth in a loop and is killed at a
random moment, many times over. The file is padded with a large comment block (comments survive
every save), so each save writes about 200 KB in many system calls and a kill lands inside a
write often; a save that truncated or wrote in place would leave a short or mixed file.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from agi_jupyter import AgiEnv
from agi_jupyter.core.settings import AppSettings, save_settings, temporary_prefix

ROUNDS = 15
PADDING_LINES = 1000

LOOP = textwrap.dedent("""
    import sys
    from agi_jupyter.core.settings import save_settings

    path, count = sys.argv[1], 0
    while True:
        save_settings(path, {"cluster.verbose": 1 + count % 2})
        count += 1
        if count == 2:
            print("saving", flush=True)
""")

STOP_AT_FILE_CALL = textwrap.dedent("""
    import os, signal, sys
    from agi_jupyter.core.settings import save_settings

    FILE_MODULES = {"posix", "_io", "io", "os", "fcntl"}
    QUIET = {"fspath", "getpid", "stat", "lstat", "fstat", "geteuid", "text_encoding", "_path_normpath",
             "register_at_fork"}
    path, stop_at, seen = sys.argv[1], sys.argv[2], []  # stop at the n-th file call, or at a named one

    def touches_files(function):
        owner = getattr(function, "__self__", None)
        module = getattr(function, "__module__", None) or type(owner).__module__
        return module in FILE_MODULES and function.__name__ not in QUIET

    def stop(frame, event, arg):
        # count the file-system calls of the save; freeze just before the chosen one runs
        if event == "c_call" and touches_files(arg):
            seen.append(arg.__name__)
            if stop_at in (str(len(seen)), arg.__name__):
                sys.setprofile(None)
                print(f"stopped before {arg.__name__}", flush=True)
                signal.pause()

    save_settings(path, {"cluster.verbose": 1})  # imports and first-use work happen outside the count
    sys.setprofile(stop)
    save_settings(path, {"cluster.verbose": 2})
    sys.setprofile(None)
    print(f"finished after {len(seen)}", flush=True)
""")


def padded_settings(apps_path: Path) -> tuple[Path, str, str]:
    """The flight settings with a large comment block; its texts with verbose 1 and verbose 2."""
    path = AgiEnv("flight", apps_path=apps_path).settings_path
    padding = "".join(f"# padding line {number:05d} {'.' * 40}\n" for number in range(PADDING_LINES))
    path.write_text(path.read_text() + "\n" + padding)
    save_settings(path, {"cluster.verbose": 2})
    second = path.read_text()
    save_settings(path, {"cluster.verbose": 1})
    first = path.read_text()
    assert first != second and len(first) > PADDING_LINES * 50
    return path, first, second


def temporaries(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{temporary_prefix(path)}*"))


def start(script: str, path: Path, expected: str, *arguments: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(path), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    line = child.stdout.readline()
    if not line.startswith(expected):
        child.kill()
        raise AssertionError(f"child did not start saving: {line!r} {child.communicate()[1]}")
    return child


def kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    assert child.returncode == -signal.SIGKILL


def test_killed_saves_leave_the_old_or_the_new_file(apps_path: Path) -> None:
    path, first, second = padded_settings(apps_path)
    chooser = random.Random()
    for round_number in range(ROUNDS):
        child = start(LOOP, path, "saving\n")
        time.sleep(chooser.uniform(0, 0.05))  # a random moment of the loop, not a timing check
        kill(child)
        text = path.read_text()
        assert text in (first, second), f"round {round_number}: {len(text)} characters, neither old nor new"
        assert AppSettings.load(path).cluster.verbose in (1, 2)


def file_calls_of_one_save(path: Path) -> int:
    """How many file-system calls one save makes (the child runs it to the end and says so)."""
    child = subprocess.run(
        [sys.executable, "-c", STOP_AT_FILE_CALL, str(path), "0"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    count = int(child.stdout.split("finished after ")[1])
    assert count > 5, child.stdout
    return count


def test_a_save_killed_before_any_of_its_file_calls_leaves_the_old_or_the_new_file(apps_path: Path) -> None:
    """Every point where a crash can expose the disk: before each open, write, sync, rename, close."""
    path, first, second = padded_settings(apps_path)
    for stop_at in range(1, file_calls_of_one_save(path) + 1):
        path.write_text(first)
        kill(start(STOP_AT_FILE_CALL, path, "stopped before", str(stop_at)))
        text = path.read_text()
        assert text in (first, second), f"killed before file call {stop_at}: neither the old nor the new text"
        assert AppSettings.load(path).cluster.verbose in (1, 2)
        save_settings(path, {"cluster.pool": False})  # the next save clears what the dead one left
        assert temporaries(path) == [], f"killed before file call {stop_at}: {temporaries(path)} left behind"


def test_a_save_killed_before_its_rename_leaves_a_temporary_that_is_never_read(apps_path: Path) -> None:
    path, first, _ = padded_settings(apps_path)
    kill(start(STOP_AT_FILE_CALL, path, "stopped before replace", "replace"))
    left = temporaries(path)
    assert len(left) == 1 and "verbose = 2" in left[0].read_text()  # the dead save's whole new text
    assert path.read_text() == first and AppSettings.load(path).cluster.verbose == 1
    saved = save_settings(path, {"cluster.pool": True})  # the next save clears what the dead one left
    assert saved.cluster.verbose == 1 and saved.cluster.pool is True
    assert temporaries(path) == []
    assert path.read_text() == first.replace("pool = false", "pool = true", 1)
