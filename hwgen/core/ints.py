"""Integer arrays of any width: NumPy's fixed-width types where they are exact, Python
integers (dtype object) where they are not."""

from __future__ import annotations

import numpy as np


def int_dtype(width: int, signed: bool):
    """The narrowest exact NumPy dtype for ``width``-bit integers (object beyond 64 bits)."""
    if signed:
        return np.int64 if width <= 64 else object
    return np.uint64 if width <= 64 else object


def int_array(values, width: int, signed: bool) -> np.ndarray:
    return np.asarray(values, dtype=int_dtype(width, signed))


def value_bits(value: int) -> int:
    """Bits to hold 0..value, at least one."""
    return max(1, int(value).bit_length())


def index_bits(count: int) -> int:
    """Bits to hold 0..count-1, at least one (Verilog has no zero-width signal)."""
    return max(1, (count - 1).bit_length())
