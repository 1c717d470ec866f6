"""Checks of the NumPy fields a user hands a block, shared by every family: each failure is one
line naming the block, the field, what it got and what is allowed (packing into beats would
otherwise wrap or truncate silently)."""

from __future__ import annotations

import numpy as np


def shaped(block: str, name: str, fields, shape) -> np.ndarray:
    """``fields[name]`` as an array of ``shape`` (``None`` for any length along that axis)."""
    if name not in fields:
        raise ValueError(f"{block} inputs need field '{name}'")
    values = np.asarray(fields[name])
    if values.ndim != len(shape) or any(want is not None and got != want
                                        for got, want in zip(values.shape, shape)):
        want = ", ".join("n" if s is None else str(s) for s in shape)
        raise ValueError(f"{block} field '{name}' must have shape ({want}), got {values.shape}")
    return values


def unsigned_field(block: str, name: str, fields, shape, bits: int) -> np.ndarray:
    """``fields[name]`` checked for shape and for integers in 0..2**bits-1."""
    values = shaped(block, name, fields, shape)
    if values.size and (values.dtype.kind not in "iuO" or min(int(v) for v in values.flat) < 0
                        or max(int(v) for v in values.flat) >> bits):
        raise ValueError(f"{block} field '{name}' must hold integers 0..{(1 << bits) - 1}, "
                         f"got {values.dtype} values")
    return values.astype(np.uint64) if bits <= 64 else values
