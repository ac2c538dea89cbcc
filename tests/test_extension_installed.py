"""The JupyterLab extension is installed and enabled in the environment the tests run in."""

import subprocess
import sys
from pathlib import Path


def test_labextension_list_shows_agi_jupyter_enabled_ok() -> None:
    jupyter = Path(sys.executable).with_name("jupyter")
    listed = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, check=True)
    lines = [line for line in (listed.stdout + listed.stderr).splitlines() if "agi-jupyter" in line]
    assert lines and "enabled" in lines[0] and "OK" in lines[0], listed.stdout + listed.stderr
