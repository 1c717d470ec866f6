"""Performance model of ``requant``: one sample per cycle through a single output register."""

from __future__ import annotations

from ...core.block import Estimate

LATENCY = 1


def estimate(samples: int, in_width: int, out_width: int) -> Estimate:
    return Estimate(
        cycles=samples + LATENCY if samples else 0,
        latency=LATENCY,
        busy=samples,
        bytes_in=samples * ((in_width + 7) // 8),
        bytes_out=samples * ((out_width + 7) // 8),
    )
