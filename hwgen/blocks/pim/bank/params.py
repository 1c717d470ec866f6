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

__all__ = ["PARAMS", "BANK_CLOCK_MHZ", "control_hold", "float_depth", "follow_float_depths",
           "mac_latency", "tree_depth"]

# The clock the float defaults are chosen for, per accumulator format: the goals (100 MHz with
# an fp32 accumulator, 110 with a bf16 one) with a 10% margin, because the table measures one
# operator between registers while the block spreads 31 multipliers and tree adders and the
# accumulator's 8 or 16 adders over the die (with 5%, the fp32 adders at latency 7, 109.5 MHz
# in the table, held the block to 95.2-98.5 MHz).
BANK_CLOCK_MHZ = {"fp32": 110.0, "bf16": 121.0}


def float_depth(name: str, dtype: str, acc: str) -> int | None:
    """The pipeline depth ``name`` (``mul_latency``, ``level_latency`` or ``acc_latency``) that
    a float accumulator needs at ``BANK_CLOCK_MHZ``, from the measured Fmax table: each
    multiplier and tree adder at the smallest latency reaching the clock plus the register
    after it, the accumulator's adder at the smallest latency reaching it. ``None`` for an
    integer accumulator (the core's depths serve: its adds are carry chains)."""
    if acc_kind(dtype, acc) == "int":
        return None
    fmt = acc_format(dtype, acc)
    operator, extra = _DEPTHS[name]
    operand = element_format(dtype) if operator == "multiply" else fmt
    return timing.latency_for(operator, operand.name, BANK_CLOCK_MHZ[fmt.name]) + extra


_DEPTHS = {"mul_latency": ("multiply", 1), "level_latency": ("add", 1), "acc_latency": ("add", 0)}


def follow_float_depths(params, terms_of, float_overrides=None) -> tuple:
    """``params`` (the core's, or a block's copy of them) with ``mul_latency``,
    ``level_latency`` and ``acc_latency`` following :func:`float_depth` when unset.
    ``terms_of(p)``: the products an integer accumulator must hold (for the dtype rule:
    combinations the rules refuse keep the core's defaults, so the rule reports them).
    ``float_overrides``: name -> (depth, why) for a block that takes another depth than the
    table's for a float accumulator (``why`` completes the parameter's doc)."""
    overrides = dict(float_overrides or {})

    def follows(name):
        def depth(p) -> int:
            chosen = None if dtype_rule(p, terms_of(p), "") else float_depth(name, p["dtype"], p["acc"])
            if chosen is not None and name in overrides:
                chosen = overrides[name][0]
            return CORE_PARAMS[name].default if chosen is None else chosen
        return depth

    def doc(name):
        if name in overrides:
            return f"; unset: {overrides[name][1]} for a float accumulator"
        return "; unset: from the measured Fmax table for the bank's clock (docs/pim_bank_mac.md, Parameters)"
    return tuple(
        dataclasses.replace(param, follows=follows(param.name),
                            depends_on=tuple(dict.fromkeys(param.depends_on + ("dtype", "acc"))),
                            doc=param.doc + doc(param.name))
        if param.name in _DEPTHS else param
        for param in params)


# (every core parameter but mac_spacing: the block's stream may issue an operation every cycle)
PARAMS = ParamSet(params=follow_float_depths([param for param in CORE_PARAMS if param.name != "mac_spacing"], terms),
                  rules=CORE_PARAMS.rules)
