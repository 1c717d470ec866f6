"""Analytical performance model of ``mac_array``.

The array accepts one beat per cycle and never stalls itself, so ``vectors * vector_length``
input beats occupy the input port for as many cycles. Each beat then passes the product
register, ``tree_stages`` adder-tree registers and the accumulator/output register before its
vector's result is handed over: the last result leaves ``tree_stages + 2`` edges after the last
beat was accepted.
"""

from __future__ import annotations

from ...core.block import Estimate


def pipeline_latency(tree_stages: int) -> int:
    return tree_stages + 2


def estimate(vectors: int, vector_length: int, lanes: int, width: int, tree_stages: int,
             acc_width: int) -> Estimate:
    busy = vectors * vector_length
    latency = pipeline_latency(tree_stages)
    operand_bytes = (width + 7) // 8
    return Estimate(
        cycles=busy + latency if vectors else 0,
        latency=latency,
        busy=busy,
        bytes_in=busy * lanes * 2 * operand_bytes,
        bytes_out=vectors * ((acc_width + 7) // 8),
    )
