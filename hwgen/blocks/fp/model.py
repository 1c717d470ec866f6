"""Performance model of the floating-point blocks: one result per cycle, fully pipelined.

Each operand beat passes the operator's ``latency`` registers and the stream's output register,
so the last of ``n`` results leaves ``latency + 1`` edges after the last beat was accepted.
"""

from __future__ import annotations

from ...core.block import Estimate
from ...numerics.accumulator import accumulator_geometry


def pipeline_latency(latency: int) -> int:
    return latency + 1


def _bytes(bits: int) -> int:
    return (bits + 7) // 8


def estimate(n: int, operand_bits: tuple[int, ...], result_bits: int, latency: int) -> Estimate:
    """``n`` operand beats; each operand and the result is moved in whole bytes."""
    total = pipeline_latency(latency)
    return Estimate(
        cycles=n + total if n else 0,
        latency=total,
        busy=n,
        bytes_in=n * sum(_bytes(bits) for bits in operand_bits),
        bytes_out=n * _bytes(result_bits),
    )


def accumulate_latency(adder_latency: int) -> int:
    """Edges from accepting a sum's last element to its result leaving the block: the
    accumulator's latency and the stream's output register."""
    return accumulator_geometry(adder_latency)["latency"] + 1


def accumulate_estimate(elements: int, sums: int, width: int, adder_latency: int) -> Estimate:
    """``elements`` values in ``sums`` runs, one accepted per cycle: the last sum leaves
    ``accumulate_latency`` edges after the last element (nothing waits for a next sum)."""
    total = accumulate_latency(adder_latency)
    return Estimate(
        cycles=elements + total if elements else 0,
        latency=total,
        busy=elements,
        bytes_in=elements * _bytes(width + 1),
        bytes_out=sums * _bytes(width),
    )
