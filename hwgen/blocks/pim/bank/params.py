"""``pim_bank_mac``'s parameters: those of the shared bank MAC core it wraps, with pipeline
depths that follow the element and accumulator formats when they are not given.

The core's own defaults (``mul_latency=2``, ``level_latency=1``, ``acc_latency=0``: an in-order
one-cycle accumulation loop) are what the channel and the attention engine build; the block
takes, for a float accumulator, the depths the numerics library's measured Fmax table
(``hwgen.numerics.timing``) gives for its clock: each multiplier and tree adder at the
smallest latency reaching it plus the register after it, and an interleaved accumulator whose
adder reaches it too. Integer units keep the core's depths (their adds are carry chains)."""

from __future__ import annotations

import dataclasses

from ....core.params import ParamSet
from ....numerics import timing
from ...common.bank_mac.params import (PARAMS as CORE_PARAMS, control_hold, mac_latency, terms,
                                        tree_depth)
from ...common.dtypes import acc_format, acc_kind, dtype_rule, element_format

__all__ = ["PARAMS", "BANK_CLOCK_MHZ", "control_hold", "mac_latency", "tree_depth"]

# The clock the float defaults are chosen for, per accumulator format: the goals (100 MHz with
# an fp32 accumulator, 110 with a bf16 one) with a 10% margin, because the table measures one
# operator between registers while the block spreads 31 multipliers and tree adders and the
# accumulator's 8 or 16 adders over the die (with 5%, the fp32 adders at latency 7, 109.5 MHz
# in the table, held the block to 95.2-98.5 MHz).
BANK_CLOCK_MHZ = {"fp32": 110.0, "bf16": 121.0}


def _float_depth(operator: str, extra: int, fallback: str):
    def follows(p) -> int:
        # integers, and combinations the rules refuse (acc=fp32 with int8), keep the core's
        if dtype_rule(p, terms(p), "") or acc_kind(p["dtype"], p["acc"]) == "int":
            return CORE_PARAMS[fallback].default
        acc = acc_format(p["dtype"], p["acc"])
        fmt = element_format(p["dtype"]) if operator == "multiply" else acc
        return timing.latency_for(operator, fmt.name, BANK_CLOCK_MHZ[acc.name]) + extra
    return follows


_FOLLOWS = {
    "mul_latency": _float_depth("multiply", 1, "mul_latency"),
    "level_latency": _float_depth("add", 1, "level_latency"),
    "acc_latency": _float_depth("add", 0, "acc_latency"),
}

PARAMS = ParamSet(
    params=tuple(
        dataclasses.replace(param, follows=_FOLLOWS[param.name],
                            depends_on=tuple(dict.fromkeys(param.depends_on + ("dtype", "acc"))),
                            doc=param.doc + "; unset: from the measured Fmax table for "
                                "the block's clock (docs/pim_bank_mac.md, Parameters)")
        if param.name in _FOLLOWS else param
        for param in CORE_PARAMS),
    rules=CORE_PARAMS.rules,
)
