# Sourced by scripts/lab and scripts/test: make ./.venv hold agi-jupyter (editable) with the given
# extras. Re-installs only when pyproject.toml, the extension source or the extras change, so a
# second start is instant.
set -euo pipefail

ensure_venv() {
    local extras="$1" python stamp wanted
    python="${AGI_PYTHON:-$(command -v python3.11 || command -v python3)}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "agi-jupyter needs Python >= 3.11; $python is $("$python" --version 2>&1)" >&2
        exit 1
    fi
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    # An install depends on pyproject.toml and on the JupyterLab extension's source (built into it).
    wanted="$({ cat pyproject.toml labextension/package.json labextension/package-lock.json \
        labextension/src/*.ts labextension/style/* 2>/dev/null || true; } | sha256sum | cut -c1-16)"
    for stamp in ".venv/.installed-$extras-$wanted" ".venv/.installed-[test]-$wanted"; do
        [ -f "$stamp" ] && return 0
    done
    echo "Installing agi-jupyter$extras into .venv ..."
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"
    rm -f .venv/.installed-*
    touch ".venv/.installed-$extras-$wanted"
}
