"""Packing beats into payload words and back, and the scoreboard."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from hypothesis import given, settings, strategies as st

from sim.payload import pack, unpack, width_of
from sim.scoreboard import compare


@settings(max_examples=60, deadline=None)
@given(elem_width=st.integers(1, 40), lanes=st.integers(1, 9), other_width=st.integers(1, 70),
       is_signed=st.booleans(), beats=st.integers(0, 30), seed=st.integers(0, 2**32 - 1))
def test_struct_round_trip_matches_bit_layout(elem_width, lanes, other_width, is_signed, beats, seed):
    rng = np.random.default_rng(seed)
    elem = (signed if is_signed else unsigned)(elem_width)
    layout = data.StructLayout({"a": data.ArrayLayout(elem, lanes), "c": unsigned(other_width)})
    low, high = (-(1 << (elem_width - 1)), (1 << (elem_width - 1)) - 1) if is_signed else (0, (1 << elem_width) - 1)
    a = np.array([[int(rng.integers(low, high, endpoint=True)) for _ in range(lanes)] for _ in range(beats)],
                 dtype=np.int64).reshape(beats, lanes)
    c = np.array([int.from_bytes(rng.bytes(9), "little") % (1 << other_width) for _ in range(beats)], dtype=object)
    words = pack(layout, {"a": a, "c": c})
    # the reference: field a lane i at i * elem_width, then c, two's complement in its field
    for beat in range(beats):
        expect = sum((int(a[beat, i]) % (1 << elem_width)) << (i * elem_width) for i in range(lanes))
        expect |= int(c[beat]) << (lanes * elem_width)
        assert words[beat] == expect
    back = unpack(layout, words)
    assert back["a"].shape == (beats, lanes) and (back["a"] == a).all()
    assert [int(v) for v in back["c"]] == [int(v) for v in c]
    assert width_of(layout) == lanes * elem_width + other_width


def test_extremes_of_64_bit_and_wider_leaves():
    values = np.array([-(1 << 63), (1 << 63) - 1, -1, 0], dtype=np.int64)
    assert (unpack(signed(64), pack(signed(64), values)) == values).all()
    assert pack(signed(64), values)[2] == (1 << 64) - 1
    wide = np.array([-(1 << 83), (1 << 83) - 1, -1], dtype=object)
    back = unpack(signed(84), pack(signed(84), wide))
    assert back.dtype == object and back.tolist() == wide.tolist()


def test_scoreboard_reports_first_mismatch():
    want = {"y": np.arange(10, dtype=np.int64)}
    got = {"y": np.arange(10, dtype=np.int64)}
    assert compare(want, got).passed
    got["y"][7] = 70
    got["y"][9] = 90
    verdict = compare(want, got)
    assert not verdict.passed and verdict.mismatches == 2
    assert verdict.first.index == (7,) and verdict.first.expected == 7 and verdict.first.actual == 70
    assert "first at y[7]: expected 7, got 70" in str(verdict)


def test_scoreboard_shape_and_missing_fields_and_signedness():
    assert "expected shape (3,), got (2,)" in str(compare({"y": np.zeros(3)}, {"y": np.zeros(2)}))
    assert "y: no output" in str(compare({"y": np.zeros(3)}, {}))
    # -1 as int64 is not 2**64 - 1 as uint64: no silent wrap-around
    verdict = compare({"y": np.array([-1], dtype=np.int64)}, {"y": np.array([2**64 - 1], dtype=np.uint64)})
    assert not verdict.passed
    wide = np.array([1 << 80], dtype=object)
    assert compare({"y": wide}, {"y": wide.copy()}).passed
    assert not compare({"y": wide}, {"y": np.array([(1 << 80) + 1], dtype=object)}).passed
