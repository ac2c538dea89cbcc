"""The one file writer: atomic replace, create-only placing, and data on disk before the rename."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agi_jupyter.core import files


def record_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Log each fsync, replace and link, in order, while letting them happen."""
    events: list[str] = []
    for name in ("fsync", "replace", "link"):
        real = getattr(os, name)

        def spy(*args, _name=name, _real=real, **kwargs):
            events.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    return events


def test_write_text_atomic_syncs_the_file_before_the_rename_and_the_folder_after(monkeypatch, tmp_path: Path) -> None:
    events = record_calls(monkeypatch)
    files.write_text_atomic(tmp_path / "a.txt", "new")
    assert events == ["fsync", "replace", "fsync"]
    assert (tmp_path / "a.txt").read_text() == "new"
    assert [path.name for path in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_replace_leaves_the_old_file_and_no_temporary(monkeypatch, tmp_path: Path) -> None:
    target = tmp_path / "settings.toml"
    target.write_text("old")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        files.write_text_atomic(target, "new")
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["settings.toml"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_text("old")

    def writer(stream):
        stream.write("half")
        raise RuntimeError("the frame broke")

    with pytest.raises(RuntimeError):
        files.write_text_atomic(target, writer)
    assert target.read_text() == "old" and [path.name for path in tmp_path.iterdir()] == ["export.csv"]


def test_write_text_atomic_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path) -> None:
    target = tmp_path / "script.py"
    target.write_text("old")
    target.chmod(0o640)
    files.write_text_atomic(target, "new")
    assert target.stat().st_mode & 0o777 == 0o640 and target.read_text() == "new"


def test_write_json_atomic_serialises_before_writing(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    files.write_json_atomic(target, {"a": 1}, indent=1)
    assert json.loads(target.read_text()) == {"a": 1}
    with pytest.raises(TypeError):
        files.write_json_atomic(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1} and [path.name for path in tmp_path.iterdir()] == ["a.json"]
    files.write_json_atomic(target, {"a": object}, default=str)
    assert json.loads(target.read_text()) == {"a": str(object)}


def test_place_new_never_replaces_an_existing_file(monkeypatch, tmp_path: Path) -> None:
    target = tmp_path / "done.json"
    events = record_calls(monkeypatch)
    assert files.place_new(target, "first") is True
    assert events == ["fsync", "link", "fsync"]
    assert files.place_new(target, "second") is False
    assert target.read_text() == "first" and [path.name for path in tmp_path.iterdir()] == ["done.json"]


def test_place_new_without_hard_links_still_never_replaces(monkeypatch, tmp_path: Path) -> None:
    import errno

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "links not allowed here")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "export.csv"
    assert files.place_new(target, "first") is True
    assert files.place_new(target, "second") is False
    assert target.read_text() == "first" and [path.name for path in tmp_path.iterdir()] == ["export.csv"]


def test_temporary_files_are_hidden_and_carry_the_prefix_and_suffix_the_cleaners_look_for(
    monkeypatch, tmp_path: Path
) -> None:
    seen: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda source, target: (seen.append(Path(source).name), real_replace(source, target))[1]
    )
    files.write_text_atomic(tmp_path / "app_settings.toml", "x")
    (name,) = seen
    assert name.startswith(files.temporary_prefix(tmp_path / "app_settings.toml")) and name.endswith(".tmp")
