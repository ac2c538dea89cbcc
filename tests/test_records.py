"""Typed records keep their wire format, and a malformed file is an error naming the file and field.

Each round trip starts from the shape the code wrote before the records were typed (copied here
as literal dicts), reads it through the record, writes it again and compares: same keys, same
values, and for files the same bytes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from agi_jupyter import AGI, AgiEnv, Mode
from agi_jupyter.core import benchmark, distrib
from agi_jupyter.core.errors import InstallError, PlanError, RunError
from agi_jupyter.core.events import ErrorEvent, Event
from agi_jupyter.core.install import InstallRecord, check_install
from agi_jupyter.core.jobs import DaskSlotSpec, LocalJob, dask_spec_of, job_of, spec_of
from agi_jupyter.core.run import build_worker_spec
from agi_jupyter.core.runner import run_job

ARGS = {"data_in": "flight/dataset", "nfile": 3, "ratio": 0.5, "flag": True}


def old_worker_spec(env: AgiEnv, args: dict[str, Any]) -> dict[str, Any]:
    """The 13-key spec as the engine built it (a plain dict) before the spec was typed."""
    return {
        "worker_module": f"{env.worker_module}.{env.worker_module}",
        "worker_package": env.worker_module,
        "worker_class": env.worker_class,
        "args_module": f"{env.target}.app_args",
        "args_class": env.args_class,
        "args": args,
        "share_dir": str(env.share_dir),
        "verbose": env.verbose,
        "cython": True,
        "paths": ["/wenv/cython", "/apps/src"],
        "pool": "thread",
        "pool_width": 2,
        "dag": False,
    }


def old_install_record(env: AgiEnv) -> dict[str, Any]:
    """``install.json`` as the dataclass wrote it (``asdict`` order, schema last)."""
    return {
        "app": env.app,
        "modes_enabled": 7,
        "isolated": False,
        "fingerprint": "0123456789abcdef",
        "python": str(env.worker_python),
        "when": "2026-12-01 15:00:00",
        "seconds": 1.25,
        "log": "/log/install_1.log",
        "compiled": "/wenv/cython/x.so",
        "dask_workers": ["tcp://127.0.0.1:1"],
        "schema": "agi.install.v1",
    }


def old_distribution() -> dict[str, Any]:
    """``distribution.json`` as ``Distribution.to_dict`` wrote it."""
    return {
        "schema": "agi.distribution.v1",
        "built": "2026-12-01 15:00:00",
        "edited": True,
        "args": ARGS,
        "workers": {"127.0.0.1": 2},
        "fingerprint": {"planner": "aaaa", "inputs": "bbbb"},
        "plan": {
            "schema": "agi.plan.v1",
            "partition_key": "file",
            "weights_key": "size",
            "weights_unit": "KB",
            "dag": None,
            "slots": [
                [{"label": "a", "weight": 2.5, "items": ["a.csv", {"file": "b.csv", "rows": 3}]}],
                [{"label": "c", "weight": 1.0, "items": [1, 2.5, None, [1, 2]]}],
            ],
        },
    }


def old_benchmark_table() -> dict[str, Any]:
    """``benchmark.json`` as ``benchmark.record`` wrote it: ranked rows, a failed one last."""
    tail = {"error": "", "single_run": False, "when": "2026-12-01 15:00:00", "where": "host"}
    return {
        "schema": "agi.benchmark.v1",
        "app": "flight_project",
        "target": "flight",
        "updated": "2026-12-01",
        "host": "host",
        "python": "3.11.7",
        "rows": [
            {
                "mode": 1,
                "token": "___p",
                "label": "pool",
                "variant": "local",
                "nodes": 1,
                "seconds": 0.5,
                "timing": "500 ms",
                "status": "ok",
                **tail,
                "order": 1,
                "delta": 0.0,
                "delta_percent": 0.0,
            },
            {
                "mode": 0,
                "token": "____",
                "label": "plain",
                "variant": "local",
                "nodes": 1,
                "seconds": 1.0,
                "timing": "1.00 s",
                "status": "ok",
                **tail,
                "order": 2,
                "delta": 0.5,
                "delta_percent": 100.0,
            },
            {
                "mode": 4,
                "token": "_d__",
                "label": "dask",
                "variant": "cluster",
                "nodes": 0,
                "seconds": None,
                "timing": "failed",
                "status": "failed",
                "error": "no client",
                "single_run": False,
                "when": "2026-12-01 15:00:00",
                "where": "host",
                "order": None,
                "delta": None,
                "delta_percent": None,
            },
        ],
    }


# ----- the worker job spec and its slot parts -------------------------------------------------
def test_worker_spec_keeps_the_thirteen_keys_of_the_old_dict() -> None:
    env = AgiEnv("flight_project")
    old = old_worker_spec(env, ARGS)
    built = build_worker_spec(env, ARGS, cython=True, paths=["/wenv/cython", "/apps/src"], pool="thread", pool_width=2)
    assert built.model_dump() == old and list(built.model_dump()) == list(old)
    assert spec_of(json.loads(json.dumps(old))) == built


def test_dask_slot_spec_adds_only_topic_and_cancel_event() -> None:
    old = {**old_worker_spec(AgiEnv("flight_project"), ARGS), "topic": "agi-run-1", "cancel_event": "agi-cancel-1"}
    spec = dask_spec_of(old)
    assert isinstance(spec, DaskSlotSpec) and spec.model_dump() == old and list(spec.model_dump()) == list(old)
    with pytest.raises(RunError, match="'topic'"):
        dask_spec_of(spec_of(old_worker_spec(AgiEnv("flight_project"), ARGS)))


def test_local_job_round_trips_through_its_json_line() -> None:
    """The job as run.py and local.py sent it (spec, slot parts, order pairs, end mark)."""
    old = {
        "spec": old_worker_spec(AgiEnv("flight_project"), ARGS),
        "slot_count": 3,
        "slots": [
            {"slot": 0, "chunks": [{"label": "a", "items": ["a.csv"]}, {"label": "b", "items": []}]},
            {"slot": 2, "chunks": [{"label": "c", "items": [{"step": "c", "deps": ["a"]}]}]},
        ],
        "order": [[0, 0], [2, 0], [0, 1]],
        "end_mark": "agi-end-of-output-0f",
    }
    line = json.dumps(old)
    job = job_of(line)
    assert isinstance(job, LocalJob) and job.slots[1].chunks[0].label == "c" and job.order[1] == (2, 0)
    assert job.wire() == old
    assert job_of(old) == job


def test_a_malformed_job_names_its_field() -> None:
    good = {
        "spec": old_worker_spec(AgiEnv("flight_project"), ARGS),
        "slot_count": 1,
        "slots": [{"slot": 0, "chunks": [{"label": "a", "items": []}]}],
        "order": [[0, 0]],
    }
    wrong_pool = {**good, "spec": {**good["spec"], "pool": "fork"}}
    with pytest.raises(RunError, match="'spec.pool'"):
        job_of(json.dumps(wrong_pool))
    with pytest.raises(RunError, match=r"order\[0\] is slot 0, chunk 3: the job has no such chunk"):
        job_of({**good, "order": [[0, 3]]})
    with pytest.raises(RunError, match="'slots.0.chunks.0.label'"):
        job_of({**good, "slots": [{"slot": 0, "chunks": [{"items": []}]}]})
    events: list[Event] = []
    assert run_job(json.dumps(wrong_pool), events.append) == 1  # the worker process reports it, then goes on
    assert isinstance(events[0], ErrorEvent) and "'spec.pool'" in events[0].message
    assert events[0].wire()["event"] == "error"  # what the engine reads on the event pipe


def test_a_spec_missing_a_key_names_it() -> None:
    spec = old_worker_spec(AgiEnv("flight_project"), ARGS)
    del spec["share_dir"]
    with pytest.raises(RunError, match="'share_dir': Field required"):
        spec_of(spec)
    with pytest.raises(RunError, match="'verbose'"):
        spec_of({**old_worker_spec(AgiEnv("flight_project"), ARGS), "verbose": -1})


def test_a_service_task_overrides_arguments_without_touching_the_spec() -> None:
    spec = spec_of(old_worker_spec(AgiEnv("flight_project"), ARGS))
    changed = spec.with_args({"nfile": 9})
    assert changed.args == {**ARGS, "nfile": 9} and spec.args == ARGS
    assert spec.with_args({}) is spec
    with pytest.raises(Exception, match="frozen"):
        spec.verbose = 3  # type: ignore[misc]


# ----- install.json --------------------------------------------------------------------------
def test_install_record_round_trips_byte_for_byte() -> None:
    env = AgiEnv("flight_project")
    old_text = json.dumps(old_install_record(env), indent=2)
    env.install_record_path.parent.mkdir(parents=True)
    env.install_record_path.write_text(old_text)
    record = InstallRecord.read(env)
    assert record is not None and record.modes_enabled == 7 and record.dask_workers == ["tcp://127.0.0.1:1"]
    record.save(env)
    assert env.install_record_path.read_text() == old_text


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('{"app": "flight_project"', "Invalid JSON"),
        ("[1, 2]", "InstallRecord"),
        ("seconds", "'seconds'"),
        ("schema", "'schema'"),
        ("extra", "'surprise'"),
    ],
)
def test_a_corrupted_install_record_is_an_install_error_naming_file_and_field(content: str, field: str) -> None:
    env = AgiEnv("flight_project")
    data = old_install_record(env)
    if content == "seconds":
        content = json.dumps({**data, "seconds": "fast"})
    elif content == "schema":
        content = json.dumps({**data, "schema": "agi.install.v0"})
    elif content == "extra":
        content = json.dumps({**data, "surprise": 1})
    env.install_record_path.parent.mkdir(parents=True)
    env.install_record_path.write_text(content)
    with pytest.raises(InstallError) as caught:
        check_install(env, Mode(0))
    message = str(caught.value)
    assert str(env.install_record_path) in message and field in message and "run INSTALL again" in message
    assert InstallRecord.load(env) is None  # callers that only show the record see none


# ----- distribution.json ---------------------------------------------------------------------
def test_distribution_round_trips_byte_for_byte() -> None:
    env = AgiEnv("flight_project")
    old_text = json.dumps(old_distribution(), indent=1)
    env.plan_path.parent.mkdir(parents=True)
    env.plan_path.write_text(old_text)
    saved = distrib.read(env)
    assert saved is not None and saved.edited and saved.plan.slots[1][0].items == [1, 2.5, None, [1, 2]]
    assert saved.plan.weights_unit == "KB" and saved.planner == "aaaa" and saved.to_dict() == old_distribution()
    distrib.save(env, saved)
    assert env.plan_path.read_text() == old_text


def test_a_corrupted_distribution_is_a_plan_error_naming_file_and_field() -> None:
    env = AgiEnv("flight_project")
    data = old_distribution()
    data["plan"]["slots"][0][0]["weight"] = "heavy"
    del data["fingerprint"]["inputs"]
    env.plan_path.parent.mkdir(parents=True)
    env.plan_path.write_text(json.dumps(data))
    with pytest.raises(PlanError) as caught:
        distrib.read(env)
    message = str(caught.value)
    assert str(env.plan_path) in message
    assert "'plan.slots.0.0.weight'" in message and "'fingerprint.inputs'" in message
    assert distrib.load(env) is None
    with pytest.raises(PlanError, match="'plan.slots.0.0.weight'"):
        distrib.reassign(env, [(0, 0, 1)])


def test_a_run_replaces_a_corrupted_distribution_and_says_why(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    env.plan_path.parent.mkdir(parents=True)
    env.plan_path.write_text(json.dumps({**old_distribution(), "workers": {"127.0.0.1": "two"}}))
    distribution = asyncio.run(AGI.get_distrib(env))
    assert distribution.reason.startswith("saved plan unreadable, built a new one")
    assert "'workers.127.0.0.1'" in distribution.reason and str(env.plan_path) in distribution.reason
    assert distrib.read(env) is not None


# ----- benchmark.json ------------------------------------------------------------------------
def test_benchmark_table_round_trips_byte_for_byte_keeping_unknown_keys() -> None:
    env = AgiEnv("flight_project")
    old = old_benchmark_table()
    old["rows"][0]["gpu"] = "none"  # a key a newer version adds survives a rewrite
    old_text = json.dumps(old, indent=1)
    env.benchmark_path.parent.mkdir(parents=True)
    env.benchmark_path.write_text(old_text)
    table = benchmark.read_table(env)
    assert table is not None and [row.mode for row in table.rows] == [1, 0, 4]
    assert benchmark.load_table(env) == old
    from agi_jupyter.core.records import write_record

    write_record(env.benchmark_path, table, indent=1)
    assert env.benchmark_path.read_text() == old_text


def test_recording_a_row_reranks_and_keeps_the_other_modes() -> None:
    env = AgiEnv("flight_project")
    env.benchmark_path.parent.mkdir(parents=True)
    env.benchmark_path.write_text(json.dumps(old_benchmark_table()))
    faster = benchmark.BenchmarkRow.model_validate({**old_benchmark_table()["rows"][1], "seconds": 0.25})
    table = benchmark.record(env, [faster])
    assert [(row["mode"], row["order"]) for row in table["rows"]] == [(0, 1), (1, 2), (4, None)]
    assert table["rows"][1]["delta"] == 0.25 and table["rows"][1]["delta_percent"] == 100.0
    assert json.loads(env.benchmark_path.read_text()) == table


def test_a_corrupted_benchmark_table_is_a_run_error_naming_file_and_field(caplog: pytest.LogCaptureFixture) -> None:
    env = AgiEnv("flight_project")
    data = old_benchmark_table()
    data["rows"][1]["seconds"] = None  # an "ok" row without its time
    data["rows"][2]["mode"] = "dask"
    env.benchmark_path.parent.mkdir(parents=True)
    env.benchmark_path.write_text(json.dumps(data))
    with pytest.raises(RunError) as caught:
        benchmark.read_table(env)
    message = str(caught.value)
    assert str(env.benchmark_path) in message and "'rows.2.mode'" in message and "'rows.1'" in message
    with caplog.at_level(logging.WARNING, logger="agi_jupyter.core.benchmark"):
        assert benchmark.load_table(env) is None
        row = benchmark.BenchmarkRow.model_validate(old_benchmark_table()["rows"][0])
        table = benchmark.record(env, [row])  # the next run replaces the broken table
    assert [row["mode"] for row in table["rows"]] == [1]
    assert "'rows.2.mode'" in caplog.text


class _ReportingClient:
    """A Dask client's ``run`` as check_workers sees it: one answer per worker address."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers

    def run(self, function: Any, *args: Any) -> dict[str, Any]:
        return self.answers


