"""The bank MAC core's parameters and pipeline depth: plain Python, so that models and golden
code may use them without importing the RTL."""

from __future__ import annotations

from ....core.params import Param, ParamSet
from ..dtypes import ACCS, DTYPES, dtype_rule

MUL_LATENCY = 2    # registers in each multiplier: after the significand product and after normalizing
LEVEL_LATENCY = 1  # registers per adder-tree level


def terms(p) -> int:
    return p["max_beats"] * p["lanes"]


PARAMS = ParamSet(
    params=(
        Param("dtype", str, "bf16", "element format of weights and vector", choices=DTYPES),
        Param("acc", str, "auto", "accumulator: auto (fp32 for floats, int for integers), fp32, "
              "bf16 (dtype bf16 only) or int", choices=ACCS, depends_on=("dtype",)),
        Param("acc_width", int, 0, "integer accumulator width; 0 = the narrowest that holds "
              "max_beats x lanes products", min=0, max=64, depends_on=("dtype", "lanes", "max_beats")),
        Param("lanes", int, 16, "elements per column access (multipliers)", min=1, max=64),
        Param("max_beats", int, 64, "beats accumulated between clears that an integer "
              "accumulator holds exactly", min=1, max=4096),
        Param("ftz", bool, False, "flush subnormal operands and results to zero (every float operator)"),
        Param("mul_latency", int, MUL_LATENCY, "pipeline registers in each multiplier", min=0, max=3),
        Param("level_latency", int, LEVEL_LATENCY, "pipeline registers per adder-tree level",
              min=0, max=3),
    ),
    rules=(lambda p: dtype_rule(p, terms(p), "max_beats x lanes"),),
)


def tree_depth(lanes: int) -> int:
    """Adder levels that reduce ``lanes`` products to one: ceil(log2(lanes))."""
    return (lanes - 1).bit_length()


def mac_latency(dtype: str = "bf16", acc: str = "auto", lanes: int = 16, *,
                mul_latency: int = MUL_LATENCY, level_latency: int = LEVEL_LATENCY) -> int:
    """Cycles from a ``mac`` (or ``load``) strobe until ``acc`` shows its effect: the strobe in
    cycle t is in ``acc`` from cycle t + mac_latency on. The same for every dtype and
    accumulator: the multiplier, each tree level, the beat-sum register and the accumulator."""
    del dtype, acc  # the pipeline has the same shape for every format
    return mul_latency + tree_depth(lanes) * level_latency + 2
