"""What a worker host installs: the kernel's exact versions, as wheels fetched once on this side.

Dask wants the same versions of dask, distributed and their serialisers on the client, the
scheduler and every worker, so a worker host gets exactly the versions this kernel runs: the
requirement closure of the worker-side packages and the app's declared dependencies, each pinned
to the version installed here. The wheels are downloaded once into a cache on this machine and
copied to each host, which installs them offline (``--no-index``): a host needs no route to a
package index, and every host gets the same bytes.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import InstallError
from ..logs import LineCallback

logger = logging.getLogger(__name__)

WORKER_PACKAGES = (
    "dask",
    "distributed",
    "pydantic",
    "python-dotenv",
    "packaging",
    "tomlkit",
    "filelock",
    "pandas",
    "pyarrow",
    "cython",
    "setuptools",
)
"""What ``agi_jupyter``'s worker side imports (the runner, the service loop, the pandas
worker), plus Cython and setuptools so a host compiles the Cython build itself."""


def cache_dir() -> Path:
    return Path("~/.cache/agi-jupyter/wheelhouse").expanduser()


def pinned_closure(extra: list[str]) -> list[str]:
    """``name==version`` for the worker packages, ``extra`` and everything they require, as installed here.

    A requirement that is not installed in this kernel is an InstallError naming it: a host
    would otherwise get a version the kernel never tested.
    """
    wanted = [Requirement(name) for name in WORKER_PACKAGES]
    for text in extra:
        try:
            wanted.append(Requirement(text))
        except InvalidRequirement as error:
            raise InstallError(f"dependency {text!r} is not a valid requirement: {error}") from None
    pins: dict[str, str] = {}
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name in pins or name == "agi-jupyter":
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise InstallError(
                f"{requirement} is needed on the worker hosts but is not installed in this kernel "
                f"({sys.executable}): install it here first, so the hosts get the version tested here"
            ) from None
        pins[name] = version
        wanted.extend(_requirements_of(name, requirement.extras))
    return sorted(f"{name}=={version}" for name, version in pins.items())


def _requirements_of(name: str, extras: set[str]) -> list[Requirement]:
    found = []
    for text in metadata.requires(name) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate({"extra": extra}) for extra in (extras or {""})):
            continue
        found.append(requirement)
    return found


def ensure_wheels(pins: list[str], say: LineCallback) -> list[Path]:
    """The wheel file of every pin, from the cache, downloading the missing ones once."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    missing = [pin for pin in pins if _cached(folder, pin) is None]
    if missing:
        say(f"downloading {len(missing)} wheel(s) for the worker hosts into {folder}")
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        result = subprocess.run(
            [*command, "--dest", str(folder), *missing], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            tail = " | ".join(result.stderr.strip().splitlines()[-4:])
            raise InstallError(f"could not download the worker hosts' wheels ({', '.join(missing)}): {tail}")
    wheels = []
    for pin in pins:
        wheel = _cached(folder, pin)
        if wheel is None:
            raise InstallError(f"no wheel of {pin} in {folder} after downloading it")
        wheels.append(wheel)
    return wheels


def _cached(folder: Path, pin: str) -> Path | None:
    name, _, version = pin.partition("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    for path in folder.glob("*.whl"):
        parts = path.name.split("-")
        if len(parts) >= 2 and re.sub(r"[-_.]+", "_", parts[0]).lower() == stem and parts[1] == version:
            return path
    return None
