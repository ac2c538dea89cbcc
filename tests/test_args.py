"""The app's argument model: validation with per-field errors, descriptions, merge-only saves."""

from __future__ import annotations

from pathlib import Path

import pytest

from agi_jupyter import AgiEnv
from agi_jupyter.core.args import describe_args, load_args, save_args, validate_args
from agi_jupyter.core.errors import ArgsError
from agi_jupyter.core.settings import AppSettings


def test_saved_args_load_into_the_model(apps_path: Path) -> None:
    args = load_args(AgiEnv("flight", apps_path=apps_path))
    assert type(args).__name__ == "FlightArgs"
    assert args.flights == 48 and args.output_format == "parquet"


def test_every_bad_field_gets_its_own_message(apps_path: Path) -> None:
    model = AgiEnv("flight", apps_path=apps_path).args_model()
    with pytest.raises(ArgsError) as caught:
        validate_args(model, {"flights": 0, "output_format": "xlsx", "seed": "abc", "fligths": 3})
    errors = caught.value.errors
    assert set(errors) == {"flights", "output_format", "seed", "fligths"}
    assert "greater than or equal to 1" in errors["flights"]
    assert "'parquet' or 'csv'" in errors["output_format"] and "xlsx" in errors["output_format"]
    assert "not an argument of FlightArgs" in errors["fligths"]
    assert "flights:" in str(caught.value)


def test_model_level_rules_are_reported(apps_path: Path) -> None:
    model = AgiEnv("mandelbrot", apps_path=apps_path).args_model()
    with pytest.raises(ArgsError, match="x_min"):
        validate_args(model, {"x_min": 1.0, "x_max": 0.0})


def test_describe_gives_what_a_form_needs(apps_path: Path) -> None:
    fields = {f.name: f for f in describe_args(AgiEnv("flight", apps_path=apps_path).args_model())}
    assert list(fields)[:3] == ["data_in", "data_out", "flights"]
    assert fields["flights"].kind == "int" and fields["flights"].default == 48
    assert (fields["flights"].minimum, fields["flights"].maximum) == (1, 5000)
    assert fields["output_format"].kind == "choice" and fields["output_format"].choices == ("parquet", "csv")
    assert fields["min_speed_kt"].kind == "float"
    assert "taxiing" in fields["min_speed_kt"].help
    stations = {f.name: f for f in describe_args(AgiEnv("sensors", apps_path=apps_path).args_model())}["stations"]
    assert stations.kind == "list" and stations.default == ["north", "south", "east", "west"]


def test_save_writes_only_changed_keys_and_keeps_comments(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    before = env.settings_path.read_text()
    save_args(env, {"flights": 12, "seed": 2026})  # seed unchanged
    after = env.settings_path.read_text()
    diff = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert diff == [
        (
            "flights = 48                   # how many flight logs the generator writes",
            "flights = 12                   # how many flight logs the generator writes",
        )
    ]


def test_invalid_args_are_not_saved(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    before = env.settings_path.read_text()
    with pytest.raises(ArgsError):
        save_args(env, {"flights": -5, "seed": 1})
    assert env.settings_path.read_text() == before
    assert AppSettings.load(env.settings_path).args["flights"] == 48


def test_overrides_are_validated_too(apps_path: Path) -> None:
    env = AgiEnv("sensors", apps_path=apps_path)
    assert load_args(env, {"days": 3}).days == 3
    with pytest.raises(ArgsError) as caught:
        load_args(env, {"stations": ["a", "a"]})
    assert "unique" in caught.value.errors["stations"]


def test_a_bad_override_is_blamed_on_the_params_not_the_file(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    with pytest.raises(ArgsError) as caught:
        load_args(env, {"flights": 0})
    message = str(caught.value)
    assert message.startswith("params (e.g. --arg): invalid arguments for FlightArgs: flights:"), message
    assert str(env.settings_path) not in message


def test_a_bad_saved_value_is_blamed_on_the_file_even_with_good_overrides(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    text = env.settings_path.read_text()
    env.settings_path.write_text(text.replace("flights = 48 ", "flights = -1 ", 1))
    with pytest.raises(ArgsError) as caught:
        load_args(env, {"seed": 3})
    message = str(caught.value)
    assert message.startswith(f"{env.settings_path} [args]: invalid arguments for FlightArgs: flights:"), message
    assert "params" not in message.split(":", 1)[0]
