"""Where each pipelined operator puts its registers, per latency: the cut points (in datapath
order, the operator's ``CUTS``) that latency ``k`` registers. Placed by measurement, not by
hand: ``python bench/numerics_area.py --search-plans FloatAdder ...`` place-and-routes the
operator between registers on ECP5-85k (nextpnr seed 1) at fp16, bf16 and fp32, and latency
``k`` keeps latency ``k - 1``'s cuts plus the one cut that raises the slowest format's Fmax
most (a greedy search); its output is pasted here. Each plan ends at the latency past which
no cut shortens the critical path any more (an operator's largest ``latency``). The function
units' plans are ranks of kinds of cut point (below: ``FUNCTIONS``).

No Amaranth here: block parameters (the largest latency) read these plans too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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

# FloatFMA.CUTS: unpacked, distance, partial, aligned, sum, zeros, counted, grouped, normalized,
# rounded
# Placed by removing cuts from the full set one at a time (backward elimination, 2026-12-06, at
# fp16 and bf16; fp32 follows), twice: by `python bench/numerics_area.py --search-plans FloatFMA
# --plan-formats fp16 bf16 --from-full`, whose first step happened to leave out "partial", and
# by hand-run steps of the same procedure leaving out "aligned" first (for a one-DSP product the
# two are the same stage, and nextpnr's noise picks). Each latency takes the better of the two
# (the slower format's Fmax; they need not nest): 2, 3, 7 and 9 from the bench's run, the rest
# from the other.
FMA = {
    0: (),
    1: ("sum",),
    2: ("aligned", "counted"),
    3: ("aligned", "counted", "rounded"),
    4: ("distance", "sum", "counted", "rounded"),
    5: ("distance", "partial", "sum", "counted", "rounded"),
    6: ("distance", "partial", "sum", "counted", "grouped", "rounded"),
    7: ("unpacked", "distance", "aligned", "sum", "counted", "grouped", "rounded"),
    8: ("unpacked", "distance", "partial", "sum", "zeros", "counted", "grouped", "rounded"),
    9: ("unpacked", "distance", "aligned", "sum", "zeros", "counted", "grouped", "normalized",
        "rounded"),
    10: ("unpacked", "distance", "partial", "aligned", "sum", "zeros", "counted", "grouped",
         "normalized", "rounded"),
}


def max_latency(plan: dict[int, tuple[str, ...]]) -> int:
    """The largest latency a plan places registers for."""
    return max(plan)


# FloatMinMax.CUTS and FloatCompare.CUTS: classified (sign, magnitude, NaN of each operand),
# compared (the magnitude comparison)
COMPARE_POINTS = ("classified", "compared")
# (searched 2026-12-06 at fp16, bf16, fp32, both operators: latency 2 compare 197.2, 208.3, 176.8,
# minmax 166.1, 197.2, 159.1 MHz; latency 0 is 143.8 MHz or more already)
COMPARE = {0: (), 1: ("classified",), 2: ("classified", "compared")}

# FloatConverter.CUTS and IntToFloat.CUTS (one plan: the fp_convert block's latency means the
# same for both): unpacked (the input decoded: a float's fields, an integer's magnitude), then
# the finish (leading zeros, shift decided, normalized, rounded)
CONVERT_POINTS = ("unpacked", "zeros", "counted", "normalized", "rounded")
# (searched 2026-12-06 over fp32>fp16, fp32>bf16, fp16>fp32, int32>fp16, int32>fp32: latency 5
# 139.2, 148.3, 185.6, 144.4, 162.8 MHz)
CONVERT = {
    0: (),
    1: ("normalized",),
    2: ("counted", "normalized"),
    3: ("counted", "normalized", "rounded"),
    4: ("zeros", "counted", "normalized", "rounded"),
    5: ("unpacked", "zeros", "counted", "normalized", "rounded"),
}

# FloatToInt.CUTS: unpacked (range tests, shift amount), aligned (after the shifter), rounded
TO_INT_POINTS = ("unpacked", "aligned", "rounded")
# (searched 2026-12-06 over fp16, bf16, fp32 to int32: latency 3 157.7, 157.8, 133.3 MHz)
TO_INT = {0: (), 1: ("aligned",), 2: ("aligned", "rounded"), 3: ("unpacked", "aligned", "rounded")}


# -- the function units: cut points that repeat with their structure ---------------------------
#
# A reciprocal's Newton-Raphson steps or an exponential's Horner steps repeat, as many times as
# the unit's `iterations` or `degree` say, so their cut points come in kinds: `product1`,
# `product2`, ... are one kind, `product`. A function unit's plan is an order of kinds (RANK),
# found by the same greedy search at the unit's default structure, one kind at a time (all of
# its instances at once: the repeated stages are alike, so they are cut alike). Latency k
# registers the first k cut points ranked by kind, then in datapath order; kinds the search
# found no longer shorten the critical path are left out (never cut), so the largest latency is
# the number of ranked points; more registers go at the output.

# the normalization and rounding every function unit ends with (as FloatMultiplier's)
FINISH_POINTS = ("zeros", "counted", "normalized", "rounded")


def cut_kind(point: str) -> str:
    """A cut point's kind: its name without the step number (``product2`` -> ``product``)."""
    return point.rstrip("0123456789")


