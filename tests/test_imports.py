"""``import agi_jupyter`` stays cheap: the heavy libraries load only when used."""

import subprocess
import sys

HEAVY = ("dask", "distributed", "pandas", "bqplot", "ipywidgets", "numpy")


def test_import_and_env_do_not_load_heavy_libraries() -> None:
    code = (
        "import sys, agi_jupyter\n"
        "env = agi_jupyter.AgiEnv('flight_project')\n"
        "assert agi_jupyter.Mode(5).token == '_d_p'\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_public_engine_names_load_no_heavy_or_settings_library() -> None:
    """``from agi_jupyter import AGI, AgiEnv, RunRequest`` loads pydantic and the request models only.

    The engine's work (asyncio's thread hand-off, the settings file in tomlkit, the run and
    install machinery, Dask) loads when a method runs; building a plain request does not load it.
    """
    late = (*HEAVY, "tomlkit", "asyncio", "agi_jupyter.core.settings", "agi_jupyter.core.run")
    code = (
        "import sys\n"
        "from agi_jupyter import AGI, AgiEnv, RunRequest\n"
        "RunRequest(mode=4, params={'nfile': 1})\n"
        f"print(','.join(m for m in {late!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_pandas_is_really_detected_when_loaded() -> None:
    """The check above can fail: loading the worker API does bring pandas in."""
    code = "import sys, agi_jupyter.worker, pandas; print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"


def test_unknown_public_name_is_an_attribute_error() -> None:
    import agi_jupyter

    try:
        agi_jupyter.NotAName  # noqa: B018
    except AttributeError as error:
        assert "NotAName" in str(error)
    else:
        raise AssertionError("expected AttributeError")
