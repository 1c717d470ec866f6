"""``pim_channel``'s cycle model. The command schedule itself comes from the scheduler
(``hwgen.blocks.pim.schedule``), which the RTL's controller follows command for command; this
turns a schedule into the block's ``Estimate``."""

from __future__ import annotations

from ....core.block import Estimate
from .params import GEMV, LOAD


def estimate(runs, sequence, y_delay: int, banks: int, lanes: int, element_bits: int,
             acc_bits: int) -> Estimate:
    """``runs``: (accept cycle, read cycles) per GEMV from the scheduler; ``sequence``: the host
    beats (kind, row, beats, ...). The last result leaves ``y_delay`` cycles after its read (CL, or the MAC
    pipeline's latency where that is longer)."""
    element_bytes = (element_bits + 7) // 8
    reads = [cycle for _, cycles in runs for cycle in cycles]
    last_y = reads[-1] + y_delay if reads else -1
    loads = sum(1 for kind, *_ in sequence if kind == LOAD)
    columns = sum(beats for kind, _, beats, _ in sequence if kind == GEMV)
    return Estimate(
        cycles=last_y + 1,
        latency=y_delay,
        busy=max(0, last_y + 1 - y_delay),
        bytes_in=(loads * banks + columns) * lanes * element_bytes,
        bytes_out=len(reads) * banks * ((acc_bits + 7) // 8),
    )
