"""Big plans (issue 13 item 2): 10,000 chunks and 100,000 work items, planned, saved, reused and run on Dask.

The app is the benchmark's (``benchmarks/big.py``): ``chunks`` chunks of ``items`` integers, and
each chunk writes one text file holding the sum of its items, so every chunk's output can be
accounted for.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agi_jupyter import AGI, AgiEnv, Mode, RunRequest
from agi_jupyter.core import cluster, distrib
from agi_jupyter.core.args import load_args
from agi_jupyter.core.events import ChunkEvent, LogEvent
from agi_jupyter.core.plan import output_stem
from agi_jupyter.core.run import BATCH_KEY, EventBatches, at_most_every, topic_event, topic_messages

CHUNKS = 10_000
ITEMS = 10
WORKERS = {"127.0.0.1": 2}


def load_benchmark() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "big.py"
    if str(path.parent) not in sys.path:  # big.py imports its folder's _common, as a script does
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("big_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", autouse=True)
def close_cluster_after_module() -> Iterator[None]:
    yield
    cluster.close_local_cluster()
    cluster.close_clients()


@pytest.fixture
def big(tmp_path: Path) -> AgiEnv:
    benchmark = load_benchmark()
    benchmark.make_app(tmp_path / "apps")
    return AgiEnv(benchmark.APP, apps_path=tmp_path / "apps")


def test_a_10000_chunk_plan_round_trips_build_save_reuse_load(big: AgiEnv) -> None:
    args = load_args(big, {"chunks": CHUNKS, "items": ITEMS})
    started = time.perf_counter()
    built = distrib.build(big, args, WORKERS)
    assert built.plan.chunk_count == CHUNKS and built.plan.item_count == CHUNKS * ITEMS
    reused = distrib.reuse_or_build(big, args, WORKERS)
    assert reused.reason == "saved plan reused"
    loaded = distrib.read(big)
    assert loaded is not None
    assert loaded.plan == built.plan and loaded.to_dict() == built.to_dict()
    assert reused.plan == built.plan
    assert time.perf_counter() - started < 10  # about a second on the project's machine; generous when shared
    changed = distrib.reuse_or_build(big, load_args(big, {"chunks": CHUNKS, "items": ITEMS + 1}), WORKERS)
    assert changed.reason.startswith("saved plan replaced (arguments changed: items 10 -> 11")


def test_a_10000_chunk_dask_run_accounts_for_every_chunk_and_reports_the_final_count(big: AgiEnv) -> None:
    asyncio.run(AGI.install(big, modes_enabled=Mode.DASK))
    progress: list[tuple[int, int]] = []
    lines: list[str] = []
    params = {"chunks": CHUNKS, "items": ITEMS}
    result = asyncio.run(
        AGI.run(
            big,
            RunRequest(mode=Mode.DASK, params=params),
            on_progress=lambda done, total: progress.append((done, total)),
            on_line=lines.append,
        )
    )
    assert not isinstance(result, dict)
    saved = distrib.read(big)
    assert saved is not None
    plan = saved.plan
    assert result.chunks == CHUNKS and len(result.outputs) == CHUNKS
    # every slot ran its chunks, in the plan's order
    assert result.dispatched == {
        f"127.0.0.1#{number}": [chunk.label for chunk in chunks] for number, chunks in enumerate(plan.slots)
    }
    # every chunk wrote its own file, holding the sum of its items
    folder = big.share_dir / "bigplan"
    expected = {
        str(folder / f"{output_stem(chunk.label)}.txt"): sum(chunk.items) for chunks in plan.slots for chunk in chunks
    }
    assert sorted(result.outputs) == sorted(expected)
    assert {path: int(Path(path).read_text()) for path in result.outputs} == expected
    # progress: from 0 to the final count, never backwards, a call per batch rather than per chunk
    assert progress[0] == (0, CHUNKS) and progress[-1] == (CHUNKS, CHUNKS)
    assert all(earlier[0] <= later[0] for earlier, later in itertools.pairwise(progress))
    assert len(progress) < CHUNKS // 10
    assert any("plan:" in line for line in lines)


def _logged_messages_holding(dask_scheduler: Any, needles: list[bytes]) -> list[str]:
    """The scheduler's recent messages to its workers (kept for debugging) whose pickle holds any needle."""
    import pickle

    found = []
    for stream in dask_scheduler.stream_comms.values():
        for payload in stream.recent_message_log:
            for message in payload if isinstance(payload, list) else [payload]:
                data = pickle.dumps(message)
                if any(needle in data for needle in needles):
                    found.append(str(message.get("op") if isinstance(message, dict) else type(message)))
    return found


