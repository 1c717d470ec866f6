"""NumPy reference for ``requant``, from the definition of rounding and saturation."""

from __future__ import annotations

import numpy as np

from ...core.ints import int_array


def limits(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def requantize(x: np.ndarray, shift: int, out_width: int, signed: bool, rounding: str) -> np.ndarray:
    """``clip(round(x / 2**shift))`` where half_up rounds ties toward +infinity and truncate
    rounds toward -infinity (an arithmetic shift)."""
    values = [int(v) for v in np.asarray(x).ravel()]
    offset = (1 << (shift - 1)) if rounding == "half_up" and shift else 0
    low, high = limits(out_width, signed)
    out = [min(max((v + offset) >> shift, low), high) for v in values]
    return int_array(out, out_width, signed).reshape(np.shape(x))


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
