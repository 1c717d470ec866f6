"""The measured speed of the pipelined operators, and the latency a clock target needs.

``fmax.json`` (beside this module) holds nextpnr's Fmax on the reference fabric (ECP5-85k,
seed 1, a register on every input and output of the operator) for each operator, format and
latency, written by ``python bench/numerics_area.py --write-docs``, with a hash of the operator
sources each operator's figures measured: a test fails when they have changed since (that
operator's figures are then stale).

No Amaranth here: block parameters (``target_mhz``) read the table."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from . import plans

# the operators the table measures, by name, with their plans (the accumulator's latency is
# that of its adders, so it follows the adder's plan; a function unit's is its plan at its
# default size, plans.FUNCTIONS)
PLANS = {"multiply": plans.MULTIPLY, "add": plans.ADD, "fma": plans.FMA, "accumulate": plans.ADD,
         "minmax": plans.COMPARE, "compare": plans.COMPARE, "convert": plans.CONVERT,
         "to_int": plans.TO_INT,
         **{name: function.plan() for name, function in plans.FUNCTIONS.items()}}
HERE = Path(__file__).resolve().parent
TABLE = HERE / "fmax.json"
# what each operator's figures depend on: its own sources, the shared pieces and its plan
SHARED_SOURCES = ("rtl/common.py", "formats.py")
SOURCES = {
    "multiply": ("rtl/mul.py",),
    "add": ("rtl/add.py",),
    "fma": ("rtl/fma.py",),
    "accumulate": ("rtl/accumulate.py", "rtl/add.py", "accumulator.py"),
    "minmax": ("rtl/compare.py",),
    "compare": ("rtl/compare.py",),
    "convert": ("rtl/convert.py", "rtl/finish.py"),
    "to_int": ("rtl/convert.py",),
    "reciprocal": ("rtl/recip.py", "rtl/finish.py"),
    "rsqrt": ("rtl/recip.py", "rtl/finish.py"),
    "exp": ("rtl/exp.py", "rtl/finish.py"),
    "gelu": ("rtl/exp.py", "rtl/finish.py"),
}
FABRIC = "ECP5-85k (LFE5UM-85F), nextpnr-ecp5 seed 1, registers on every operator input and output"


def source_hash(operator: str) -> str:
    """sha256 over the sources ``operator``'s figures measure (their text, in a fixed order)
    and its plan (each latency's cuts)."""
    digest = hashlib.sha256()
    for name in SOURCES[operator] + SHARED_SOURCES:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    digest.update(repr(sorted(PLANS[operator].items())).encode())
    return digest.hexdigest()


@functools.cache
def table() -> dict:
    """``{"fabric": ..., "fmax": {operator: {format: [MHz per latency]}},
    "source_hash": {operator: sha256 of what was measured}}``."""
    return json.loads(TABLE.read_text())


def latency_for(operator: str, fmt: str, target_mhz: float) -> int:
    """The smallest latency at which ``operator`` at ``fmt`` (for a conversion, both ends:
    ``"fp32>bf16"``) reaches ``target_mhz`` on the reference fabric. ``ValueError`` (one
    line: what is measured, the best reachable) when no latency does, or the table has no
    figures for that operator and format."""
    measured = table()["fmax"].get(operator, {})
    if fmt not in measured:
        raise ValueError(f"target_mhz={target_mhz:g}: no measured Fmax for {operator} at "
                         f"fmt={fmt!r} (measured: {', '.join(sorted(measured)) or 'none'}); "
                         f"give latency instead")
    for latency, fmax in enumerate(measured[fmt]):
        if fmax >= target_mhz:
            return latency
    best = max(measured[fmt])
    raise ValueError(f"target_mhz={target_mhz:g} is beyond {operator} at fmt={fmt!r}: its best is "
                     f"{best:.1f} MHz (latency {measured[fmt].index(best)}) on ECP5-85k; "
                     f"allowed up to {best:.1f}")