def test_the_scheduler_keeps_no_copy_of_a_big_runs_chunks_after_it(big: AgiEnv) -> None:
    """A long-lived scheduler logs the last 1,000 messages sent to each worker: the tasks of a big
    run must not carry the plan's chunks in them, else every run's plan stays in its memory."""
    asyncio.run(AGI.install(big, modes_enabled=Mode.DASK))
    params = {"chunks": 2_000, "items": ITEMS}
    result = asyncio.run(AGI.run(big, RunRequest(mode=Mode.DASK, params=params)))
    assert not isinstance(result, dict) and result.chunks == 2_000
    saved = distrib.read(big)
    assert saved is not None
    labels = [chunk.label for chunks in saved.plan.slots for chunk in chunks]
    needles = [labels[len(labels) // 2].encode(), labels[-1].encode()]
    client = cluster.select_client(None, workers=WORKERS).client
    assert client.run_on_scheduler(_logged_messages_holding, needles=needles) == []


def test_event_batches_keep_order_and_send_the_rest_when_the_slot_ends() -> None:
    sent: list[dict[str, Any]] = []
    events = [ChunkEvent(slot=0, label=f"c{n}", seconds=0.0) for n in range(5)]
    with EventBatches(sent.append, seconds=3600) as report:
        for event in events[:3]:
            report(event)
        report(LogEvent(slot=0, line="printed"))
        report.flush()
        report(events[3])
        report(events[4])
    assert [len(message[BATCH_KEY]) for message in sent] == [4, 2]
    # as the topic delivers them: (time, message), the scheduler's ``worker`` key beside the batch
    received = [
        topic_event(wire)
        for message in sent
        for wire in topic_messages((0.0, {**message, "worker": "tcp://127.0.0.1:1"}))
    ]
    assert received == [*events[:3], LogEvent(slot=0, line="printed"), *events[3:]]
    # msgpack delivers a batch's list as a tuple
    delivered = (0.0, {BATCH_KEY: tuple(sent[0][BATCH_KEY]), "worker": "w"})
    assert [topic_event(wire) for wire in topic_messages(delivered)] == received[:4]
    # a single event (as DAG slots and older workers send them) is still one message
    assert topic_messages((0.0, {**events[0].wire(), "worker": "w"})) == [{**events[0].wire(), "worker": "w"}]


def test_event_batches_send_while_the_slot_runs() -> None:
    sent: list[dict[str, Any]] = []
    arrived = threading.Event()

    def send(message: dict[str, Any]) -> None:
        sent.append(message)
        arrived.set()

    with EventBatches(send, seconds=0.01) as report:
        report(ChunkEvent(slot=0, label="first", seconds=0.0))
        assert arrived.wait(5), "a queued event was not sent while the slot ran"
    assert sent == [{BATCH_KEY: [ChunkEvent(slot=0, label="first", seconds=0.0).wire()]}]


def test_the_cancel_check_asks_at_most_every_interval_and_remembers_a_cancel() -> None:
    asked: list[float] = []
    answer = [False]

    def check() -> bool:
        asked.append(time.monotonic())
        return answer[0]

    cancelled = at_most_every(0.2, check)
    assert not cancelled() and len(asked) == 1  # the first call asks
    assert not any(cancelled() for _ in range(1000)) and len(asked) == 1
    time.sleep(0.25)
    answer[0] = True
    assert cancelled() and len(asked) == 2
    answer[0] = False
    time.sleep(0.25)
    assert cancelled() and len(asked) == 2  # once cancelled, always cancelled, without asking again
