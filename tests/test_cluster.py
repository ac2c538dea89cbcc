"""Choosing the Dask client: kernel's, scheduler address, lab-managed, or our loopback cluster.

Everything runs on real Dask over loopback. Our local cluster (processes, one thread each) is
started once for the module and grown as tests ask for more slots, as it is in a kernel; a
second, threaded cluster plays the part of "a scheduler somebody else started".
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import dask
import distributed
import pytest
from distributed import Client, LocalCluster
from distributed.client import default_client

from agi_jupyter.core import cluster
from agi_jupyter.core.errors import ClusterError


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_address() -> str:
    return distributed.get_worker().address


def child_process_id() -> int:
    """Start a process pool inside a worker: daemonic workers are not allowed to."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        return pool.submit(os.getpid).result()


def has_no_default_client() -> bool:
    try:
        default_client()
    except ValueError:
        return True
    return False


# ----- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def close_what_cluster_opened() -> Iterator[None]:
    yield
    cluster.close_clients()
    cluster.close_local_cluster()


@pytest.fixture(autouse=True)
def no_jupyter_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Jupyter runtime folder: servers running on this machine are not consulted."""
    runtime = tmp_path / "jupyter-runtime"
    runtime.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    assert has_no_default_client(), "a previous test leaked a default Dask client"
    return runtime


@pytest.fixture(scope="module")
def other_cluster() -> Iterator[LocalCluster]:
    """A running scheduler this module did not start (threads: cheap, and still TCP)."""
    started = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    yield started
    cluster.close_clients()
    started.close()


class FakeLabServer(BaseHTTPRequestHandler):
    """Answers ``GET /dask/clusters`` the way dask-labextension does, behind a token."""

    clusters: ClassVar[list[dict[str, Any]] | None] = []
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        self.requests.append(self.path)
        allowed = self.headers.get("Authorization") == "token secret"
        status = 403 if not allowed else 500 if self.clusters is None else 200
        body = json.dumps(self.clusters if status == 200 else {"error": status}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def lab_server(no_jupyter_server: Path) -> Iterator[type[FakeLabServer]]:
    """A Jupyter server, as ``list_running_servers`` sees it, that lists Dask clusters."""
    handler = type("Handler", (FakeLabServer,), {"clusters": [], "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    info = {"url": f"http://127.0.0.1:{server.server_address[1]}/", "token": "secret", "pid": os.getpid()}
    (no_jupyter_server / f"jpserver-{os.getpid()}.json").write_text(json.dumps(info))
    yield handler
    server.shutdown()
    server.server_close()


# ----- our local cluster ----------------------------------------------------------------
def test_without_any_client_a_loopback_cluster_is_started_once_and_grown() -> None:
    cluster.close_local_cluster()
    first = cluster.select_client(workers={"127.0.0.1": 1, "10.0.0.7": 4})
    assert (first.source, first.owned) == ("local", True)
    assert first.address.startswith("tcp://127.0.0.1:")
    assert first.dashboard_link and first.dashboard_link.startswith("http://127.0.0.1:")
    workers = list(first.client.nthreads())
    assert len(workers) == 1 and workers[0].startswith("tcp://127.0.0.1:")

    again = cluster.select_client(workers={"127.0.0.1": 1})
    assert again.client is first.client and again.address == first.address

    grown = cluster.select_client(workers={"127.0.0.1": 1, "localhost": 1})
    assert grown.client is first.client and grown.address == first.address
    workers = list(grown.client.nthreads())
    assert len(workers) == 2 and all(address.startswith("tcp://127.0.0.1:") for address in workers)


def test_concurrent_callers_share_one_local_cluster() -> None:
    with ThreadPoolExecutor(max_workers=4) as threads:
        handles = list(threads.map(lambda _: cluster.local_cluster(2), range(4)))
    assert len({id(handle.client) for handle in handles}) == 1
    assert len({handle.address for handle in handles}) == 1


def test_the_local_client_never_becomes_the_default() -> None:
    handle = cluster.select_client(workers={"127.0.0.1": 2})
    assert handle.source == "local"
    assert has_no_default_client()
    assert dask.config.get("scheduler", None) != "dask.distributed"


def test_local_workers_may_start_process_pools() -> None:
    client = cluster.local_cluster(2).client
    for address in client.nthreads():  # the first worker and the one added when growing
        pinned = {"workers": [address], "allow_other_workers": False, "pure": False}
        worker_process = client.submit(os.getpid, **pinned).result()
        assert client.submit(child_process_id, **pinned).result() not in (worker_process, os.getpid())


def test_describe_names_source_address_workers_and_dashboard() -> None:
    handle = cluster.local_cluster(2)
    line = cluster.describe(handle)
    assert "local" in line and handle.address in line and "2 workers" in line
    assert str(handle.dashboard_link) in line


# ----- someone else's client or scheduler -----------------------------------------------
def test_the_kernels_own_client_is_used_first(other_cluster: LocalCluster) -> None:
    with Client(other_cluster) as kernel_client:
        handle = cluster.select_client(f"127.0.0.1:{free_port()}", required=True, timeout=2, workers={"127.0.0.1": 2})
        assert handle.client is kernel_client
        assert (handle.source, handle.owned) == ("kernel", False)
        assert handle.address == other_cluster.scheduler_address
        assert default_client() is kernel_client


def test_an_explicit_scheduler_is_connected_reused_and_not_made_default(other_cluster: LocalCluster) -> None:
    address = other_cluster.scheduler_address
    handle = cluster.select_client(address.removeprefix("tcp://"), required=True, timeout=5)
    assert (handle.source, handle.owned, handle.address) == ("scheduler", False, address)
    assert handle.client.submit(worker_address, pure=False).result() in other_cluster.scheduler_info["workers"]
    assert cluster.select_client(address, required=True).client is handle.client
    assert has_no_default_client()


def test_an_explicit_scheduler_that_does_not_answer_is_an_error_naming_it() -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterError) as raised:
        cluster.select_client(address, required=True, timeout=2)
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert address in message and "2 s" in message
    assert "dask scheduler --host 127.0.0.1" in message and "clear the scheduler setting" in message


def test_a_loopback_scheduler_from_settings_that_does_not_answer_falls_back_to_local() -> None:
    address = f"127.0.0.1:{free_port()}"
    lines: list[str] = []
    handle = cluster.select_client(address, workers={"127.0.0.1": 2}, on_line=lines.append)
    assert handle.source == "local" and handle.address.startswith("tcp://127.0.0.1:")
    assert lines == [f"no scheduler at tcp://{address}; using a local cluster"]


def test_a_remote_scheduler_from_settings_that_does_not_answer_is_an_error() -> None:
    with pytest.raises(ClusterError, match=r"192\.0\.2\.1:8786"):
        cluster.select_client("192.0.2.1:8786", timeout=2)


def test_an_invalid_scheduler_address_is_an_error() -> None:
    with pytest.raises(ClusterError, match="not a host"):
        cluster.select_client("not a host:99", required=True)


def test_a_cluster_listed_by_dask_labextension_is_used(
    other_cluster: LocalCluster, lab_server: type[FakeLabServer]
) -> None:
    lab_server.clusters = [
        {
            "id": "lab-1",
            "name": "Lab cluster",
            "scheduler_address": other_cluster.scheduler_address,
            "dashboard_link": "",
        }
    ]
    handle = cluster.select_client(workers={"127.0.0.1": 1})
    assert (handle.source, handle.owned) == ("labextension", False)
    assert handle.address == other_cluster.scheduler_address
    assert lab_server.requests == ["/dask/clusters"]
    assert has_no_default_client()


def test_a_failing_labextension_lookup_is_reported_and_skipped(lab_server: type[FakeLabServer]) -> None:
    lab_server.clusters = None
    lines: list[str] = []
    handle = cluster.select_client(workers={"127.0.0.1": 1}, on_line=lines.append)
    assert handle.source == "local"
    assert len(lines) == 1 and "dask-labextension" in lines[0] and "500" in lines[0]


# ----- worker slots ---------------------------------------------------------------------
@pytest.fixture
def two_workers() -> tuple[Client, list[str]]:
    handle = cluster.local_cluster(2)
    workers = sorted(handle.client.nthreads(), key=lambda address: int(address.rsplit(":", 1)[1]))
    assert len(workers) == 2
    return handle.client, workers


def test_slots_take_a_hosts_workers_round_robin_in_a_stable_order(two_workers: tuple[Client, list[str]]) -> None:
    client, (first, second) = two_workers
    assert cluster.slot_workers(client, {"127.0.0.1": 3}) == [first, second, first]
    assert cluster.slot_workers(client, {"127.0.0.1": 3}) == [first, second, first]


def test_localhost_slots_map_to_the_loopback_workers(two_workers: tuple[Client, list[str]]) -> None:
    client, (first, second) = two_workers
    assert cluster.slot_workers(client, {"localhost": 1}) == [first]
    assert cluster.slot_workers(client, {"localhost": 1, "127.0.0.1": 1}) == [first, second]


def test_a_host_without_workers_is_an_error_listing_the_hosts_that_have_some(
    two_workers: tuple[Client, list[str]],
) -> None:
    client, _ = two_workers
    with pytest.raises(ClusterError) as raised:
        cluster.slot_workers(client, {"127.0.0.1": 1, "10.9.8.7": 1})
    assert "10.9.8.7" in str(raised.value) and "hosts with workers: 127.0.0.1" in str(raised.value)


def test_a_pinned_task_runs_on_its_slots_worker(two_workers: tuple[Client, list[str]]) -> None:
    client, _ = two_workers
    slots = cluster.slot_workers(client, {"127.0.0.1": 4})
    futures = [
        client.submit(worker_address, pure=False, workers=[address], allow_other_workers=False) for address in slots
    ]
    assert client.gather(futures) == slots


def test_closing_the_local_cluster_reports_whether_one_was_open() -> None:
    handle = cluster.local_cluster(1)
    assert cluster.close_local_cluster() is True
    assert cluster.close_local_cluster() is False
    assert handle.client.status == "closed"


def test_runs_and_the_service_pick_their_client_from_the_request_else_the_settings(
    monkeypatch, apps_path: Path
) -> None:
    from agi_jupyter.core.env import AgiEnv
    from agi_jupyter.core.requests import RunRequest, ServeRequest
    from agi_jupyter.core.settings import save_settings

    env = AgiEnv("flight", apps_path=apps_path)
    save_settings(env.settings_path, {"cluster.scheduler": "127.0.0.1:9999", "cluster.workers": {"127.0.0.1": 3}})
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(cluster, "select_client", lambda scheduler, **options: calls.append((scheduler, options)))
    say = print
    cluster.client_for(env, RunRequest(), say)
    cluster.client_for(
        env, ServeRequest(action="status", scheduler="10.0.0.1:8786", workers={"10.0.0.1": 1}), say, start=False
    )
    assert calls == [
        ("127.0.0.1:9999", {"required": False, "workers": {"127.0.0.1": 3}, "on_line": say, "start": True}),
        ("10.0.0.1:8786", {"required": True, "workers": {"10.0.0.1": 1}, "on_line": say, "start": False}),
    ]


def test_server_files_of_dead_or_unreadable_servers_are_skipped(no_jupyter_server: Path) -> None:
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (no_jupyter_server / f"jpserver-{gone.pid}.json").write_text(
        json.dumps({"url": "http://127.0.0.1:1/", "pid": gone.pid})
    )
    (no_jupyter_server / "jpserver-1.json").write_text("{not json")
    alive = {"url": "http://127.0.0.1:2/", "pid": os.getpid()}
    (no_jupyter_server / f"jpserver-{os.getpid()}.json").write_text(json.dumps(alive))
    assert cluster.running_servers() == [alive]
