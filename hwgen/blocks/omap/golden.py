"""The map's answers from a Python dict (issue 7, golden model (a)).

Written from docs/omap.md, not from the RTL or ``reference.py``: a PUT of a new key is
refused when the map already holds ``capacity`` keys (error 2) or when the key's position-map
bucket already holds ``ways`` keys (error 1). Bucket of a key: fold it to 32 bits (low XOR
high word), multiply by 0x9E3779B1 modulo 2^32, keep the top log2(buckets) bits; buckets is
the smallest power of two (at least 2) not below 4 * capacity / ways.
"""

from __future__ import annotations

import numpy as np

GET, PUT, DELETE, LOAD = 0, 1, 2, 3


def _buckets(capacity: int, ways: int) -> int:
    need = -(-4 * capacity // ways)
    count = 2
    while count < need:
        count *= 2
    return count


def _bucket(key: int, buckets: int) -> int:
    folded = (key ^ (key >> 32)) & 0xFFFFFFFF
    return (folded * 0x9E3779B1 % (1 << 32)) * buckets >> 32


def map_answers(ops, keys, values, *, capacity: int, ways: int) -> dict[str, np.ndarray]:
    """found, value_out (the value before the request, 0 when absent) and error per request."""
    store: dict[int, int] = {}
    per_bucket: dict[int, int] = {}
    buckets = _buckets(capacity, ways)
    found, value_out, error = [], [], []
    for op, key, value in zip(ops, keys, values):
        op, key, value = int(op), int(key), int(value)
        if op not in (GET, PUT, DELETE, LOAD):
            raise ValueError(f"op={op} is out of range: allowed 0 (GET), 1 (PUT), 2 (DELETE), 3 (LOAD)")
        present = key in store
        found.append(int(present))
        value_out.append(store.get(key, 0))
        code = 0
        if op in (PUT, LOAD):
            if present:
                store[key] = value
            elif len(store) >= capacity:
                code = 2
            elif per_bucket.get(_bucket(key, buckets), 0) >= ways:
                code = 1
            else:
                store[key] = value
                per_bucket[_bucket(key, buckets)] = per_bucket.get(_bucket(key, buckets), 0) + 1
        elif op == DELETE and present:
            del store[key]
            per_bucket[_bucket(key, buckets)] -= 1
        error.append(code)
    as_array = lambda xs: np.asarray(xs, dtype=np.uint64)  # noqa: E731
    return {"found": as_array(found), "value_out": as_array(value_out), "error": as_array(error)}
