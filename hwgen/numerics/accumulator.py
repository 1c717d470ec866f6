"""The shape of the pipelined floating-point accumulator (``hwgen.numerics.rtl.FloatAccumulator``):
how many partial sums its loop holds, how deep its reduction tree is, and its latency. Read by
the RTL, the block's model and the docs alike; no Amaranth here."""

from __future__ import annotations


def accumulator_geometry(adder_latency: int) -> dict[str, int]:
    """``slots`` (partial sums in the loop: the adder's registers plus the loop's input
    register), ``leaves`` and ``levels`` of the reduction tree (``leaves``: the power of two at
    or above ``slots``), and ``latency``: cycles from the edge accepting a sum's last element to
    its result at ``y`` (around the loop, the launch register, down the tree: each level an
    adder and a register)."""
    if adder_latency < 0:
        raise ValueError(f"adder_latency must be >= 0, not {adder_latency}")
    slots = adder_latency + 1
    levels = (slots - 1).bit_length()
    return {"slots": slots, "leaves": 1 << levels, "levels": levels,
            "latency": slots + 1 + levels * (adder_latency + 1)}
