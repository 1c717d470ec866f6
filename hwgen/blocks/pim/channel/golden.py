"""Golden model of ``pim_channel`` (NumPy only, no Amaranth): the modelled bank arrays, written
by LOAD beats and read by GEMVs in the mapping's layout, with every bank's accumulator computed
by the bank MAC's own golden model (``mac_golden.dot_rows``); and the channel's random stimulus.
"""

from __future__ import annotations

import numpy as np

from ....numerics import golden
from ...common import dtypes
from ..bank import golden as mac_golden
from ..mapping import column_address

from .params import LOAD


def as_elements(values, dtype: str) -> np.ndarray:
    """Elements as the MAC golden model takes them: float patterns, or signed integers (raw
    fields may carry two's-complement patterns, as unpacked from beats)."""
    bits = dtypes.element_bits(dtype)
    values = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    if dtypes.is_float(dtype):
        return values
    return values - ((values >> (bits - 1)) << bits)


def interpret(raw, banks: int, lanes: int, row_columns: int, bank_rows: int, dtype: str,
              acc: str, acc_bits: int, ftz: bool, acc_slots: int = 0) -> dict:
    """The golden model of a channel's host beat sequence (raw fields ``host_*`` and
    ``x_columns``): LOADs write the modelled arrays (element-masked), each GEMV takes its
    ``beats`` x columns in order and returns one y beat per slot (``y_acc`` patterns,
    ``y_count``, ``y_last``). ``acc_slots``: the bank accumulators' partial sums (0: in
    order; else ``accumulator_shape``'s slots: 2 for the spaced accumulator at tCCD_L = 6,
    ``acc_latency + 1`` for the interleaved one; every slot a sum that starts at +0, as after
    an RD_MAC's clear)."""
    arrays = np.zeros((banks, bank_rows * row_columns, lanes), dtype=np.int64)
    columns = as_elements(raw["x_columns"], dtype).reshape(-1, lanes)
    data_all = as_elements(raw["host_data"], dtype).reshape(-1, banks, lanes)
    masks = np.asarray(raw["host_mask"]).reshape(-1, banks, lanes).astype(bool)
    taken = 0
    y_acc, y_count, y_last = [], [], []
    for index, kind in enumerate(np.asarray(raw["host_kind"]).tolist()):
        row, col = int(raw["host_row"][index]), int(raw["host_col"][index])
        if kind == LOAD:
            written = arrays[:, row * row_columns + col, :]
            written[masks[index]] = data_all[index][masks[index]]
            continue
        slot_count, beats = int(raw["host_slots"][index]), int(raw["host_beats"][index])
        vector = columns[taken:taken + beats]
        if len(vector) < beats:
            raise ValueError(f"pim_channel: GEMV {int(np.sum(y_last))} needs {beats} x columns, "
                             f"only {len(vector)} are left")
        taken += beats
        where = [column_address(s, b, beats, row_columns, row) for s in range(slot_count) for b in range(beats)]
        addresses = np.array([r * row_columns + c for r, c in where]).reshape(slot_count, beats)
        weights = arrays[:, addresses, :].transpose(1, 0, 2, 3).reshape(slot_count * banks, beats, lanes)
        y = mac_golden.dot_rows(weights, vector, dtype, acc, acc_bits=acc_bits, ftz=ftz, slots=acc_slots)
        y = np.asarray([int(v) & ((1 << acc_bits) - 1) for v in y], dtype=object)
        for slot in range(slot_count):
            y_acc.append(y[slot * banks:(slot + 1) * banks])
            final = slot == slot_count - 1
            y_count.append(int(raw["host_last_count"][index]) if final else banks)
            y_last.append(int(final))
    if taken != len(columns):
        raise ValueError(f"pim_channel: {len(columns) - taken} x columns are left over after the GEMVs")
    return {"y_acc": np.array(y_acc, dtype=object).reshape(-1, banks),
            "y_count": np.array(y_count, dtype=np.int64), "y_last": np.array(y_last, dtype=np.int64)}


def element_stimulus(rng, dtype: str, shape) -> np.ndarray:
    """Random elements of ``dtype``: floats as bit patterns, mostly of magnitude near 1 so sums
    stay finite and cancel partly, with zeros of both signs, the largest finite values,
    subnormals, infinities and NaN sprinkled in; integers uniform with the extremes."""
    if not dtypes.is_float(dtype):
        bits = dtypes.element_bits(dtype)
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        values = rng.integers(low, high, size=shape, endpoint=True)
        extremes = min(4, values.size)
        values.reshape(-1)[:extremes] = [low, high, 0, -1][:extremes]
        return values
    fmt = dtypes.element_format(dtype)
    values = golden.encode(rng.normal(0.0, 1.0, size=shape), fmt)
    specials = np.array([0, 1 << (fmt.width - 1), fmt.inf(0) - 1, fmt.inf(1) - 1, 1,
                         (1 << fmt.man_bits) - 1, fmt.inf(0), fmt.inf(1), fmt.canonical_nan],
                        dtype=np.uint64)
    flat = values.reshape(-1)
    chosen = rng.random(flat.size) < 0.005
    flat[chosen] = rng.choice(specials, size=int(chosen.sum()))
    return values.astype(np.int64)
