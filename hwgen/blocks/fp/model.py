"""Performance model of the floating-point blocks: one result per cycle, fully pipelined.

Each operand pair passes the operator's ``latency`` registers and the stream's output register,
so the last of ``n`` results leaves ``latency + 1`` edges after the last pair was accepted.
"""

from __future__ import annotations

from ...core.block import Estimate


def pipeline_latency(latency: int) -> int:
    return latency + 1


def estimate(n: int, width: int, latency: int) -> Estimate:
    total = pipeline_latency(latency)
    word = (width + 7) // 8
    return Estimate(
        cycles=n + total if n else 0,
        latency=total,
        busy=n,
        bytes_in=n * 2 * word,
        bytes_out=n * word,
    )
