"""The attention engine's pipeline: each operator's latency for the clock target and the depth
of the units built from them (docs/attention.md, "Microarchitecture"). Plain Python: the RTL
builds its registers from these numbers and the cycle model counts with them, so the two
cannot drift apart.

Every operator is followed by a register, so an operator of latency ``L`` fed from registers
has its result ``L + 1`` edges later (its *step*)."""

from __future__ import annotations

import functools

from ...numerics import timing

TARGET_MHZ = 100.0
"""The clock the operators' latencies are chosen for. The engine's goal is 75 MHz on ECP5-85k;
the measured table (``hwgen.numerics.timing``) times one operator between registers, and an
engine spreads dozens of them with its memories and control over the die, which cost
``pim_vector_unit`` 10-25% against the table (docs/pim_vector_unit.md): hence the margin."""

# The operators by role: (operator name, format) in the measured table, with "D" standing for
# the engine's element format. The score GeMV's products are D x D -> fp32 without rounding
# (exact), timed as the D multiplier, whose rounding they skip.
OPERATORS = {
    "mul_d": ("multiply", "D"),      # q[i] * K[t, i], exact in fp32
    "add32": ("add", "fp32"),        # the score GeMV's trees
    "mul32": ("multiply", "fp32"),   # s = sum * 1/sqrt(head_dim)
}


@functools.cache
def latencies(dtype: str, target_mhz: float = TARGET_MHZ) -> dict[str, int]:
    """Each role's latency at ``dtype``: the smallest whose measured Fmax reaches
    ``target_mhz``."""
    return {role: timing.latency_for(name, dtype if fmt == "D" else fmt, target_mhz)
            for role, (name, fmt) in OPERATORS.items()}


def step(latency: int) -> int:
    """Edges from an operator's registered operands to the register after it."""
    return latency + 1


def levels(count: int) -> int:
    """Levels of a pairwise tree over ``count`` (a power of two) values."""
    return count.bit_length() - 1


def score_stages(dtype: str, lanes: int, head_dim: int) -> int:
    """Edges from the one that takes a row's last K beat to the one that registers its score:
    the beat and its q elements registered; the ``lanes`` products; a pairwise fp32 tree over
    them; the serial pairwise tree over the row's ``head_dim / lanes`` beat sums (each level
    adds a pair when its second element arrives, so a row's last beat goes through every
    level); the scale multiply."""
    lat = latencies(dtype)
    return (1 + step(lat["mul_d"]) + (levels(lanes) + levels(head_dim // lanes)) * step(lat["add32"])
            + step(lat["mul32"]))