def test_worker_reports_are_models_and_an_older_workers_dict_reads_the_same() -> None:
    from agi_jupyter.core.shipping import WorkerReport, _worker_report, check_workers

    report = _worker_report(["pydantic"], ["json", "no_such_module_here"])
    assert isinstance(report, WorkerReport) and report.missing == []
    assert list(report.import_errors) == ["no_such_module_here"]
    ready = WorkerReport(missing=[], import_errors={})
    lines: list[str] = []
    answers = {"tcp://b:2": ready, "tcp://a:1": ready.model_dump()}
    assert check_workers(_ReportingClient(answers), ["x"], lines.append) == ["tcp://a:1", "tcp://b:2"]
    assert lines == ['checked 2 Dask worker(s): dependencies satisfied (["x"])']
    answers = {
        "tcp://a:1": {"missing": ["x>=1 (not installed)"], "import_errors": {"app": "ImportError('app')"}},
        "tcp://b:2": {"missing": "x"},
    }
    with pytest.raises(InstallError) as caught:
        check_workers(_ReportingClient(answers), ["x>=1"], lines.append)
    assert str(caught.value).splitlines() == [
        "Dask workers are not ready:",
        "  tcp://a:1: missing x>=1 (not installed)",
        "  tcp://a:1: cannot import app: ImportError('app')",
        "  tcp://b:2: unreadable readiness report (field 'missing': Input should be a valid list; "
        "field 'import_errors': Field required)",
    ]
