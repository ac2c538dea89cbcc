"""Benchmark all modes: every allowed mode on the same plan, ranked, in ``benchmark.json``.

The file keeps one row per mode with its latest timing: a benchmark rewrites the rows of the
modes it ran, and a single RUN updates its own mode's row (marked ``single_run``), so the
Benchmark results always show the latest figure of every mode that ran.

The file is read and written through :class:`BenchmarkTable` and :class:`BenchmarkRow` only
(:func:`read_table`, :func:`record_table`); keys a newer version adds are kept. A malformed file
is a RunError naming the file and the field; recording a run over one starts a new table and
logs why. :func:`load_table` and :func:`record` give the table's JSON object, which the Run tab
shows and ``AGI.run(benchmark=True)`` returns, once it is read or written.

Each benchmark (not a single RUN) is also appended to ``benchmark_history.json``
(:class:`BenchmarkHistory`, the last :data:`HISTORY_LIMIT` benchmarks, oldest first), so the Run
tab can chart how each mode's time moves across benchmarks. A malformed history is never
overwritten: :func:`read_history` is a RunError naming the file, and the next benchmark moves the
file aside (``benchmark_history.json.malformed-<time>``, said in the run log) and starts anew.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from typing import Any, Literal

from pydantic import ConfigDict, Field, NonNegativeFloat, NonNegativeInt, model_validator

from .env import AgiEnv
from .errors import RunError
from .logs import moment, timestamp
from .modes import Capabilities, Mode, available_modes
from .records import FileRecord, read_record, write_record
from .run import RunResult
from .settings import AppSettings

logger = logging.getLogger(__name__)

BENCHMARK_SCHEMA = "agi.benchmark.v1"
REWRITE_HINT = "the next RUN or benchmark writes a new table (delete the file to start over now)"
HISTORY_SCHEMA = "agi.benchmark.history.v1"
HISTORY_LIMIT = 20
HISTORY_HINT = "it is kept as it is: the next benchmark moves it aside and starts a new history (fix or delete it now)"
TOKEN_LETTERS = (
    ("r", "rapids: dataframes use cudf on GPU workers"),
    ("d", "dask: one task per worker slot on the Dask cluster"),
    ("c", "cython: the Cython-compiled worker"),
    ("p", "pool: a process pool inside each worker"),
    ("_", "that bit is off (____ = 0: plain python, one item after another)"),
)
"""What each position of a mode token means (``rdcp`` order, see :mod:`.modes`), for legends."""


class BenchmarkRow(FileRecord):
    """The latest timing of one mode: ``seconds`` is None when it failed (``error`` says why).

    ``order`` (1 = fastest), ``delta`` and ``delta_percent`` (against the fastest) are set by
    :func:`rank`; they are None for failed rows.
    """

    model_config = ConfigDict(extra="allow")

    mode: NonNegativeInt
    token: str
    label: str
    variant: str  # "local" or "cluster"
    nodes: NonNegativeInt
    seconds: NonNegativeFloat | None
    timing: str
    status: str  # "ok" or "failed"
    error: str
    single_run: bool  # written by a single RUN rather than a benchmark
    when: str
    where: str
    order: NonNegativeInt | None = None
    delta: float | None = None
    delta_percent: float | None = None

    @model_validator(mode="after")
    def _ok_rows_have_a_time(self) -> BenchmarkRow:
        if self.status == "ok" and self.seconds is None:
            raise ValueError("a row with status 'ok' needs its 'seconds'")
        return self


class BenchmarkTable(FileRecord):
    """``benchmark.json``: one ranked row per mode, and where and when the table was last updated."""

    model_config = ConfigDict(extra="allow")

    schema_name: Literal["agi.benchmark.v1"] = Field("agi.benchmark.v1", alias="schema")
    app: str
    target: str
    updated: str
    host: str
    python: str
    rows: list[BenchmarkRow]


class BenchmarkEntry(FileRecord):
    """One benchmark in the history: when and where it ran, the modes asked, and its ranked rows."""

    model_config = ConfigDict(extra="allow")

    when: str
    host: str
    python: str
    modes: list[NonNegativeInt]
    rows: list[BenchmarkRow]

    def seconds(self) -> dict[int, float]:
        """Seconds per mode of the modes that succeeded."""
        return {row.mode: row.seconds for row in self.rows if row.status == "ok" and row.seconds is not None}


class BenchmarkHistory(FileRecord):
    """``benchmark_history.json``: the app's last benchmarks, oldest first, at most :data:`HISTORY_LIMIT`."""

    model_config = ConfigDict(extra="allow")

    schema_name: Literal["agi.benchmark.history.v1"] = Field("agi.benchmark.history.v1", alias="schema")
    app: str
    target: str
    entries: list[BenchmarkEntry]

    def series(self) -> dict[int, list[tuple[int, float]]]:
        """Per mode (ascending), its ``(entry number from 1, seconds)`` points over the history.

        A mode a benchmark did not run, or that failed in it, has no point for that entry.
        """
        points: dict[int, list[tuple[int, float]]] = {}
        for number, entry in enumerate(self.entries, start=1):
            for mode, seconds in entry.seconds().items():
                points.setdefault(mode, []).append((number, seconds))
        return dict(sorted(points.items()))


