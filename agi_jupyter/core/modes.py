"""Run modes: the bit set that says how a plan executes, its tokens, labels and hint.

A mode is a combination of POOL (1), CYTHON (2), DASK (4) and RAPIDS (8); 0 is plain Python.
The 4-letter token lists the bits in ``r d c p`` order with ``_`` for an unset bit, so
``Mode(5).token == "_d_p"`` and ``Mode.from_token("____") == Mode(0)``.
"""

from __future__ import annotations

import enum
import importlib.util
import shutil
import sysconfig
from dataclasses import dataclass

from .errors import ModeError

_LETTERS = "rdcp"  # token order, most significant bit first
_WORDS = ("rapids", "dask", "pool", "cython")  # label order


class Mode(enum.IntFlag):
    """How a plan executes; combine flags with ``|``."""

    PYTHON = 0
    POOL = 1
    CYTHON = 2
    DASK = 4
    RAPIDS = 8

    @property
    def token(self) -> str:
        """The 4-letter ``rdcp`` token, ``_`` for unset bits."""
        bits = (Mode.RAPIDS, Mode.DASK, Mode.CYTHON, Mode.POOL)
        return "".join(letter if self & bit else "_" for letter, bit in zip(_LETTERS, bits))

    @property
    def label(self) -> str:
        """Human label such as ``"5: dask and pool"``."""
        flags = {"rapids": Mode.RAPIDS, "dask": Mode.DASK, "pool": Mode.POOL, "cython": Mode.CYTHON}
        words = [word for word in _WORDS if self & flags[word]]
        return f"{int(self)}: {' and '.join(words) or 'python'}"

    @classmethod
    def from_token(cls, token: str) -> Mode:
        """Parse a 4-letter token (``"_d_p"``); every position must be its letter or ``_``."""
        if not isinstance(token, str) or len(token) != 4:
            raise ModeError(f"mode token {token!r} must have 4 characters in 'rdcp' order, e.g. '_d_p'")
        value = 0
        for position, (char, letter) in enumerate(zip(token.lower(), _LETTERS)):
            if char == letter:
                value |= 8 >> position
            elif char != "_":
                raise ModeError(
                    f"mode token {token!r}: position {position + 1} must be {letter!r} or '_', not {char!r}"
                )
        return cls(value)

    @classmethod
    def parse(cls, value: object) -> Mode:
        """Accept a Mode, an int 0-15, a token (``"_d_p"``), a letter set (``"dp"``) or a label."""
        if isinstance(value, Mode):
            return value
        if isinstance(value, bool):
            raise ModeError(f"mode {value!r} is a boolean; give an int 0-15, a token like '_d_p' or letters like 'dp'")
        if isinstance(value, int):
            if 0 <= value <= 15:
                return cls(value)
            raise ModeError(f"mode {value} is out of range: modes are 0-15")
        if not isinstance(value, str):
            raise ModeError(f"mode {value!r} has type {type(value).__name__}; expected int or str")
        text = value.strip().lower()
        if text.isascii() and text.isdigit():
            return cls.parse(int(text))
        if ":" in text and text.split(":", 1)[0].strip().isascii() and text.split(":", 1)[0].strip().isdigit():
            number = cls.parse(int(text.split(":", 1)[0]))
            if number.label == value.strip():
                return number
            raise ModeError(f"mode label {value!r} does not match {number.label!r}")
        if len(text) == 4 and set(text) <= set(_LETTERS + "_") and "_" in text:
            return cls.from_token(text)
        if text in ("python", ""):
            return cls(0)
        return cls._from_letters(value, text)

    @classmethod
    def _from_letters(cls, original: str, text: str) -> Mode:
        bit_of = {"r": cls.RAPIDS, "d": cls.DASK, "c": cls.CYTHON, "p": cls.POOL}
        unknown = sorted(set(text) - set(bit_of))
        if unknown or len(set(text)) != len(text):
            raise ModeError(
                f"mode {original!r} is not understood: use an int 0-15, a token like '_d_p', "
                "or letters from 'rdcp' each at most once (r=rapids, d=dask, c=cython, p=pool)"
            )
        mode = cls(0)
        for char in text:
            mode |= bit_of[char]
        return mode

    @classmethod
    def from_flags(cls, *, pool: bool = False, cython: bool = False, dask: bool = False, rapids: bool = False) -> Mode:
        """Build a mode from the four settings toggles."""
        return cls(int(pool) * cls.POOL | int(cython) * cls.CYTHON | int(dask) * cls.DASK | int(rapids) * cls.RAPIDS)

    def submodes(self) -> list[Mode]:
        """Every mode whose bits are a subset of this one, fastest-to-check first (0 first)."""
        return [Mode(value) for value in range(16) if value & ~int(self) == 0]


ALL_MODES: tuple[Mode, ...] = tuple(Mode(value) for value in range(16))


@dataclass(frozen=True)
class Capabilities:
    """What this machine can execute; the mode hint explains anything missing."""

    c_compiler: str | None
    cudf: bool

    @classmethod
    def detect(cls) -> Capabilities:
        """Look for a C compiler (the one Python was built with first) and for ``cudf``."""
        return cls(c_compiler=find_c_compiler(), cudf=importlib.util.find_spec("cudf") is not None)


def find_c_compiler() -> str | None:
    """Path of a C compiler Cython can use, or None."""
    configured = (sysconfig.get_config_var("CC") or "").split()
    candidates: list[str] = [*configured[:1], "cc", "gcc", "clang"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    return None


def mode_hint(mode: Mode, capabilities: Capabilities | None = None) -> str:
    """Say in plain words how ``mode`` will execute here, and what is unavailable and why."""
    capabilities = capabilities or Capabilities.detect()
    where = "on the Dask cluster, one task per worker slot" if mode & Mode.DASK else "locally, in one worker process"
    how = "with a process pool inside each worker" if mode & Mode.POOL else "one work item after another"
    code = "the Cython-compiled worker" if mode & Mode.CYTHON else "the pure-Python worker"
    sentences = [f"Mode {mode.label} ({mode.token}): runs {code} {where}, {how}."]
    if mode & Mode.RAPIDS:
        sentences.append("RAPIDS: dataframes use cudf on GPU workers.")
    if mode & Mode.CYTHON and not capabilities.c_compiler:
        sentences.append(
            "Cython is unavailable here: no C compiler was found (install gcc, e.g. "
            "'apt-get install build-essential'); the cython bit will fail at install."
        )
    if mode & Mode.RAPIDS and not capabilities.cudf:
        sentences.append(
            "RAPIDS is unavailable here: the 'cudf' package is not installed "
            "(it needs an NVIDIA GPU); a rapids run will fail before it starts."
        )
    return " ".join(sentences)


def available_modes(allowed: Mode, capabilities: Capabilities | None = None) -> list[Mode]:
    """The submodes of ``allowed`` this machine can actually run (no compiler -> no cython...)."""
    capabilities = capabilities or Capabilities.detect()
    blocked = Mode(0)
    if not capabilities.c_compiler:
        blocked |= Mode.CYTHON
    if not capabilities.cudf:
        blocked |= Mode.RAPIDS
    return [mode for mode in allowed.submodes() if not mode & blocked]
