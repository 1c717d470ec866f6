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


def _kind(values: np.ndarray) -> str:
    """'int', 'float', 'bool' or the dtype's name for anything else (strings, objects...)."""
    if values.dtype.kind in "iu":
        return "int"
    if values.dtype.kind == "f":
        return "float"
    if values.dtype.kind == "b":
        return "bool"
    if values.dtype.kind == "O" and all(isinstance(v, (int, np.integer)) for v in values.flat):
        return "int"
    return str(values.dtype)


def missing(block: str, inputs, reference) -> str:
    """The one-line error for inputs that leave out fields of ``reference`` (the block's own
    stimulus), naming the first one."""
    absent = [name for name in reference if name not in inputs]
    given = ", ".join(sorted(inputs)) or "none"
    if not absent:
        return f"{block}: the inputs ({given}) are not a set of fields the block takes"
    return f"{block} inputs need field '{absent[0]}' (given: {given})"


def check_inputs(block: str, inputs, reference, float_fields=()) -> None:
    """Each field of ``reference`` (the block's own stimulus) that ``inputs`` has comes with no
    more dimensions and numbers of a kind the block takes: integers where the stimulus has
    integers (no NaN, no fractions, nothing beyond 64 bits where the stimulus fits 64 bits),
    numbers where it has floats. ``float_fields`` are integer-pattern fields that also take
    floats."""
    for name, want in reference.items():
        if name not in inputs:
            continue  # a block may take another set of fields (its raw mode); see missing()
        want, got = np.asarray(want), np.asarray(inputs[name])
        if got.ndim > want.ndim:
            raise ValueError(f"{block} field '{name}' must have at most {want.ndim} dimension"
                             f"{'s' * (want.ndim != 1)} (like shape {want.shape}), got shape {got.shape}")
        kind = _kind(got)
        if kind not in ("int", "float", "bool"):
            raise ValueError(f"{block} field '{name}' holds {kind} values: expected numbers")
        if _kind(want) == "int" and kind == "float" and name not in float_fields and got.size:
            with np.errstate(invalid="ignore"):
                bad = got[~np.isfinite(got) | (got != np.round(got))]
            if bad.size:
                raise ValueError(f"{block} field '{name}' holds {bad.flat[0]!r}: expected integers")
        if kind == "int" and got.dtype.kind == "O" and want.dtype.kind != "O" and got.size:
            low, high = min(int(v) for v in got.flat), max(int(v) for v in got.flat)
            if low < -(1 << 63) or high >= 1 << 64:
                raise ValueError(f"{block} field '{name}' holds {low if low < -(1 << 63) else high}: "
                                 f"outside 64-bit integers")


def check_lengths(block: str, inputs, per_vector) -> None:
    """The fields with one entry per vector (``per_vector``, from the block's own stimulus)
    that ``inputs`` has agree on their length, and hold at least one vector: a simulation of
    nothing would pass without checking anything. A graph's fields (``node.field``) agree
    node by node: each node takes its own number of items (two softmax ops for two heads
    beside one LayerNorm)."""
    given = [(name, np.shape(inputs[name])) for name in per_vector if name in inputs]
    lengths = [(name, shape[0] if shape else None) for name, shape in given]
    scalars = [name for name, length in lengths if length is None]
    if scalars:
        raise ValueError(f"{block} field '{scalars[0]}' is a scalar: expected one entry per vector")
    groups: dict[str, list] = {}
    for name, length in lengths:
        groups.setdefault(name.split(".")[0] if "." in name else "", []).append((name, length))
    for group in groups.values():
        if len({length for _, length in group}) > 1:
            described = ", ".join(f"'{name}' {length}" for name, length in group)
            raise ValueError(f"{block} fields {described} differ in length: they hold one entry "
                             f"per vector and must have the same length")
    if lengths and lengths[0][1] == 0:
        raise ValueError(f"{block} field '{lengths[0][0]}' is empty: give at least one vector")
