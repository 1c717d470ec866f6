"""NumPy reference for ``mac_array``: integer dot products, written from the definition.

It shares no code with the RTL: it never looks at the adder tree, the pipeline or the
accumulator width, only at what a dot product is.
"""

from __future__ import annotations

import numpy as np


def dot_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``y[v] = sum over beats and lanes of a[v] * b[v]``, exactly.

    ``a`` and ``b`` have shape (vectors, vector_length, lanes). int64 holds every product and
    sum up to 62 bits; wider results are computed with Python integers (dtype object).
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"a and b must share one (vectors, vector_length, lanes) shape, "
                         f"got {a.shape} and {b.shape}")
    terms = a.shape[1] * a.shape[2]
    magnitude = max(int(np.abs(a).max(initial=0)), 1) * max(int(np.abs(b).max(initial=0)), 1)
    if magnitude * max(terms, 1) < 2**62:
        flat = (a.astype(np.int64) * b.astype(np.int64)).reshape(a.shape[0], -1)
        return flat.sum(axis=1, dtype=np.int64)
    flat = (a.astype(object) * b.astype(object)).reshape(a.shape[0], -1)
    return np.array([sum(row, 0) for row in flat] if len(flat) else [], dtype=object)


def edge_operands(width: int, signed: bool) -> np.ndarray:
    """The operand values most likely to break a multiplier or an accumulator."""
    if signed:
        low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
        values = [0, 1, -1, low, low + 1, high, high - 1]
    else:
        low, high = 0, (1 << width) - 1
        values = [0, 1, high, high - 1, 1 << (width - 1)]
    return np.array(sorted(set(values)), dtype=np.int64)


def random_operands(rng: np.random.Generator, shape: tuple[int, ...], width: int,
                    signed: bool) -> np.ndarray:
    """Uniform operands, with one vector in four drawn from the edge values instead, and the
    first vectors fixed to all-minimum and all-maximum (the accumulator's worst cases)."""
    edges = edge_operands(width, signed)
    low = int(edges.min())
    high = int(edges.max())
    values = rng.integers(low, high, size=shape, endpoint=True, dtype=np.int64)
    edgy = rng.random(shape[0]) < 0.25
    values[edgy] = rng.choice(edges, size=(int(edgy.sum()),) + shape[1:])
    return values


def stimulus(rng: np.random.Generator, vectors: int, vector_length: int, lanes: int,
             width: int, signed: bool) -> dict[str, np.ndarray]:
    shape = (vectors, vector_length, lanes)
    a = random_operands(rng, shape, width, signed)
    b = random_operands(rng, shape, width, signed)
    low, high = operand_range_of(width, signed)
    # the largest products of either sign: a[v] * b[v] summed at full scale
    for v, (x, y) in enumerate([(low, low), (high, high), (low, high), (0, high)][:vectors]):
        a[v], b[v] = x, y
    return {"a": a, "b": b}


def operand_range_of(width: int, signed: bool) -> tuple[int, int]:
    edges = edge_operands(width, signed)
    return int(edges.min()), int(edges.max())
