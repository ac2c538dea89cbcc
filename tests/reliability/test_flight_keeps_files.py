"""The flight example never deletes or rewrites a file it did not generate.

It generates logs only into an empty (or new) folder, or one whose manifest says the generator
wrote it; any other folder is the user's data and is used as it is. Everything goes through the
real manager's plan (what CHECK DISTRIBUTE and RUN call).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import load_args
from agi_jupyter.core.errors import AgiError

WORKERS = {"127.0.0.1": 2}


@pytest.fixture
def env(apps_path: Path) -> AgiEnv:
    return AgiEnv("flight", apps_path=apps_path)


def plan_files(env: AgiEnv, **overrides: object) -> list[str]:
    """The files the real manager plans over, sorted."""
    args = load_args(env, dict(overrides))
    plan = env.manager_class()(args, env).distribution(WORKERS)
    return sorted(item for slot in plan.slots for chunk in slot for item in chunk.items)


def data_in(env: AgiEnv) -> Path:
    return env.data_path(load_args(env).data_in)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def user_log(number: int) -> str:
    return (
        "time,flight,origin,destination,lat,lon,alt_ft,speed_kt\n"
        f"2026-01-01T00:00:00,USR{number},LFPG,EGLL,49.0,2.5,0,10.0\n"
        f"2026-01-01T00:00:10,USR{number},LFPG,EGLL,49.1,2.4,1000,200.0\n"
    )


def test_the_users_own_flight_logs_are_used_as_they_are(env: AgiEnv) -> None:
    folder = data_in(env)
    folder.mkdir(parents=True)
    for number in (0, 7, 123):
        (folder / f"flight_{number:04d}.csv").write_text(user_log(number))
    before = snapshot(folder)
    assert plan_files(env) == sorted(str(folder / name) for name in before)
    assert snapshot(folder) == before


def test_a_manifest_the_generator_did_not_write_does_not_make_the_folder_its_own(env: AgiEnv) -> None:
    folder = data_in(env)
    folder.mkdir(parents=True)
    (folder / "flight_0000.csv").write_text(user_log(0))
    (folder / "manifest.json").write_text(json.dumps({"flights": 1, "seed": 1, "owner": "me"}))
    before = snapshot(folder)
    assert plan_files(env, flights=2, seed=1) == [str(folder / "flight_0000.csv")]
    assert snapshot(folder) == before


def test_a_non_empty_folder_without_logs_is_refused_naming_it(env: AgiEnv) -> None:
    folder = data_in(env)
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes\n")
    with pytest.raises(AgiError) as caught:
        plan_files(env)
    assert str(folder) in str(caught.value) and "not empty" in str(caught.value)
    assert snapshot(folder) == {"notes.txt": b"my notes\n"}


def test_regenerating_its_own_folder_leaves_the_users_files_alone(env: AgiEnv) -> None:
    folder = data_in(env)
    generated = plan_files(env, flights=4, seed=1)
    assert len(generated) == 4
    (folder / "flight_9000.csv").write_text(user_log(9000))  # the user's, added to the generator's folder
    (folder / "notes.txt").write_text("my notes\n")
    regenerated = plan_files(env, flights=2, seed=2)
    assert regenerated == sorted(str(folder / f"flight_{number:04d}.csv") for number in range(2))
    assert (folder / "flight_9000.csv").read_text() == user_log(9000)
    assert (folder / "notes.txt").read_text() == "my notes\n"
    assert not (folder / "flight_0003.csv").exists()  # generated earlier, no longer wanted: removed


def test_a_user_file_in_the_way_of_a_generated_one_is_refused_not_overwritten(env: AgiEnv) -> None:
    folder = data_in(env)
    plan_files(env, flights=2, seed=1)
    (folder / "flight_0003.csv").write_text(user_log(3))
    with pytest.raises(AgiError) as caught:
        plan_files(env, flights=5, seed=1)
    assert str(folder / "flight_0003.csv") in str(caught.value)
    assert (folder / "flight_0003.csv").read_text() == user_log(3)


def test_an_empty_folder_is_filled_and_reused(env: AgiEnv) -> None:
    folder = data_in(env)
    folder.mkdir(parents=True)
    first = plan_files(env, flights=3, seed=5)
    assert first == sorted(str(folder / f"flight_{number:04d}.csv") for number in range(3))
    stamps = {path: Path(path).stat().st_mtime_ns for path in first}
    assert plan_files(env, flights=3, seed=5) == first
    assert {path: Path(path).stat().st_mtime_ns for path in first} == stamps  # reused, not rewritten


def test_a_manifest_listing_files_outside_its_folder_deletes_nothing(env: AgiEnv, tmp_path: Path) -> None:
    folder = data_in(env)
    folder.mkdir(parents=True)
    precious = tmp_path / "precious.csv"
    precious.write_text("mine\n")
    generated = plan_files(env, flights=2, seed=1)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] += [str(precious), "../../precious.csv"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    plan_files(env, flights=1, seed=2)  # regenerating would remove what the manifest lists
    assert precious.read_text() == "mine\n"
    assert all(Path(path).exists() for path in generated)