def reciprocal_points(iterations: int) -> tuple[str, ...]:
    """FloatReciprocal's cut points, in datapath order: the normalized operand and exponent
    (``operand``, before the seed table), the seed, each Newton-Raphson step's product ``m*y``,
    difference ``2 - m*y`` and new ``y``, then the finish."""
    return (("operand", "seed") + tuple(f"{kind}{step}" for step in range(1, iterations + 1)
                              for kind in ("product", "difference", "step")) + FINISH_POINTS)


def rsqrt_points(iterations: int) -> tuple[str, ...]:
    """FloatInverseSqrt's: the seed, each step's square ``y*y``, product ``mx*y*y``,
    difference ``3 - mx*y*y`` and new ``y``, then the finish."""
    return (("seed",) + tuple(f"{kind}{step}" for step in range(1, iterations + 1)
                              for kind in ("square", "product", "difference", "step"))
            + FINISH_POINTS)


def exp_points(degree: int) -> tuple[str, ...]:
    """FloatExp's: the operand decoded (``unpacked``), the partial products of its significand
    times log2(base) (``scaling``) and their sum (``product``), the fixed-point ``|t|``
    (``shifted``), ``t`` (``scaled``), the polynomial's (:func:`_horner_points`), then the
    finish."""
    return (("unpacked", "scaling", "product", "shifted", "scaled") + _horner_points(degree)
            + FINISH_POINTS)


def gelu_points(degree: int) -> tuple[str, ...]:
    """FloatGelu's: the fixed-point ``|a|`` (``fixed``), the polynomial's, ``Phi(a)``
    (``cdf``), the partial products of ``a * Phi(a)`` (``partial``) and their sum
    (``product``), then the finish."""
    return (("fixed",) + _horner_points(degree) + ("cdf", "partial", "product") + FINISH_POINTS)


def _horner_points(degree: int) -> tuple[str, ...]:
    """The polynomial's: the top coefficient read, then each Horner step's partial products,
    their floored sum and the next coefficient added."""
    return ("coefficient",) + tuple(f"{kind}{step}" for step in range(1, degree + 1)
                                    for kind in ("horner_partial", "horner_product", "horner"))


def ranked_plan(points: tuple[str, ...], rank: tuple[str, ...]) -> dict[int, tuple[str, ...]]:
    """Latency k -> the first k of ``points`` whose kind ``rank`` lists, ordered by the kind's
    place in ``rank``, then by datapath order (each latency's cuts given in datapath order)."""
    ranked = sorted((point for point in points if cut_kind(point) in rank),
                    key=lambda point: (rank.index(cut_kind(point)), points.index(point)))
    return {k: tuple(point for point in points if point in ranked[:k])
            for k in range(len(ranked) + 1)}


