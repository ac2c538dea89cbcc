"""Mode flags, tokens, labels, parsing and the mode hint."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi_jupyter.core.errors import ModeError
from agi_jupyter.core.modes import ALL_MODES, Capabilities, Mode, available_modes, mode_hint


def test_flag_values() -> None:
    assert (Mode.POOL, Mode.CYTHON, Mode.DASK, Mode.RAPIDS) == (1, 2, 4, 8)
    assert Mode(5) == Mode.DASK | Mode.POOL


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda m: m.token)
def test_every_token_round_trips(mode: Mode) -> None:
    assert Mode.from_token(mode.token) == mode
    assert Mode.parse(mode.token) == mode
    assert Mode.parse(int(mode)) == mode
    assert Mode.parse(str(int(mode))) == mode
    assert Mode.parse(mode.label) == mode


def test_tokens_of_the_spec() -> None:
    assert Mode(0).token == "____"
    assert Mode(5).token == "_d_p"
    assert Mode(15).token == "rdcp"
    assert Mode(2).token == "__c_"
    assert Mode(8).token == "r___"
    assert Mode.from_token("_d_p") == Mode.DASK | Mode.POOL
    assert len({mode.token for mode in ALL_MODES}) == 16


def test_labels() -> None:
    assert Mode(0).label == "0: python"
    assert Mode(1).label == "1: pool"
    assert Mode(2).label == "2: cython"
    assert Mode(4).label == "4: dask"
    assert Mode(5).label == "5: dask and pool"
    assert Mode(15).label == "15: rapids and dask and pool and cython"
    assert len({mode.label for mode in ALL_MODES}) == 16


@pytest.mark.parametrize(
    "text, expected",
    [
        ("dp", Mode.DASK | Mode.POOL),
        ("pd", 5),
        ("c", Mode.CYTHON),
        ("rdcp", 15),
        ("RDCP", 15),
        ("python", 0),
        ("  5 ", 5),
        (Mode.DASK, 4),
    ],
)
def test_parse_letter_sets_and_aliases(text: object, expected: int) -> None:
    assert Mode.parse(text) == expected


@pytest.mark.parametrize(
    "bad", [16, -1, "x", "ddp", "_d_x", "d_p", "abcd", "dask", 2.5, None, True, "5: dask", "r__pp"]
)
def test_bad_modes_are_rejected_with_a_message(bad: object) -> None:
    with pytest.raises(ModeError) as caught:
        Mode.parse(bad)
    assert repr(bad) in str(caught.value) or str(bad) in str(caught.value)


@given(st.text(max_size=8))
def test_parse_either_succeeds_or_raises_mode_error(text: str) -> None:
    try:
        mode = Mode.parse(text)
    except ModeError:
        return
    assert 0 <= int(mode) <= 15


def test_from_flags_returns_a_mode() -> None:
    mode = Mode.from_flags(pool=True, dask=True)
    assert isinstance(mode, Mode) and mode.token == "_d_p"


def test_hint_names_what_is_missing_and_why() -> None:
    bare = Capabilities(c_compiler=None, cudf=False)
    hint = mode_hint(Mode.CYTHON | Mode.RAPIDS | Mode.DASK, bare)
    assert "no C compiler" in hint and "cudf" in hint and "Dask" in hint
    full = Capabilities(c_compiler="/usr/bin/cc", cudf=True)
    assert "unavailable" not in mode_hint(Mode(15), full)
    assert "pool" in mode_hint(Mode.POOL, full)


def test_available_modes_drop_what_the_machine_cannot_run() -> None:
    allowed = Mode.POOL | Mode.CYTHON | Mode.RAPIDS
    assert available_modes(allowed, Capabilities(None, False)) == [Mode(0), Mode(1)]
    assert len(available_modes(allowed, Capabilities("/usr/bin/cc", True))) == 8


def test_this_machine_has_a_compiler() -> None:
    """The tests run the real Cython build, so the detection must find gcc here."""
    assert Capabilities.detect().c_compiler
