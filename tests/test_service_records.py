"""The service's files are read and written through typed records: round trips keep the wire
format (schema names and keys), and a malformed file is an error naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.errors import AgiError
from agi_jupyter.core.service.health import snapshot, worker_row, write_snapshot
from agi_jupyter.core.service.heartbeat import read_beats, write_heartbeat
from agi_jupyter.core.service.queue import TaskQueue
from agi_jupyter.core.service.records import HealthSnapshot, HeartbeatRecord, TaskRecord, read_record
from agi_jupyter.core.service.serve import read_health


def test_a_heartbeat_round_trips_with_its_wire_keys(tmp_path: Path) -> None:
    write_heartbeat(
        tmp_path,
        "tcp://127.0.0.1:4001",
        "processing",
        "abc123",
        1,
        timeout=2.0,
        task="t",
        task_started=5.0,
        time_limit=9.0,
    )
    [(name, beat)] = read_beats(tmp_path).items()
    raw = json.loads((tmp_path / f"{name}.json").read_text())
    assert raw == beat and raw["schema"] == "agi.service.heartbeat.v1" and name == "127.0.0.1_4001~abc123"
    assert HeartbeatRecord.model_validate(raw).wire() == raw


def test_a_malformed_heartbeat_is_skipped_not_trusted(tmp_path: Path) -> None:
    write_heartbeat(tmp_path, "tcp://127.0.0.1:4001", "running", "good", 0)
    (tmp_path / "127.0.0.1_4002~bad.json").write_text(json.dumps({"worker": "w", "timestamp": "soon"}))
    assert list(read_beats(tmp_path)) == ["127.0.0.1_4001~good"]


def test_a_task_round_trips_and_its_model_names_a_bad_field(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "queue")
    task_id = queue.submit(["a", "b"], {"delay": 1}, "label", time_limit=3.0)
    raw = json.loads((queue.folder("pending") / f"{task_id}.json").read_text())
    assert TaskRecord.model_validate(raw).wire() == raw and raw["schema"] == "agi.service.task.v1"
    claimed = queue.claim("w~one")
    assert {key: claimed[key] for key in raw} == raw
    (tmp_path / "bad.json").write_text(json.dumps({**raw, "params": ["x"]}))
    with pytest.raises(ValueError, match=r"bad\.json.*field 'params': Input should be a valid dictionary"):
        read_record(TaskRecord, tmp_path / "bad.json")


def test_a_health_snapshot_round_trips_and_a_bad_row_is_named(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    rows = [worker_row("tcp://127.0.0.1:4001", True, "", "running", None, 0.0)]
    payload = snapshot(
        app=env.app,
        target=env.target,
        rows=rows,
        queue={"pending": 1},
        started=True,
        restarted={},
        timeout=10.0,
        queue_dir=env.service_dir / "queue",
        cleanup={},
        client_status="running",
        pending=[],
    )
    path = env.service_dir / "health.json"
    written = write_snapshot(payload, path)
    raw = json.loads(path.read_text())
    assert raw == written and HealthSnapshot.model_validate(raw).wire() == raw
    assert raw["schema"] == "agi.service.health.v1" and raw["queue"]["pending"] == 1
    raw["worker_health"][0]["healthy"] = "yes"
    path.write_text(json.dumps(raw))
    with pytest.raises(
        AgiError, match=r"health\.json: not a readable health snapshot \(field 'worker_health\.0\.healthy'"
    ):
        read_health(env)
