"""What the pim adapters compute, from their definition."""

from __future__ import annotations

import numpy as np

from ....numerics import golden as g
from ....numerics.formats import PRESETS
from .params import HOST_FIELDS

BF16 = PRESETS["bf16"]


def pack_vectors(elements: list, lanes: int) -> np.ndarray:
    """Vectors (lists of patterns) as beats of ``lanes``, each vector's last beat padded +0."""
    beats = []
    for vector in elements:
        padded = list(vector) + [0] * (-len(vector) % lanes)
        beats.extend(padded[i:i + lanes] for i in range(0, len(padded), lanes))
    return np.array(beats, dtype=np.uint64).reshape(-1, lanes)


def acc_to_bf16(acc, count, last, acc_format, lanes: int, ftz: bool) -> np.ndarray:
    """The first ``count`` accumulators of each beat, rounded to bf16 (RNE) unless they are bf16
    already, gathered into vectors that end at each ``last`` beat, packed ``lanes`` per beat."""
    vectors, current = [], []
    for values, used, end in zip(acc, count, last):
        if used:
            rounded = (g.fp_convert(values[:used], acc_format, BF16, ftz)
                       if acc_format.width == 32 else values[:used])
            current.extend(int(v) for v in rounded)
        if end:
            vectors.append(current)
            current = []
    # Elements after the final `last` leave only as whole beats.
    whole = len(current) - len(current) % lanes
    return pack_vectors(vectors + [current[:whole]], lanes)


def splice(host: dict, columns) -> dict:
    """Host beats with each ``splice`` beat's data taken from lane ``lane`` of the current
    run-time column (the next one after a ``pop``)."""
    out = {name: host[name].copy() for name in HOST_FIELDS}
    taken = 0
    for index in np.flatnonzero(host["splice"]):
        if taken >= len(columns):
            raise ValueError(f"pim_host_splice: splice beat {index} has no run-time column left")
        out["data"][index] = columns[taken][host["lane"][index]]
        taken += int(host["pop"][index])
    if taken != len(columns):
        raise ValueError(f"pim_host_splice: {len(columns) - taken} run-time columns are never popped")
    return {f"out_{name}": value for name, value in out.items()}
