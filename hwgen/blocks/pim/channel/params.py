"""``pim_channel``'s parameters and the constants its RTL, golden model and host programs share."""

from __future__ import annotations

import dataclasses

from ....core.params import Param, ParamSet
from ...common import dtypes
from ...common.bank_mac.params import MAX_MUL_LATENCY, PARAMS as CORE_PARAMS, acc_latency_rule
from ..bank.params import follow_float_depths
from ..timing import timing_rule

LOAD, GEMV = 0, 1   # host beat kinds
HOST_FIELDS = ("kind", "row", "col", "slots", "beats", "last_count", "mask", "data")


def _geometry_rule(p) -> str | None:
    if p["banks"] % p["bank_groups"]:
        return f"banks={p['banks']} is not a multiple of bank_groups={p['bank_groups']}: allowed banks divisible by it"
    return None


def _dtype_rule(p) -> str | None:
    return dtypes.dtype_rule(p, p["gb_columns"] * p["lanes"], "a row of gb_columns x lanes elements")


# The bank MACs' accumulator sees a MAC_ABK every tCCD_L cycles at most (docs/pim_channel.md)
_SPACED_ACC_LATENCY = dataclasses.replace(
    CORE_PARAMS["acc_latency"],
    doc="registers in the float accumulation adder: 0 = a one-cycle loop, every MAC added in "
        "order; k > 0 = with MAC_ABKs tCCD_L apart, ceil((k + 2) / tCCD_L) partial sums where "
        "that is at most 2 (the spaced accumulator), else k + 1 interleaved ones (docs/pim_channel.md)")

PARAMS = ParamSet(
    params=(
        Param("banks", int, 16, "banks (each with a MAC unit) in the channel", min=1, max=32),
        Param("bank_groups", int, 4, "bank groups (ACT and column spacing rules); unset, 4 or the "
              "largest of 2, 1 that divides banks", choices=(1, 2, 4), depends_on=("banks",),
              follows=lambda p: next(g for g in (4, 2, 1) if p["banks"] % g == 0)),
        Param("lanes", int, 16, "elements per column access (one MAC_ABK beat per bank)", min=1, max=32),
        Param("dtype", str, "bf16", "element type", choices=dtypes.DTYPES),
        Param("acc", str, "auto", "accumulator: fp32/bf16 for floats, int for integers", choices=dtypes.ACCS,
              depends_on=("dtype",)),
        Param("acc_width", int, 0, "integer accumulator bits (0 = exact minimum)", min=0, max=dtypes.MAX_INT_ACC,
              depends_on=("dtype", "lanes", "gb_columns")),
        Param("row_columns", int, 64, "column accesses per DRAM row", min=1, max=256),
        Param("bank_rows", int, 64, "DRAM rows per bank held by the model", min=1, max=4096),
        Param("gb_columns", int, 64, "global buffer size in columns (longest row: gb_columns x lanes)", min=1, max=256),
        Param("timing", str, "gddr6_2000", "timing preset, optionally ',NAME=cycles' overrides"),
        Param("ftz", bool, False, "flush subnormals to zero in the MAC units"),
        # the bank MAC units' pipeline depths, as pim_bank_mac chooses them, but for the
        # multipliers': the vector column reaches banks x lanes multipliers from one register
        # (the copies are one flip-flop after synthesis), spread over the die's DSP rows, so a
        # float multiplier takes every cut of its plan and its DSP sees registered operands
        # (at pim_bank_mac's 5 the flow point closed at 94.3 MHz: that register, 5.7 ns of
        # routing, the DSP)
        *follow_float_depths(
            (_SPACED_ACC_LATENCY if name == "acc_latency" else CORE_PARAMS[name]
             for name in ("mul_latency", "level_latency", "acc_latency")),
            lambda p: p["gb_columns"] * p["lanes"],
            float_overrides={"mul_latency": (MAX_MUL_LATENCY, "every cut of the multiplier's plan "
                                             "(the vector's fan-out)")}),
    ),
    rules=(_geometry_rule, _dtype_rule, timing_rule, acc_latency_rule),
)
