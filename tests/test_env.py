"""AgiEnv: app discovery, the names the contract derives, contract errors, and every root path."""

from __future__ import annotations

from pathlib import Path

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.env import EXAMPLES_PATH, camel_case, list_apps
from agi_jupyter.core.errors import AppContractError


def test_bundled_examples_are_the_default_apps_path() -> None:
    assert list_apps() == ["flight_project", "mandelbrot_project", "sensors_project"]
    env = AgiEnv("flight_project")
    assert env.apps_path == EXAMPLES_PATH
    assert (env.target, env.target_class, env.worker_module, env.worker_class) == (
        "flight",
        "Flight",
        "flight_worker",
        "FlightWorker",
    )


def test_app_by_target_name_or_path(apps_path: Path) -> None:
    assert AgiEnv("sensors", apps_path=apps_path).app == "sensors_project"
    assert AgiEnv(apps_path / "mandelbrot_project").target == "mandelbrot"
    assert AgiEnv("flight", apps_path=str(apps_path)).app_path == apps_path / "flight_project"


def test_apps_path_from_environment(apps_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGI_APPS_PATH", str(apps_path))
    assert AgiEnv("flight").apps_path == apps_path


@pytest.mark.parametrize(
    "name, expected", [("my_app", "MyApp"), ("flight", "Flight"), ("a_b_c", "ABC"), ("sensorsV2", "SensorsV2")]
)
def test_camel_case(name: str, expected: str) -> None:
    assert camel_case(name) == expected


def test_unknown_app_lists_the_known_ones(apps_path: Path) -> None:
    with pytest.raises(AppContractError) as caught:
        AgiEnv("nope", apps_path=apps_path)
    message = str(caught.value)
    assert "nope_project" in message and "flight_project" in message and str(apps_path) in message


@pytest.mark.parametrize(
    "missing, named",
    [
        ("src/app_settings.toml", "settings file"),
        ("src/flight/flight.py", "manager module"),
        ("src/flight/app_args.py", "argument model"),
        ("src/flight_worker/flight_worker.py", "worker module"),
        ("pyproject.toml", "pyproject.toml"),
    ],
)
def test_missing_piece_is_named(apps_path: Path, missing: str, named: str) -> None:
    (apps_path / "flight_project" / missing).unlink()
    with pytest.raises(AppContractError) as caught:
        AgiEnv("flight", apps_path=apps_path)
    assert named in str(caught.value) and missing.split("/")[-1] in str(caught.value)


def test_wrong_class_name_is_named(apps_path: Path) -> None:
    manager = apps_path / "flight_project" / "src" / "flight" / "flight.py"
    manager.write_text(manager.read_text().replace("class Flight(", "class Flights("))
    env = AgiEnv("flight", apps_path=apps_path)
    with pytest.raises(AppContractError) as caught:
        env.manager_class()
    assert "must define class Flight" in str(caught.value) and "Flights" in str(caught.value)


def test_loads_classes_from_the_app(apps_path: Path) -> None:
    env = AgiEnv("mandelbrot", apps_path=apps_path)
    assert env.manager_class().__name__ == "Mandelbrot"
    assert env.worker_class_object().__name__ == "MandelbrotWorker"
    assert env.args_model().__name__ == "MandelbrotArgs"


def test_roots_come_from_the_environment(isolated_roots: Path) -> None:
    env = AgiEnv("flight")
    assert env.share_dir == isolated_roots / "share"
    assert env.export_path == isolated_roots / "export" / "flight" / "export.csv"
    assert env.log_dir == isolated_roots / "log" / "execute" / "flight"
    assert env.worker_env_dir == isolated_roots / "wenv" / "flight_worker"
    assert env.service_dir == isolated_roots / "share" / "service" / "flight"
    assert env.data_path("flight/dataset") == isolated_roots / "share" / "flight" / "dataset"
    assert env.data_path("/abs/data") == Path("/abs/data")


def test_env_file_gives_defaults_and_the_process_environment_wins(
    tmp_path: Path, isolated_roots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = isolated_roots / "agilab.env"
    env_file.parent.mkdir(parents=True, exist_ok=True)
    env_file.write_text(f'# defaults\nAGI_SHARE_DIR="{tmp_path}/from_file"\nexport AGI_LOG_DIR={tmp_path}/logs\n')
    monkeypatch.delenv("AGI_SHARE_DIR")
    monkeypatch.delenv("AGI_LOG_DIR")
    env = AgiEnv("flight")
    assert env.share_dir == tmp_path / "from_file"
    assert env.log_dir == tmp_path / "logs" / "execute" / "flight"
    monkeypatch.setenv("AGI_SHARE_DIR", str(tmp_path / "from_process"))
    assert AgiEnv("flight").share_dir == tmp_path / "from_process"


def test_defaults_live_under_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("AGI_SHARE_DIR", "AGILAB_EXPORT_ABS", "AGI_LOG_DIR", "AGI_WORKER_ENV_DIR", "AGI_ENV_FILE"):
        monkeypatch.delenv(name)
    env = AgiEnv("flight")
    for path in (env.share_dir, env.export_dir, env.log_dir, env.worker_env_dir):
        assert path.is_relative_to(tmp_path)
    assert env.log_dir == tmp_path / "log" / "execute" / "flight"


def test_an_edited_manager_is_imported_afresh(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    assert not hasattr(env.manager_class(), "EDITED")
    manager = env.manager_path
    manager.write_text(manager.read_text() + "\nFlight.EDITED = True\n")
    assert AgiEnv("flight", apps_path=apps_path).manager_class().EDITED is True


def test_a_bundled_example_missing_from_the_apps_path_says_how_to_copy_it(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    with pytest.raises(AppContractError, match=r"bundled example.*copy_examples\(") as raised:
        AgiEnv("flight", apps_path=apps)
    assert str(apps) in str(raised.value)
