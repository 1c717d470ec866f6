"""The shape of the spaced floating-point accumulator (``hwgen.numerics.rtl.SpacedFloatAccumulator``):
how many partial sums a stream whose elements come ``spacing`` cycles apart needs, and its
latency. Read by the RTL, the block models and the docs alike; no Amaranth here. (A module of
its own: ``accumulator.py``'s text is part of the measured accumulator's source hash.)"""

from __future__ import annotations


SPACED_MAX_SLOTS = 2


def spaced_slots(adder_latency: int, spacing: int) -> int:
    """The partial sums elements ``spacing`` cycles apart need: one element's trip through the
    loop (an input register, the adder's ``adder_latency`` registers, the partial sum's
    register: ``adder_latency + 2`` cycles) over the spacing, rounded up."""
    return -(-(adder_latency + 2) // spacing)


def spaced_accumulator_geometry(adder_latency: int, spacing: int) -> dict[str, int]:
    """The shape of ``SpacedFloatAccumulator``: elements at least ``spacing`` cycles apart go
    round robin to ``slots`` partial sums (:func:`spaced_slots`), so that a partial sum is
    ready when its next element comes; 1 or 2 (``ValueError`` beyond: FloatAccumulator serves denser streams).
    ``latency``: cycles from a sum's last element (``x_valid``) to its result (``y_valid``):
    the element's trip, then, with two partial sums, one more add of the two."""
    if adder_latency < 0 or spacing < 1:
        raise ValueError(f"adder_latency must be >= 0 and spacing >= 1, not {adder_latency}, {spacing}")
    trip = adder_latency + 2
    slots = spaced_slots(adder_latency, spacing)
    if slots > SPACED_MAX_SLOTS:
        raise ValueError(f"spacing={spacing} is too short for adder_latency={adder_latency}: "
                         f"{slots} partial sums; allowed spacing >= {-(-trip // SPACED_MAX_SLOTS)}")
    return {"slots": slots, "latency": trip if slots == 1 else 2 * trip}
