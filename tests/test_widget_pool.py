"""The Settings tab's pool section: pool_width, item_timeout and pool_executor shown, checked, saved alone."""

from __future__ import annotations

from pathlib import Path

from agi_jupyter import AgiEnv
from agi_jupyter.core.settings import AppSettings, save_settings
from agi_jupyter.widgets.common import Context
from agi_jupyter.widgets.settings_tab import SettingsTab


def settings_tab(apps_path: Path) -> SettingsTab:
    return SettingsTab(Context(AgiEnv("flight", apps_path=apps_path), cell_id=None))


def test_the_pool_section_shows_the_saved_values_and_the_defaults(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    tab = settings_tab(apps_path)
    width, timeout = tab.pool.rows["pool_width"].text, tab.pool.rows["item_timeout"].text
    assert (width.value, timeout.value, tab.pool.executor.value) == ("", "", "process")
    assert "CPU count" in width.placeholder and "no limit" in timeout.placeholder
    save_settings(
        env.settings_path, {"cluster.pool_width": 3, "cluster.item_timeout": 2.5, "cluster.pool_executor": "thread"}
    )
    again = settings_tab(apps_path)
    assert again.pool.rows["pool_width"].text.value == "3" and again.pool.rows["item_timeout"].text.value == "2.5"
    assert again.pool.executor.value == "thread"


def test_valid_pool_values_save_only_their_key_and_empty_restores_the_default(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    tab = settings_tab(apps_path)
    before = env.settings_path.read_text()
    tab.pool.rows["pool_width"].text.value = "4"
    text = env.settings_path.read_text()
    assert "pool_width = 4" in text and text.replace("pool_width = 4\n", "") == before  # merge-only: one key
    assert tab.pool.rows["pool_width"].error.kind == "ok" and "pool_width" in tab.pool.rows["pool_width"].error.text
    tab.pool.rows["item_timeout"].text.value = "1.5"
    tab.pool.executor.value = "thread"
    cluster = AppSettings.load(env.settings_path).cluster
    assert (cluster.pool_width, cluster.item_timeout, cluster.pool_executor) == (4, 1.5, "thread")
    assert "saved pool_executor" in tab.pool.executor_status.text
    tab.pool.rows["pool_width"].text.value = ""
    tab.pool.rows["item_timeout"].text.value = ""
    cluster = AppSettings.load(env.settings_path).cluster
    assert cluster.pool_width is None and cluster.item_timeout is None
    assert "pool_width" not in env.settings_path.read_text() and "item_timeout" not in env.settings_path.read_text()


def test_bad_pool_values_are_refused_naming_the_field_and_never_saved(apps_path: Path) -> None:
    env = AgiEnv("flight", apps_path=apps_path)
    tab = settings_tab(apps_path)
    saved = env.settings_path.read_bytes()
    for key, text in (("pool_width", "0"), ("pool_width", "two"), ("pool_width", "999"), ("item_timeout", "-1")):
        row = tab.pool.rows[key]
        row.text.value = text
        assert row.error.kind == "error" and row.error.text.startswith(f"not saved: {key}: ")
        assert env.settings_path.read_bytes() == saved
    tab.pool.rows["item_timeout"].text.value = "soon"
    assert "number of seconds" in tab.pool.errors()["item_timeout"]
    assert set(tab.pool.errors()) == {"pool_width", "item_timeout"}
    assert env.settings_path.read_bytes() == saved