# The function units' ranks, from `python bench/numerics_area.py --search-ranks ...` (ECP5-85k,
# nextpnr seed 1, fp16 and bf16 at the default size; measured 2026-12-06):
# FloatReciprocal, iterations 1: latency 7 fp16 110.5, bf16 112.7 MHz (no cuts: 22.5, 23.0).
# "operand" (the leading-zero shift and exponent registered before the seed table) came after
# that search and is ranked last by hand, so latencies 0-7 keep their cuts: inside a large
# block the table's input register to its seed was the critical path with 10 ns of routing
# (attention_engine, 74.6 MHz at latency 7).
RECIPROCAL_RANK = ("difference", "normalized", "zeros", "seed", "step", "counted", "rounded", "operand")
# FloatInverseSqrt, iterations 2: latency 12 fp16 108.0, bf16 109.3 MHz (no cuts: 13.5, 16.1)
RSQRT_RANK = ("product", "counted", "square", "difference", "normalized", "step", "seed", "zeros")
# FloatExp, base e, table_bits 5, degree 2: latency 16 fp16 138.0, bf16 140.8 MHz (no cuts:
# 16.6, 18.7); every kind raised it
EXP_RANK = ("horner_product", "coefficient", "counted", "scaling", "normalized", "horner_partial",
            "scaled", "horner", "shifted", "rounded", "unpacked", "zeros", "product")
# FloatGelu, range 8, 64 segments, degree 3: latency 18 fp16 133.3, bf16 134.9 MHz (no cuts:
# 11.6, 11.9); every kind raised it
GELU_RANK = ("horner", "counted", "normalized", "fixed", "product", "coefficient", "cdf",
             "horner_partial", "rounded", "zeros", "partial", "horner_product")


@dataclass(frozen=True)
class FunctionPlan:
    """A function unit's cut points (``points(size)``, ``size`` its number of repeated steps:
    the parameter ``structure``), the order of their kinds (``rank``), and the size the rank and
    the measured table (``hwgen/numerics/fmax.json``) are for: the unit's default."""
    points: Callable[[int], tuple[str, ...]]
    rank: tuple[str, ...]
    structure: str
    default: int

    def plan(self, size: int | None = None) -> dict[int, tuple[str, ...]]:
        """Latency -> cuts at ``size`` (the default when None)."""
        return ranked_plan(self.points(self.default if size is None else size), self.rank)

    def latency_at(self, latency: int, size: int) -> int:
        """The latency at ``size`` that cuts the kinds ``latency`` cuts at the default size
        (all of their points: the repeated steps are alike, so the slowest stage, and the
        clock, stay as measured)."""
        if size == self.default:
            return latency
        kinds = {cut_kind(point) for point in self.plan()[latency]}
        return sum(cut_kind(point) in kinds for point in self.points(size))

    def max_latency(self, sizes) -> int:
        """The largest latency that still places a cut, over the sizes ``sizes``."""
        return max(max_latency(self.plan(size)) for size in sizes)


# the function units by operator name (as hwgen.numerics.timing names them); the default sizes
# are the units' defaults (FloatReciprocal(iterations=1), FloatInverseSqrt(iterations=2),
# FloatExp(degree=2), FloatGelu(degree=3)), which tests/numerics/test_timing.py checks
FUNCTIONS = {
    "reciprocal": FunctionPlan(reciprocal_points, RECIPROCAL_RANK, "iterations", 1),
    "rsqrt": FunctionPlan(rsqrt_points, RSQRT_RANK, "iterations", 2),
    "exp": FunctionPlan(exp_points, EXP_RANK, "degree", 2),
    "gelu": FunctionPlan(gelu_points, GELU_RANK, "degree", 3),
}