def read_history(env: AgiEnv) -> BenchmarkHistory | None:
    """The app's benchmark history, None when there is none; RunError naming the file and field if malformed."""
    return read_record(env.benchmark_history_path, BenchmarkHistory, RunError, HISTORY_HINT)


def append_history(
    env: AgiEnv,
    rows: list[BenchmarkRow],
    modes: list[Mode],
    *,
    limit: int = HISTORY_LIMIT,
    on_line: Callable[[str], None] | None = None,
) -> BenchmarkHistory:
    """Add one benchmark (its ``rows``, ranked among themselves) to the history, keep the last ``limit``.

    A malformed history is moved aside, not overwritten: the new history starts with this entry
    and ``on_line`` (and the log) say where the old file went.
    """
    path = env.benchmark_history_path
    try:
        previous = read_history(env)
    except RunError as error:
        aside = path.with_name(f"{path.name}.malformed-{timestamp()}")
        path.replace(aside)
        message = f"benchmark history: {error}; moved to {aside}, a new history starts with this benchmark"
        logger.warning("%s", message)
        if on_line:
            on_line(message)
        previous = None
    entry = BenchmarkEntry(
        when=moment(),
        host=platform.node(),
        python=platform.python_version(),
        modes=[int(mode) for mode in modes],
        rows=rank(rows),
    )
    entries = [*(previous.entries if previous else []), entry][-max(limit, 1) :]
    history = (
        previous.model_copy(update={"entries": entries})  # keys a newer version wrote are kept
        if previous
        else BenchmarkHistory(app=env.app, target=env.target, entries=entries)
    )
    write_record(path, history, indent=1)
    return history


def allowed_modes(env: AgiEnv, capabilities: Capabilities | None = None) -> list[Mode]:
    """Every mode the settings' toggles allow that this machine can run (0 always included)."""
    return available_modes(AppSettings.load(env.settings_path).cluster.mode, capabilities)


