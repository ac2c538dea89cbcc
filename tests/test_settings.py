"""app_settings.toml: validation, format-preserving merge-only saves, locking, bad files."""

from __future__ import annotations

import difflib
import multiprocessing
from pathlib import Path

import pytest

from agi_jupyter.core.errors import SettingsError
from agi_jupyter.core.modes import Mode
from agi_jupyter.core.settings import DELETE, AppSettings, save_settings, split_address

COMMENTED = """\
# An app's settings, with comments that must survive.

[args]
data_in = "flight/dataset"     # where the logs are
flights = 48                   # how many

[cluster]
pool = false           # bit 1
cython = false         # bit 2
cluster_enabled = false  # dask bit 4
rapids = false         # bit 8
scheduler = "127.0.0.1:8786"
workers = {"127.0.0.1" = 2}   # host -> worker slots
verbose = 1

[cluster.service_health]
allow_idle = false
max_unhealthy = 0
max_restart_rate = 0.25
"""


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "app_settings.toml"
    path.write_text(COMMENTED)
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


def test_load_validates_and_exposes_values(settings_file: Path) -> None:
    settings = AppSettings.load(settings_file)
    assert settings.args == {"data_in": "flight/dataset", "flights": 48}
    assert settings.cluster.workers == {"127.0.0.1": 2}
    assert settings.cluster.service_health.max_restart_rate == 0.25
    assert settings.cluster.mode == Mode(0)


def test_save_keeps_everything_but_the_changed_value(settings_file: Path) -> None:
    save_settings(settings_file, {"cluster.pool": True})
    after = settings_file.read_text()
    assert changed_lines(COMMENTED, after) == [
        "- pool = false           # bit 1",
        "+ pool = true           # bit 1",
    ]
    assert AppSettings.load(settings_file).cluster.mode == Mode.POOL


def test_inline_workers_table_keeps_its_style_and_comment(settings_file: Path) -> None:
    save_settings(settings_file, {"cluster.workers": {"127.0.0.1": 3, "10.0.0.2": 1}})
    changes = changed_lines(COMMENTED, settings_file.read_text())
    assert len(changes) == 2 and changes[0].startswith("- workers")
    assert changes[1].startswith('+ workers = {"127.0.0.1" = 3, "10.0.0.2" = 1}')
    assert changes[1].endswith("# host -> worker slots")


def test_keys_with_dots_and_deletion(settings_file: Path) -> None:
    save_settings(settings_file, {("cluster", "workers", "10.0.0.5"): 4, "args.flights": DELETE})
    settings = AppSettings.load(settings_file)
    assert settings.cluster.workers == {"127.0.0.1": 2, "10.0.0.5": 4}
    assert "flights" not in settings.args


def test_new_keys_and_tables_are_added(settings_file: Path) -> None:
    save_settings(settings_file, {"args.seed": 3, "extra.note": "hello"})
    settings = AppSettings.load(settings_file)
    assert settings.args["seed"] == 3
    assert settings.document["extra"]["note"] == "hello"
    assert settings_file.read_text().startswith(COMMENTED.split("[cluster]")[0].rstrip("\n"))


def _writer(path: str, prefix: str, count: int) -> None:
    for number in range(count):
        save_settings(path, {f"args.{prefix}{number}": number})


def test_concurrent_writers_lose_no_update(settings_file: Path) -> None:
    count = 25
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(settings_file), prefix, count)) for prefix in "ab"]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    args = AppSettings.load(settings_file).args
    for prefix in "ab":
        assert [args.get(f"{prefix}{n}") for n in range(count)] == list(range(count))
    assert "# bit 1" in settings_file.read_text()


def test_a_stale_object_saves_only_its_own_keys(settings_file: Path) -> None:
    widget = AppSettings.load(settings_file)
    save_settings(settings_file, {"cluster.verbose": 2})  # another writer, after the widget loaded
    widget.save({"cluster.pool": True})
    cluster = AppSettings.load(settings_file).cluster
    assert cluster.verbose == 2 and cluster.pool is True


def test_malformed_toml_names_file_and_line_and_is_not_touched(settings_file: Path) -> None:
    broken = COMMENTED.replace("flights = 48", "flights = = 48")
    settings_file.write_text(broken)
    with pytest.raises(SettingsError) as caught:
        AppSettings.load(settings_file)
    assert caught.value.line == 5
    assert str(settings_file) in str(caught.value) and "line 5" in str(caught.value)
    with pytest.raises(SettingsError):
        save_settings(settings_file, {"cluster.pool": True})
    assert settings_file.read_text() == broken
    assert list(settings_file.parent.glob(".app_settings.toml.tmp-*")) == []


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("cluster.workers", {"10.0.0.x": 2}, "not a valid IP"),
        ("cluster.workers", {"bad host!": 2}, "not a valid IP address or host name"),
        ("cluster.workers", {"127.0.0.1": 0}, "positive"),
        ("cluster.workers", {}, "at least one worker"),
        ("cluster.scheduler", "127.0.0.1:99999", "port"),
        ("cluster.scheduler", "not a host:80", "not a valid"),
        ("cluster.pool", "yes", "boolean"),
        ("cluster.verbose", 9, "less than or equal to 3"),
        ("cluster.service_health.max_restart_rate", 1.5, "less than or equal to 1"),
        ("cluster.service_health.max_unhealthy", -1, "greater than or equal to 0"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_saved(
    settings_file: Path, key: str, value: object, fragment: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        save_settings(settings_file, {key: value})
    message = str(caught.value)
    assert fragment in message and str(settings_file) in message
    assert key.split(".")[1] in message
    assert settings_file.read_text() == COMMENTED


def test_validation_error_in_file_names_key_and_line(settings_file: Path) -> None:
    settings_file.write_text(COMMENTED.replace('"127.0.0.1" = 2', '"127.0.0.1" = -2'))
    with pytest.raises(SettingsError) as caught:
        AppSettings.load(settings_file)
    assert caught.value.line == 13 and "workers" in str(caught.value)


@pytest.mark.parametrize(
    "address, expected",
    [
        ("127.0.0.1:8786", ("127.0.0.1", 8786)),
        ("tcp://10.1.2.3:9000", ("10.1.2.3", 9000)),
        ("scheduler.example", ("scheduler.example", None)),
        ("[::1]:8786", ("::1", 8786)),
    ],
)
def test_scheduler_addresses(address: str, expected: tuple) -> None:
    assert split_address(address) == expected


def test_integer_restart_rate_is_accepted(settings_file: Path) -> None:
    save_settings(settings_file, {"cluster.service_health.max_restart_rate": 1})
    assert AppSettings.load(settings_file).cluster.service_health.max_restart_rate == 1.0


def test_missing_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        AppSettings.load(tmp_path / "nope.toml")


@pytest.mark.parametrize("workers", [{}, {"10.0.0.x": 2}, {"127.0.0.1": 0}])
def test_the_settings_file_and_a_request_reject_the_same_workers_with_the_same_words(workers) -> None:
    from pydantic import ValidationError

    from agi_jupyter.core.requests import RunRequest
    from agi_jupyter.core.settings import ClusterSettings, check_workers

    with pytest.raises(ValueError) as direct:
        check_workers(workers)
    for model in (ClusterSettings, RunRequest):
        with pytest.raises(ValidationError) as error:
            model(workers=workers)
        assert str(direct.value) in str(error.value)
