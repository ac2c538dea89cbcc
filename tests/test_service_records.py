"""The service's files are read and written through typed records: round trips keep the wire
format (schema names and keys), and a malformed file is an error naming the file and the field."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from pydantic import ValidationError

from agi_jupyter import AgiEnv
from agi_jupyter.core.errors import AgiError
from agi_jupyter.core.jobs import WorkerSpec
from agi_jupyter.core.service.health import snapshot, worker_row, write_snapshot
from agi_jupyter.core.service.heartbeat import read_beats, write_heartbeat
from agi_jupyter.core.service.queue import TaskQueue
from agi_jupyter.core.service.records import (
    RESULT_SCHEMA,
    HealthSnapshot,
    HeartbeatRecord,
    LoopConfig,
    LoopEntry,
    LoopSummary,
    ResultRecord,
    ServiceEntry,
    StoppedSnapshot,
    TaskOutcome,
    TaskRecord,
    UnseenSnapshot,
    read_record,
)
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
    assert raw == beat.wire() and raw["schema"] == "agi.service.heartbeat.v1" and name == "127.0.0.1_4001~abc123"
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
    assert claimed is not None and claimed.record().wire() == raw
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


def spec() -> WorkerSpec:
    return WorkerSpec(
        worker_module="flight_worker.flight_worker",
        worker_package="flight_worker",
        worker_class="FlightWorker",
        args_module="flight.app_args",
        args_class="FlightArgs",
        args={"delay": 0.5, "files": ["a", "b"]},
        share_dir="/share",
        verbose=1,
    )


def test_a_loop_config_and_summary_survive_the_trip_to_a_dask_worker() -> None:
    config = LoopConfig(
        queue_dir="/share/service/flight/queue",
        incarnation="0123456789",
        stop_event="agi-service-flight-stop-0123456789",
        wake_event="agi-service-flight-wake-0123456789",
        heartbeat_timeout=10.0,
        task_timeout=None,
    )
    assert pickle.loads(pickle.dumps(config)) == config  # what client.submit sends
    assert LoopConfig.model_validate(config.model_dump()) == config
    with pytest.raises(ValidationError, match="heartbeat_timeout"):
        LoopConfig.model_validate({**config.model_dump(), "heartbeat_timeout": 0})
    with pytest.raises(ValidationError, match="extra"):
        LoopConfig.model_validate({**config.model_dump(), "queue": "/elsewhere"})
    summary = LoopSummary(worker="tcp://127.0.0.1:4001", incarnation="0123456789", done=3, failed=1)
    assert pickle.loads(pickle.dumps(summary)) == summary and pickle.loads(pickle.dumps(spec())) == spec()


def test_the_service_record_on_the_scheduler_is_plain_values_and_round_trips() -> None:
    entry = ServiceEntry(
        workers={"127.0.0.1": 2},
        spec=spec(),
        timeout=10.0,
        slot_count=2,
        task_timeout=3600.0,
        loops=[LoopEntry(slot=0, worker="tcp://127.0.0.1:4001", incarnation="abc", key="k-0", started=1.5)],
    )
    wire = entry.wire()
    assert json.loads(json.dumps(wire)) == wire  # plain values: the scheduler needs no agi_jupyter to keep it
    assert set(wire) == {"workers", "spec", "timeout", "slot_count", "task_timeout", "loops"}
    assert set(wire["loops"][0]) == {"slot", "worker", "incarnation", "key", "started"}
    assert wire["spec"] == spec().model_dump() and ServiceEntry.model_validate(wire, strict=False) == entry
    with pytest.raises(ValidationError, match="spec.share_dir"):
        ServiceEntry.model_validate({**wire, "spec": {**wire["spec"], "share_dir": None}}, strict=False)


def test_a_claimed_task_keeps_its_claim_off_the_wire_and_its_result_carries_the_task(tmp_path: Path) -> None:
    queue = TaskQueue(tmp_path / "queue")
    task_id = queue.submit(["a"], {"delay": 1}, "label", time_limit=3.0)
    claimed = queue.claim("w~one")
    assert claimed is not None and claimed.claim == f"{task_id}@w~one.json" and "claim" not in claimed.wire()
    raw = json.loads((queue.folder("running") / claimed.claim).read_text())
    assert claimed.wire() == raw and claimed.record().wire() == raw and claimed.time_limit == 3.0
    outcome = TaskOutcome(worker="tcp://127.0.0.1:4001", started=1.0, rows=2, outputs=["out.csv"], by="me")
    assert outcome.figures() == {
        "worker": "tcp://127.0.0.1:4001",
        "started": 1.0,
        "outputs": ["out.csv"],
        "rows": 2,
        "by": "me",
    }
    done = queue.publish(claimed, outcome)
    assert done is not None
    result = json.loads(done.read_text())
    assert result == {
        "schema": RESULT_SCHEMA,
        "id": task_id,
        "status": "done",
        "task": raw,
        "error": None,
        **outcome.figures(),
    }
    assert (
        ResultRecord.model_validate(result).wire() == result
        and read_record(ResultRecord, done).task == claimed.record()
    )


def test_the_answers_of_stop_and_of_an_unseen_service_declare_their_extra_keys() -> None:
    base = snapshot(
        app="a_project",
        target="a",
        rows=[],
        queue={},
        started=False,
        restarted={},
        timeout=10.0,
        queue_dir=Path("/q"),
        cleanup={},
        client_status=None,
        pending=[],
    )
    stopped = StoppedSnapshot.model_validate({**base.wire(), "stopped": ["w"], "still_running": []})
    assert StoppedSnapshot.model_validate(stopped.wire()) == stopped and stopped.wire()["stopped"] == ["w"]
    assert set(stopped.wire()) - set(base.wire()) == {"stopped", "still_running"}
    unseen = UnseenSnapshot.model_validate({**base.wire(), "status": "unknown", "recorded_status": "idle"})
    assert UnseenSnapshot.model_validate(unseen.wire()) == unseen and unseen.recorded_status == "idle"
    with pytest.raises(ValidationError, match="recorded_status"):
        UnseenSnapshot.model_validate(base.wire())


def test_a_record_is_a_typed_model_not_a_mapping() -> None:
    beat = HeartbeatRecord(worker="w", state="running", pid=7, incarnation="i", slot=0, timestamp=2.0, extra=1)
    assert beat.pid == 7 and beat.task is None and beat.model_extra == {"extra": 1}
    assert beat.wire()["schema"] == beat.schema_name and beat.wire()["extra"] == 1
    assert not hasattr(beat, "get")
    with pytest.raises(TypeError):
        beat["pid"]  # type: ignore[index]