def human_seconds(seconds: float) -> str:
    """``0.042 s``, ``12.3 s``, ``2 min 05 s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:04.1f} s"


def row_of(result: RunResult, single_run: bool) -> BenchmarkRow:
    return BenchmarkRow(
        mode=result.mode,
        token=result.token,
        label=result.label,
        variant=result.variant,
        nodes=result.nodes,
        seconds=result.seconds,
        timing=human_seconds(result.seconds),
        status="ok",
        error="",
        single_run=single_run,
        when=moment(),
        where=platform.node(),
    )


def failed_row(mode: Mode, error: BaseException, variant: str) -> BenchmarkRow:
    return BenchmarkRow(
        mode=int(mode),
        token=mode.token,
        label=mode.label,
        variant=variant,
        nodes=0,
        seconds=None,
        timing="failed",
        status="failed",
        error=str(error).splitlines()[0][:500],
        single_run=False,
        when=moment(),
        where=platform.node(),
    )


def rank(rows: list[BenchmarkRow]) -> list[BenchmarkRow]:
    """Order 1 = fastest successful mode; delta and delta % against it; failed rows last."""
    timed = sorted(
        ((row.seconds, row.mode, row) for row in rows if row.status == "ok" and row.seconds is not None),
        key=lambda entry: entry[:2],
    )
    fastest = timed[0][0] if timed else 0.0
    ranked = []
    for order, (seconds, _, row) in enumerate(timed, start=1):
        delta = round(seconds - fastest, 6)
        ranked.append(
            row.model_copy(
                update={
                    "order": order,
                    "delta": delta,
                    "delta_percent": round(100 * delta / fastest, 1) if fastest else 0.0,
                }
            )
        )
    failed = sorted((row for row in rows if row.status != "ok" or row.seconds is None), key=lambda row: row.mode)
    return ranked + [row.model_copy(update={"order": None, "delta": None, "delta_percent": None}) for row in failed]


def read_table(env: AgiEnv) -> BenchmarkTable | None:
    """The app's benchmark table, None when there is none; RunError naming the file and field if malformed."""
    return read_record(env.benchmark_path, BenchmarkTable, RunError, REWRITE_HINT)


def load_table(env: AgiEnv) -> dict[str, Any] | None:
    """The app's benchmark.json as its JSON object, or None when there is none or it is malformed (logged).

    The file is read through :func:`read_table`; the object is the table's wire form, for the view.
    """
    try:
        table = read_table(env)
    except RunError as error:
        logger.warning("ignoring the benchmark table: %s", error)
        return None
    return None if table is None else table.wire()


def record(env: AgiEnv, rows: list[BenchmarkRow]) -> dict[str, Any]:
    """:func:`record_table`, returning the table as its JSON object (benchmark.json's content)."""
    return record_table(env, rows).wire()


def record_table(env: AgiEnv, rows: list[BenchmarkRow]) -> BenchmarkTable:
    """Merge ``rows`` (by mode) into benchmark.json, re-rank, write atomically, return the table.

    A malformed table is replaced (its rows are lost, the log says why) rather than failing the
    run that brought a new timing.
    """
    try:
        previous = read_table(env)
    except RunError as error:
        logger.warning("replacing the benchmark table: %s", error)
        previous = None
    by_mode = {row.mode: row for row in (previous.rows if previous else [])}
    by_mode.update({row.mode: row for row in rows})
    table = BenchmarkTable(
        app=env.app,
        target=env.target,
        updated=moment(),
        host=platform.node(),
        python=platform.python_version(),
        rows=rank(list(by_mode.values())),
    )
    write_record(env.benchmark_path, table, indent=1)
    return table


def benchmark(
    env: AgiEnv,
    modes: list[Mode],
    run_one: Callable[[Mode], RunResult],
    on_line: Callable[[str], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> BenchmarkTable:
    """Run each mode with ``run_one``; a failing mode is recorded as failed and the others still run.

    A cancel ends the benchmark: the modes that finished are recorded, the rest keep their rows.
    """
    rows = []
    for number, mode in enumerate(modes, start=1):
        if cancelled():
            break
        if on_line:
            on_line(f"benchmark {number}/{len(modes)}: mode {mode.label}")
        try:
            rows.append(row_of(run_one(mode), single_run=False))
        except Exception as error:  # any failure is recorded; the other modes still run
            logger.debug("benchmark: mode %s failed", mode.label, exc_info=True)
            if cancelled():
                break
            rows.append(failed_row(mode, error, "cluster" if mode & Mode.DASK else "local"))
            if on_line:
                on_line(f"mode {mode.label} failed: {error}")
    table = record_table(env, rows)
    if rows:
        try:
            append_history(env, rows, modes, on_line=on_line)
        except OSError as error:  # the benchmark itself is recorded; a history it cannot write is only said
            logger.warning("benchmark history not written: %s", error)
            if on_line:
                on_line(f"benchmark history not written: {error}")
    return table
