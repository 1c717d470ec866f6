"""The bank MAC core's parameters and pipeline depth: plain Python, so that models and golden
code may use them without importing the RTL."""

from __future__ import annotations

from ....core.params import Param, ParamSet
from ....numerics.accumulator import accumulator_geometry
from ....numerics.spaced_accumulator import SPACED_MAX_SLOTS, spaced_accumulator_geometry, spaced_slots
from ....numerics.plans import ADD, MULTIPLY, max_latency
from ..dtypes import ACCS, DTYPES, acc_kind, dtype_rule

MUL_LATENCY = 2    # registers in each multiplier: one inside (its plan's first cut) and one after it
LEVEL_LATENCY = 1  # registers per adder-tree level
# An operator's stages are timed between registers, so each multiplier and tree adder is followed
# by a register: `mul_latency` and `level_latency` count it, the rest go inside by the plan.
MAX_MUL_LATENCY = max_latency(MULTIPLY) + 1
MAX_LEVEL_LATENCY = max_latency(ADD) + 1
MAX_ACC_LATENCY = max_latency(ADD)


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
        Param("mul_latency", int, MUL_LATENCY, "pipeline registers in each multiplier (the "
              "last after it)", min=0, max=MAX_MUL_LATENCY),
        Param("level_latency", int, LEVEL_LATENCY, "pipeline registers per adder-tree level (the "
              "last after the adder)", min=0, max=MAX_LEVEL_LATENCY),
        Param("acc_latency", int, 0, "registers in the float accumulation adder: 0 = a one-cycle "
              "loop, every MAC added in order; k > 0 = k + 1 interleaved partial sums reduced by "
              "a tree on each read (docs/pim_bank_mac.md), with loads and reads holding the "
              "operations back until the sum is out", min=0, max=MAX_ACC_LATENCY,
              depends_on=("dtype", "acc")),
        Param("mac_spacing", int, 1, "the fewest cycles between two strobes that the user "
              "guarantees (a PIM channel: tCCD_L); with acc_latency > 0 and room for it, the "
              "accumulator is one adder and 1 or 2 partial sums (SpacedFloatAccumulator) instead "
              "of acc_latency + 1 and a tree", min=1, max=64),
    ),
    rules=(lambda p: dtype_rule(p, terms(p), "max_beats x lanes"), lambda p: acc_latency_rule(p)),
)


def acc_latency_rule(p) -> str | None:
    if p["acc_latency"] and acc_kind(p["dtype"], p["acc"]) == "int":
        return (f"acc_latency={p['acc_latency']}: an integer accumulator adds in one cycle; "
                f"allowed only 0 with dtype={p['dtype']!r} (a float accumulator takes 0..{MAX_ACC_LATENCY})")
    return None


def accumulator_shape(acc_latency: int, mac_spacing: int = 1) -> dict:
    """The float accumulator a core builds: ``kind`` "loop" (``acc_latency`` 0, in order),
    "spaced" (``SpacedFloatAccumulator``: strobes ``mac_spacing`` > 1 apart leave room for one
    adder and at most two partial sums) or "interleaved" (``FloatAccumulator``); its ``slots``
    (partial sums: the order of ``fp_accumulate``) and ``latency``."""
    if not acc_latency:
        return {"kind": "loop", "slots": 0, "latency": 0}
    if mac_spacing > 1 and spaced_slots(acc_latency, mac_spacing) <= SPACED_MAX_SLOTS:
        return {"kind": "spaced", **spaced_accumulator_geometry(acc_latency, mac_spacing)}
    geometry = accumulator_geometry(acc_latency)
    return {"kind": "interleaved", "slots": geometry["slots"], "latency": geometry["latency"]}


def control_hold(acc_latency: int, mac_spacing: int = 1) -> int:
    """Cycles after a load or read during which no operation may be issued: the accumulator
    closes its sum with the control operation and starts the next one when the sum is out
    (the element register in front of it, then the accumulator's latency), and the element
    after that start keeps the spacing. 0 for the one-cycle loop."""
    shape = accumulator_shape(acc_latency, mac_spacing)
    if shape["kind"] == "loop":
        return 0
    return shape["latency"] + (mac_spacing if shape["kind"] == "spaced" else 1)


def tree_depth(lanes: int) -> int:
    """Adder levels that reduce ``lanes`` products to one: ceil(log2(lanes))."""
    return (lanes - 1).bit_length()


def mac_latency(dtype: str = "bf16", acc: str = "auto", lanes: int = 16, *,
                mul_latency: int = MUL_LATENCY, level_latency: int = LEVEL_LATENCY) -> int:
    """Cycles from a ``mac`` (or ``load``) strobe until ``acc`` shows its effect: the strobe in
    cycle t is in ``acc`` from cycle t + mac_latency on. The same for every dtype and
    accumulator: the multiplier, each tree level, the beat-sum register and the accumulator.
    (With ``acc_latency`` > 0 the strobe reaches the interleaved accumulator in cycle
    t + mac_latency - 1; a read's sum leaves ``control_hold`` cycles later.)"""
    del dtype, acc  # the pipeline has the same shape for every format
    return mul_latency + tree_depth(lanes) * level_latency + 2
