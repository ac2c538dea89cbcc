"""The input files: the user's own ``.csv`` files in ``data_in``, or sample files written there.

Sample files go only into a folder without any ``.csv`` file, or into one holding this module's
manifest ``samples.json``: the record of the sample files it wrote there and of the ``files``,
``rows`` and ``seed`` they were made with. In such a folder the samples follow the arguments:
when one changes, the sample files are written again and those no longer wanted removed. A
``.csv`` file the manifest does not list is the user's: used beside the samples, never written or
removed (one standing where a sample file should go is an error). Each file appears whole through
a rename, and the manifest lists a file before it is written, so a run killed midway is finished
by the next. Replace :func:`sample_orders` with your own data, or just put your files in an
empty ``data_in``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

logger = logging.getLogger(__name__)

CATEGORIES = ("books", "games", "music", "tools", "toys")
COLUMNS = ("order_id", "category", "quantity", "unit_price")
MANIFEST = "samples.json"
SAMPLE_NAME = re.compile(r"orders_\d{4}\.csv")  # the only names sample files get (see sample_name)


class Samples(BaseModel):
    """The manifest of a folder's sample files: what was written, and from which arguments."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generator: Literal["agi-jupyter pandas template"] = "agi-jupyter pandas template"
    files: int
    rows: int
    seed: int
    complete: bool  # False while the files are being written
    names: list[str]  # every sample file that may be in the folder

    @field_validator("names")
    @classmethod
    def only_sample_names(cls, names: list[str]) -> list[str]:
        """A copied or edited manifest must never make this module remove a user's file."""
        wrong = [name for name in names if not SAMPLE_NAME.fullmatch(name)]
        if wrong:
            raise ValueError(f"not names of sample files: {', '.join(wrong)}")
        return names


def input_files(folder: Path, files: int, rows: int, seed: int) -> list[Path]:
    """The ``.csv`` files of ``folder``, sorted; sample files are written or updated first (see above)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    if manifest is not None or not csv_files(folder):
        update_samples(folder, Samples(files=files, rows=rows, seed=seed, complete=True, names=[]), manifest)
    return csv_files(folder)


def csv_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.glob("*.csv") if path.is_file() and not path.name.startswith("."))


def sample_name(number: int) -> str:
    return f"orders_{number:04d}.csv"


def read_manifest(folder: Path) -> Samples | None:
    """The manifest of ``folder``, or None when it has none (or one this module did not write)."""
    path = folder / MANIFEST
    try:
        return Samples.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as error:
        logger.warning("%s is not a manifest of sample files, so the folder is not treated as theirs: %s", path, error)
        return None


def update_samples(folder: Path, wanted: Samples, manifest: Samples | None) -> None:
    """Bring the sample files of ``folder`` to ``wanted``, touching no file ``manifest`` does not list."""
    names = [sample_name(number) for number in range(wanted.files)]
    if manifest == wanted.model_copy(update={"names": names}) and all((folder / name).is_file() for name in names):
        return
    owned = set(manifest.names) if manifest is not None else set()
    needed = names if manifest is not None else [*names, MANIFEST]
    in_the_way = [str(folder / name) for name in needed if name not in owned and (folder / name).exists()]
    if in_the_way:
        raise FileExistsError(
            f"{', '.join(in_the_way)}: not written by this app, which needs that name for its {wanted.files} "
            "sample files; move the file away, or set data_in to another folder"
        )
    logger.info("%s: writing %d sample files (%d rows, seed %d)", folder, wanted.files, wanted.rows, wanted.seed)
    writing = wanted.model_copy(update={"names": sorted(owned | set(names)), "complete": False})
    write_whole(folder / MANIFEST, lambda path: path.write_text(writing.model_dump_json(indent=1)))
    for name in sorted(owned - set(names)):
        (folder / name).unlink(missing_ok=True)
    for number, name in enumerate(names):
        write_whole(folder / name, partial(sample_orders(number, wanted.rows, wanted.seed).to_csv, index=False))
    done = wanted.model_copy(update={"names": names})
    write_whole(folder / MANIFEST, lambda path: path.write_text(done.model_dump_json(indent=1)))


def write_whole(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``path``, then rename it there: ``path`` is never half written."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def sample_orders(number: int, rows: int, seed: int) -> pd.DataFrame:
    """One sample file of orders; files differ in length, so the planner has sizes to balance."""
    rng = np.random.default_rng([seed, number])
    count = int(rng.integers(rows // 2, rows * 2))
    return pd.DataFrame(
        {
            "order_id": np.arange(count) + number * 10_000_000,
            "category": rng.choice(CATEGORIES, size=count),
            "quantity": rng.integers(1, 10, size=count),
            "unit_price": np.round(rng.uniform(1.0, 100.0, size=count), 2),
        }
    )
