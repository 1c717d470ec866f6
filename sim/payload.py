"""Packing stream beats into whole payload integers and back.

A port's beats are an array with one row per beat (for a plain integer payload) or a dict of
such arrays (for a struct payload, nested like the layout; array layouts add axes). Packing
turns them into one Python int per beat, the value written to the ``payload`` signal in one
go. Both directions go through a bit matrix so the per-beat Python work is a single
``int.from_bytes`` / ``int.to_bytes``.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from hwgen.core.ints import int_dtype


def width_of(shape) -> int:
    return shape.size if isinstance(shape, data.Layout) else Shape.cast(shape).width


def _leaves(shape, offset=0, path=()) -> Iterator[tuple[tuple, int, Shape]]:
    if isinstance(shape, data.ArrayLayout):
        for index in range(shape.length):
            yield from _leaves(shape.elem_shape, offset + index * width_of(shape.elem_shape),
                               path + (index,))
    elif isinstance(shape, data.Layout):
        for name, field in shape:
            yield from _leaves(field.shape, offset + field.offset, path + (name,))
    else:
        yield path, offset, Shape.cast(shape)


def _select(beats, path) -> np.ndarray:
    indices = []
    for key in path:
        if isinstance(key, str):
            beats = beats[key]
        else:
            indices.append(key)
    return np.asarray(beats)[(slice(None), *indices)]


def pack(shape, beats) -> list[int]:
    """One non-negative int per beat holding every field at its layout offset."""
    total = width_of(shape)
    leaves = list(_leaves(shape))
    count = len(_select(beats, leaves[0][0])) if leaves else 0
    nbytes = (total + 7) // 8
    bits = np.zeros((count, nbytes * 8), dtype=np.uint8)
    wide = []
    for path, offset, leaf in leaves:
        values = _select(beats, path)
        if leaf.width > 64 or values.dtype == object:
            wide.append((values, offset, leaf.width))
            continue
        as_unsigned = values.astype(np.int64).view(np.uint64) if values.dtype.kind == "i" else values.astype(np.uint64)
        shifts = np.arange(leaf.width, dtype=np.uint64)
        bits[:, offset:offset + leaf.width] = (as_unsigned[:, None] >> shifts) & np.uint64(1)
    packed = np.packbits(bits, axis=1, bitorder="little")
    words = [int.from_bytes(row, "little") for row in packed]
    for values, offset, width in wide:
        mask = (1 << width) - 1
        for i, value in enumerate(values):
            words[i] |= (int(value) & mask) << offset
    return words


def unpack(shape, words: list[int]) -> Any:
    """The inverse of :func:`pack`: arrays (dicts of arrays for structs), one row per beat.
    Leaves up to 64 bits come back as int64/uint64, wider ones as Python ints (dtype object)."""
    total = width_of(shape)
    nbytes = max((total + 7) // 8, 1)
    raw = b"".join(int(w).to_bytes(nbytes, "little") for w in words)
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(len(words), nbytes),
                         axis=1, bitorder="little")
    return _unpack_into(shape, 0, bits, words)


def _unpack_into(shape, offset, bits, words):
    if isinstance(shape, data.ArrayLayout):
        step = width_of(shape.elem_shape)
        parts = [_unpack_into(shape.elem_shape, offset + i * step, bits, words)
                 for i in range(shape.length)]
        return _stack(parts)
    if isinstance(shape, data.Layout):
        return {name: _unpack_into(field.shape, offset + field.offset, bits, words)
                for name, field in shape}
    leaf = Shape.cast(shape)
    if leaf.width > 64:
        mask = (1 << leaf.width) - 1
        values = [(int(w) >> offset) & mask for w in words]
        if leaf.signed:
            values = [v - (1 << leaf.width) if v >> (leaf.width - 1) else v for v in values]
        return np.array(values, dtype=object)
    weights = np.uint64(1) << np.arange(leaf.width, dtype=np.uint64)
    field_bits = bits[:, offset:offset + leaf.width].astype(np.uint64)
    unsigned = (field_bits * weights).sum(axis=1, dtype=np.uint64) if leaf.width else \
        np.zeros(len(words), dtype=np.uint64)
    if not leaf.signed:
        return unsigned.astype(int_dtype(leaf.width, False))
    sign = np.uint64(1) << np.uint64(leaf.width - 1)
    # two's complement sign extension: (x ^ sign) - sign, done in wrapping 64-bit arithmetic
    return ((unsigned ^ sign) - sign).view(np.int64)


def _stack(parts):
    if isinstance(parts[0], dict):
        return {key: _stack([part[key] for part in parts]) for key in parts[0]}
    return np.stack(parts, axis=1)
