"""NumPy reference for ``requant``: the numerics library's exact fixed-point twin."""

from __future__ import annotations

import numpy as np

from ...core.ints import int_array
from ...numerics.golden import fx_requantize
from ...numerics.formats import MAX_FIXED_WIDTH, FixedFormat


def limits(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def formats(in_width: int, out_width: int, shift: int, signed: bool) -> tuple[FixedFormat, FixedFormat]:
    """``requant`` as a fixed-point requantization: the input read with ``shift`` fraction
    bits, the output an integer."""
    return FixedFormat(in_width, shift, signed), FixedFormat(out_width, 0, signed)


def requantize(x: np.ndarray, shift: int, out_width: int, signed: bool, rounding: str,
               overflow: str = "saturate") -> np.ndarray:
    """``round(x / 2**shift)`` brought into the ``out_width``-bit range: truncate rounds toward
    -infinity (an arithmetic shift), half_up ties toward +infinity, half_even ties to even;
    saturate clamps, wrap keeps the low bits."""
    values = [int(v) for v in np.asarray(x).ravel()]
    # The result does not depend on the input width: read x in the widest format there is.
    fmt_in, fmt_out = formats(MAX_FIXED_WIDTH, out_width, shift, signed)
    out = fx_requantize(np.array(values, dtype=object), fmt_in, fmt_out, rounding=rounding,
                        overflow=overflow)
    return int_array(np.asarray(out).ravel().tolist(), out_width, signed).reshape(np.shape(x))


def stimulus(rng: np.random.Generator, n: int, in_width: int, signed: bool, shift: int) -> dict:
    low, high = limits(in_width, signed)
    edges = {low, high, 0, 1, min(high, 2), low + 1, high - 1}
    if signed:
        edges |= {-1}
    if shift:
        # exact ties and their neighbours, where rounding modes differ
        half = 1 << (shift - 1)
        edges |= {v for k in (-3, -1, 1, 3) for v in (k * half - 1, k * half, k * half + 1)
                  if low <= v <= high}
    edges = sorted(edges)
    # uniform over the full range; one in four near zero (a few output steps either side);
    # one in eight from the edge values
    def uniform(lo: int, hi: int) -> int:
        return lo + int.from_bytes(rng.bytes((hi - lo).bit_length() // 8 + 8), "little") % (hi - lo + 1)

    near = 4 << shift
    pick = rng.random(n)
    values = []
    for i in range(n):
        if pick[i] < 0.125:
            values.append(edges[int(rng.integers(len(edges)))])
        elif pick[i] < 0.375:
            values.append(uniform(max(low, -near), min(high, near)))
        else:
            values.append(uniform(low, high))
    values[: min(n, len(edges))] = edges[: min(n, len(edges))]
    return {"x": int_array(values, in_width, signed)}
