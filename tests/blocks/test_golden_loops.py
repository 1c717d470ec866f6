"""The golden models against plain Python loops over the definitions, and the stimulus
generators' coverage of edge values."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen import blocks
from hwgen.blocks.mac_array.golden import dot_products
from hwgen.blocks.requant.golden import requantize


def brute_dot(a, b):
    return [sum(int(x) * int(y) for x, y in zip(va.ravel(), vb.ravel())) for va, vb in zip(a, b)]


@pytest.mark.parametrize("width, signed", [(2, True), (8, True), (8, False), (32, True), (32, False)])
def test_dot_products_exact(rng, width, signed):
    block = blocks.get("mac_array", lanes=16, width=width, signed=signed, vector_length=8)
    inputs = block.stimulus(rng, 300)
    got = dot_products(inputs["a"], inputs["b"])
    assert [int(v) for v in got] == brute_dot(inputs["a"], inputs["b"])


def test_dot_products_beyond_64_bits():
    # 256 lanes x 4096 beats of (-2**31)**2 = 2**82: only Python integers hold it
    a = np.full((1, 4096, 256), -(1 << 31), dtype=np.int64)
    got = dot_products(a, a)
    assert got.dtype == object and int(got[0]) == (1 << 62) * 4096 * 256


def test_dot_products_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="share one"):
        dot_products(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))


def test_mac_stimulus_covers_extremes(rng):
    block = blocks.get("mac_array", width=6, signed=True)
    inputs = block.stimulus(rng, 100)
    a, b = inputs["a"], inputs["b"]
    assert a.shape == (100, 16, 8) and a.min() == -32 and a.max() == 31
    assert (a[0] == -32).all() and (b[0] == -32).all()      # largest positive sum
    assert (a[2] == -32).all() and (b[2] == 31).all()       # largest negative sum
    assert (a == 0).any() and (b == 1).any()
    again = block.stimulus(np.random.default_rng(12345), 100)
    assert (again["a"] == a).all(), "stimulus must be reproducible from the seed"


@pytest.mark.parametrize("shift, rounding, overflow", [
    (0, "half_up", "saturate"), (3, "half_up", "saturate"), (3, "truncate", "saturate"),
    (7, "half_up", "saturate"), (3, "half_even", "saturate"), (4, "half_even", "wrap"),
    (2, "truncate", "wrap")])
@pytest.mark.parametrize("signed", [True, False])
def test_requantize_definition(rng, shift, rounding, overflow, signed):
    block = blocks.get("requant", in_width=12, out_width=5, shift=shift, signed=signed,
                       rounding=rounding, overflow=overflow)
    x = block.stimulus(rng, 2000)["x"]
    low, high = (-16, 15) if signed else (0, 31)
    want = []
    for v in x:
        q = int(v) / 2**shift        # exact in float64 for 12-bit inputs
        if rounding == "half_up":
            rounded = int(np.floor(q + 0.5))
        elif rounding == "half_even":
            rounded = int(np.round(q))   # NumPy rounds ties to even
        else:
            rounded = int(np.floor(q))
        if overflow == "saturate":
            want.append(min(max(rounded, low), high))
        else:
            wrapped = rounded % 32
            want.append(wrapped - 32 if signed and wrapped >= 16 else wrapped)
    assert requantize(x, shift, 5, signed, rounding, overflow).tolist() == want
    assert block.golden({"x": x})["y"].tolist() == want


def test_requant_stimulus_has_ties_and_edges(rng):
    block = blocks.get("requant", in_width=16, shift=4)
    x = [int(v) for v in block.stimulus(rng, 500)["x"]]
    assert {-(1 << 15), (1 << 15) - 1, 0, 8, -8, 7, 9}.issubset(x)


def test_requant_wide_samples(rng):
    block = blocks.get("requant", in_width=100, out_width=64, shift=20, signed=True)
    x = block.stimulus(rng, 200)["x"]
    y = block.golden({"x": x})["y"]
    for v, out in zip(x, y):
        assert int(out) == min(max((int(v) + (1 << 19)) >> 20, -(1 << 63)), (1 << 63) - 1)
