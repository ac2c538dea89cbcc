"""Scale-out figures for benchmarks/RESULTS.md (never fails on a number; needs root for the hosts).

Two "remote hosts" are network namespaces with their own sshd and Unix user (the test lab of
``tests/remote/hosts.py``); the scheduler listens on the lab's gateway address.

(a) cold remote install per host (uv, Python, 36 wheels, the engine) and the warm one (unchanged);
(b) time to start N workers on the hosts (environments ready, scheduler included);
(c) run overhead: the flight example in dask mode on 2 hosts x 2 slots vs the engine's local
    cluster of 4 workers on this machine, same plan, median of 5 warm runs each.

Run: ``.venv/bin/python benchmarks/scale_out.py`` (as root). ``--quick``: the same lab and
figures, one run of each. Each figure is printed on a line starting with its letter; when the lab
cannot be built here the script prints one ``skipped: <reason>`` line and exits 0 (the benchmark
smoke test fails on it under CI=true, as the remote-host tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(action) -> float:  # noqa: ANN001 - any zero-argument callable
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one run of each figure")
    quick = parser.parse_args().quick
    runs, starts_count = (1, 1) if quick else (RUNS, 3)
    sys.path.insert(0, str(REPO))
    from tests.remote.hosts import LabError, remote_lab, unavailable_reason

    reason = unavailable_reason()
    if reason:
        print(f"skipped: remote hosts over SSH unavailable: {reason}")
        return
    root = Path(tempfile.mkdtemp(prefix="agi-bench-scale-"))
    root.chmod(0o777)
    os.umask(0)  # the share is written by every host user (see tests/remote/test_scale_out.py)
    for name, folder in {"AGI_SHARE_DIR": "share", "AGI_LOG_DIR": "log", "AGI_WORKER_ENV_DIR": "wenv"}.items():
        os.environ[name] = str(root / folder)
    os.environ["AGI_CLUSTER_DIR"] = str(root / "cluster")
    from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
    from agi_jupyter.core import cluster
    from agi_jupyter.core.env import EXAMPLES_PATH
    from agi_jupyter.core.settings import save_settings

    apps = root / "apps"
    shutil.copytree(EXAMPLES_PATH, apps, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    env = AgiEnv("flight", apps_path=apps)
    (root / "share" / "flight" / "summary").mkdir(parents=True)  # open to every host user (umask 0)
    try:
        with contextlib.ExitStack() as stack:
            try:
                lab = stack.enter_context(remote_lab(2))
            except LabError as error:
                print(f"skipped: the lab of remote hosts could not be built: {error}")
                return
            first, second = lab.hosts
            settings = {
                "cluster.scheduler": f"{lab.gateway}:{free_port()}",
                ("cluster", "workers"): {first.address: 2, second.address: 2},
                "cluster.ssh_key_path": str(lab.key_path),
                "cluster.ssh_known_hosts": str(lab.known_hosts),
                **{
                    ("cluster", "hosts", host.address): {
                        "ssh_user": host.user,
                        "ssh_port": host.port,
                        "remote_python": "/usr/bin/python3",
                    }
                    for host in lab.hosts
                },
            }
            save_settings(env.settings_path, settings)
            lines: list[str] = []
            cold = timed(lambda: asyncio.run(AGI.install(env, modes_enabled=Mode.DASK, on_line=lines.append)))
            per_host = [
                float(m.group(1)) for line in lines if (m := re.search(r"environment ready in ([\d.]+) s", line))
            ]
            warm = statistics.median(
                timed(lambda: asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))) for _ in range(runs)
            )
            print(
                f"(a) cold install {cold:.1f} s in all (per host, in parallel: {per_host} s); warm {warm * 1000:.0f} ms"
            )
            starts = []
            for _ in range(starts_count):
                cluster.close_clients()
                asyncio.run(AGI.cluster(env, "stop"))
                save_settings(env.settings_path, {"cluster.scheduler": f"{lab.gateway}:{free_port()}"})
                starts.append(timed(lambda: asyncio.run(AGI.cluster(env, "start"))))
            print(
                f"(b) scheduler + 4 workers on 2 hosts (environments ready): median {statistics.median(starts):.2f} s"
            )
            asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
            run = lambda: asyncio.run(AGI.run(env, RunRequest(mode=Mode.DASK)))  # noqa: E731
            run()
            remote = statistics.median(timed(run) for _ in range(runs))
            cluster.close_clients()
            asyncio.run(AGI.cluster(env, "stop"))
        save_settings(env.settings_path, {"cluster.scheduler": "", ("cluster", "workers"): {"127.0.0.1": 4}})
        asyncio.run(AGI.install(env, modes_enabled=Mode.DASK))
        run()
        local = statistics.median(timed(run) for _ in range(runs))
        print(
            f"(c) flight, dask mode, 4 slots: 2 hosts {remote:.3f} s, local cluster {local:.3f} s, "
            f"ratio {remote / local:.2f}"
        )
    finally:
        cluster.close_clients()
        cluster.close_local_cluster()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
