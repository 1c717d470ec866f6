"""Where each pipelined operator puts its registers, per latency: the cut points (in datapath
order, the operator's ``CUTS``) that latency ``k`` registers. Placed by measurement, not by
hand: ``python bench/numerics_area.py --search-plans FloatAdder ...`` place-and-routes the
operator between registers on ECP5-85k (nextpnr seed 1) at fp16, bf16 and fp32, and latency
``k`` keeps latency ``k - 1``'s cuts plus the one cut that raises the slowest format's Fmax
most (a greedy search); its output is pasted here. Each plan ends at the latency past which
no cut shortens the critical path any more (an operator's largest ``latency``).

No Amaranth here: block parameters (the largest latency) read these plans too."""

from __future__ import annotations

# FloatMultiplier.CUTS: unpacked, partial, product, zeros, counted, normalized, rounded
# (measured 2026-12-06: latency 7 fp16 145.3, bf16 146.6, fp32 114.2 MHz)
MULTIPLY = {
    0: (),
    1: ("counted",),
    2: ("partial", "counted"),
    3: ("partial", "counted", "rounded"),
    4: ("partial", "zeros", "counted", "rounded"),
    5: ("partial", "zeros", "counted", "normalized", "rounded"),
    6: ("partial", "product", "zeros", "counted", "normalized", "rounded"),
    7: ("unpacked", "partial", "product", "zeros", "counted", "normalized", "rounded"),
}

# FloatAdder.CUTS: ordered, distance, aligned, sum, zeros, counted, normalized, rounded
# (measured 2026-12-06: latency 8 fp16 139.7, bf16 146.1, fp32 113.1 MHz)
ADD = {
    0: (),
    1: ("aligned",),
    2: ("aligned", "zeros"),
    3: ("aligned", "zeros", "counted"),
    4: ("ordered", "aligned", "zeros", "counted"),
    5: ("ordered", "aligned", "zeros", "counted", "normalized"),
    6: ("ordered", "distance", "aligned", "zeros", "counted", "normalized"),
    7: ("ordered", "distance", "aligned", "zeros", "counted", "normalized", "rounded"),
    8: ("ordered", "distance", "aligned", "sum", "zeros", "counted", "normalized", "rounded"),
}

# FloatFMA.CUTS: unpacked, distance, partial, aligned, sum, zeros, counted, normalized, rounded
# Latencies 1-3 as the greedy search placed them (its first steps, 2026-12-06, at fp16 and
# fp32); 4-9 not yet searched (a fp32 FMA takes nextpnr about 110 s, the search about 40
# minutes): placed by hand from the critical paths measured at every cut registered (the
# unpacking's three-operand exponent sum, then c's alignment shift beside the DSPs, then the
# normalizing shift of the 3p + 5-bit window), in the order the multiplier's and the adder's
# searches added their matching cuts.
FMA = {
    0: (),
    1: ("sum",),
    2: ("sum", "zeros"),
    3: ("partial", "sum", "zeros"),
    4: ("unpacked", "partial", "sum", "zeros"),
    5: ("unpacked", "partial", "sum", "zeros", "normalized"),
    6: ("unpacked", "distance", "partial", "sum", "zeros", "normalized"),
    7: ("unpacked", "distance", "partial", "aligned", "sum", "zeros", "normalized"),
    8: ("unpacked", "distance", "partial", "aligned", "sum", "zeros", "counted", "normalized"),
    9: ("unpacked", "distance", "partial", "aligned", "sum", "zeros", "counted", "normalized",
        "rounded"),
}


def max_latency(plan: dict[int, tuple[str, ...]]) -> int:
    """The largest latency a plan places registers for."""
    return max(plan)
