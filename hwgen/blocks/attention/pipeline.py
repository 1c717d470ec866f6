"""The attention engine's pipeline: each operator's latency for the clock target and the depth
of the units built from them (docs/attention.md, "Microarchitecture"). Plain Python: the RTL
builds its registers from these numbers and the cycle model counts with them, so the two
cannot drift apart.

Every operator is followed by a register, so an operator of latency ``L`` fed from registers
has its result ``L + 1`` edges later (its *step*)."""

from __future__ import annotations

import functools

from ...numerics import timing
from ...numerics.accumulator import accumulator_geometry

TARGET_MHZ = 100.0
"""The clock the operators' latencies are chosen for. The engine's goal is 75 MHz on ECP5-85k;
the measured table (``hwgen.numerics.timing``) times one operator between registers, and an
engine spreads dozens of them with its memories and control over the die, which cost
``pim_vector_unit`` 10-25% against the table (docs/pim_vector_unit.md): hence the margin."""

# The operators by role: (operator name, format) in the measured table, with "D" standing for
# the engine's element format. The score GeMV's products are D x D -> fp32 without rounding
# (exact), timed as the D multiplier, whose rounding they skip.
OPERATORS = {
    "mul_d": ("multiply", "D"),      # q[i] * K[t, i] and p * V[t, d], exact in fp32; e_t * r in D
    "add32": ("add", "fp32"),        # the score GeMV's trees
    "mul32": ("multiply", "fp32"),   # s = sum * 1/sqrt(head_dim)
    "fma32": ("fma", "fp32"),        # the V GeMV: o[d] = fma32(o[d], scale, p * V[t, d])
    "widen": ("convert", "D>fp32"),  # the V GeMV's scale
    "narrow": ("convert", "fp32>D"), # the output row; online: the differences before exp
    "exp": ("exp", "D"),             # online: exp(m - m'), exp(s - m')
    "recip": ("reciprocal", "D"),    # 1 / sum, 1 / l, 1 / total, 1 / den
    "accumulate": ("accumulate", "fp32"),   # the scans' sums (an interleaved accumulator's adder)
    "rsqrt": ("rsqrt", "D"),         # SparF's scale_hat
}


# Roles chosen for more than the target. The lane multipliers (the score GeMV's q x K, the V
# GeMV's p x V) take their operands from registers fed by the consumers' beats, with the
# lanes' other operators spread around them: at latency 3 (105.7 MHz alone at fp16) the first
# stage's partial products (4.3 ns of logic) and 8.7 ns of routing held the defaults to 73.7
# MHz; at latency 5 (1.12 x the target) the reciprocal's table input to its seed register
# (2.9 ns of logic, 10.0 ns of routing) held them to 74.6 MHz at its latency 7 (104.1 MHz alone
# at fp16), and with the reciprocal at latency 8 (1.12 x: 113.4 MHz alone, its normalized
# operand registered before the table) the same multiplier path came back (70.3 MHz: 4.3 ns of
# logic, 9.4 of routing). At 1.23 x the multipliers get latency 7 in fp16 and bf16 (145.3 and
# 146.6 MHz alone), whose first cut registers the unpacked operands before the partial products.
ROLE_MARGIN = {"mul_d": 1.23, "recip": 1.12}


@functools.cache
def latencies(dtype: str, target_mhz: float = TARGET_MHZ) -> dict[str, int]:
    """Each role's latency at ``dtype``: the smallest whose measured Fmax reaches
    ``target_mhz`` (times the role's margin)."""
    return {role: timing.latency_for(name, fmt.replace("D", dtype), target_mhz * ROLE_MARGIN.get(role, 1.0))
            for role, (name, fmt) in OPERATORS.items()}


def step(latency: int) -> int:
    """Edges from an operator's registered operands to the register after it."""
    return latency + 1


def levels(count: int) -> int:
    """Levels of a pairwise tree over ``count`` (a power of two) values."""
    return count.bit_length() - 1


def score_stages(dtype: str, lanes: int, head_dim: int) -> int:
    """Edges from the one that takes a row's last K beat to the one that registers its score:
    the beat registered; its q elements chosen and registered beside it; the ``lanes`` products; a pairwise fp32 tree over
    them; the serial pairwise tree over the row's ``head_dim / lanes`` beat sums (each level
    adds a pair when its second element arrives, so a row's last beat goes through every
    level); the scale multiply."""
    lat = latencies(dtype)
    return (2 + step(lat["mul_d"]) + (levels(lanes) + levels(head_dim // lanes)) * step(lat["add32"])
            + step(lat["mul32"]))


def v_stages(dtype: str, online: bool) -> int:
    """Edges from the one that takes a V beat to the one that writes its word of the output
    row: the beat registered; two_pass: e_t from the exp memory's word registered, then
    ``p = e_t * r``; the products and the scale in fp32 (the longer of the two); the row's
    word read (a block RAM); the FMAs' operands registered (the old word among them); the FMA,
    whose result is written into the row."""
    lat = latencies(dtype)
    front = 1 + (0 if online else 1 + step(lat["mul_d"]))
    return front + max(step(lat["mul_d"]), step(lat["widen"])) + 2 + lat["fma32"]


def v_spacing(dtype: str) -> int:
    """The fewest edges between two updates of one word of the output row (a block RAM): the
    word is read, its data registered among the FMAs' operands, and the FMA's result written
    ``fma32``'s latency + 2 edges after the read."""
    return latencies(dtype)["fma32"] + 3


def output_stages(dtype: str) -> int:
    """Registers a word of the output row passes on its way to the output register: the row's
    read (a block RAM), its data registered, the fp32 -> D conversion and its register."""
    return 2 + step(latencies(dtype)["narrow"])


def online_stages(dtype: str) -> int:
    """online: registers a score passes from the score FIFO to the write of its (scale, p)
    pair into the weight FIFO, which the same edge writes ``l`` with: the score, the old and
    the new running max; the differences ``m - m'`` and ``s - m'``; each rounded to D; its
    exp; both in fp32; the FMA ``l = fma32(l, scale, p)``."""
    lat = latencies(dtype)
    return (1 + step(lat["add32"]) + step(lat["narrow"]) + step(lat["exp"]) + step(lat["widen"])
            + lat["fma32"])


def online_spacing(dtype: str) -> int:
    """online: the fewest edges between two scores taken: ``l``'s FMA is a loop."""
    return latencies(dtype)["fma32"] + 1


def weight_fifo_depth(dtype: str) -> int:
    """online: the weight FIFO's depth. Scores are taken only while the pairs in flight and
    the FIFO's fill stay below it, so that it never overflows; this many keeps the unit at
    its full rate while the V side keeps up."""
    return -(-online_stages(dtype) // online_spacing(dtype)) + 2


def recip_stages(dtype: str) -> int:
    """Registers from the reciprocal unit's input to its result, ``1 / cvt(x, fp32, D)``: x
    registered, the conversion, the reciprocal. A phase that waits for it (RECIP, SCALE1,
    ALPHA) lasts this many cycles and one more, in which it takes the result."""
    lat = latencies(dtype)
    return 1 + step(lat["narrow"]) + step(lat["recip"])


def sum_slots(dtype: str = "fp16") -> int:
    """Partial sums of the scans' interleaved accumulators (``numerics.rtl.FloatAccumulator``):
    its adder's latency + 1. The order of every sum the scans make (the golden twin's
    ``_sum32``). (The fp32 adder's latency does not depend on the element format.)"""
    return latencies(dtype)["accumulate"] + 1


def scan_stages(dtype: str, sparse: bool) -> dict[str, int]:
    """A token scan's stages, counted from the cycle that issues the token's score-memory
    read: ``lane`` (the token's fp32 value registered: the read's data comes a cycle after
    the read), ``x`` (SparF: ``s_hat = value * scale_hat`` registered, what the top-k sorter
    takes; else the value), ``exp`` (x and ref registered, then ``exp(cvt(x - ref))`` in D
    registered: written to the exp memory by SOFTMAX), ``sum`` (it in fp32, the accumulators' input)."""
    lat = latencies(dtype)
    lane = 2
    x = lane + (step(lat["mul32"]) if sparse else 0)
    exp = x + 1 + step(lat["add32"]) + step(lat["narrow"]) + step(lat["exp"])
    return {"lane": lane, "x": x, "exp": exp, "sum": exp + step(lat["widen"])}


def sum_latency(dtype: str = "fp16") -> int:
    """Edges from the one that takes a sum's last element into an accumulator to the one
    after which its result is held (``numerics.accumulator.accumulator_geometry``'s latency,
    and the register that keeps the result)."""
    return accumulator_geometry(latencies(dtype)["accumulate"])["latency"] + 1


def scale_stages(dtype: str) -> int:
    """SparF SCALE2: registers from its operands (the selected |q| sum and 1/total, both held)
    to ``scale_hat = rsqrt(cvt(sel * recip(total) * head_dim))``: the reciprocal widened, two
    fp32 products, the conversion to D, the inverse square root."""
    lat = latencies(dtype)
    return step(lat["widen"]) + 2 * step(lat["mul32"]) + step(lat["narrow"]) + step(lat["rsqrt"])


def alpha_stages(dtype: str) -> int:
    """SparF ALPHA: registers from the reciprocal's result (1/den) to beta: 1/den widened,
    ``alpha32 = num * (1/den)``, ``1 - alpha32``, rounded to D (alpha, rounded at once, is
    ready earlier and waits)."""
    lat = latencies(dtype)
    return step(lat["widen"]) + step(lat["mul32"]) + step(lat["add32"]) + step(lat["narrow"])


def cm_stages(dtype: str) -> dict[str, int]:
    """SparF's channel-major accumulation (``scores.ChannelMajor``), a read-modify-write of
    the score memory, in stages from the one that takes a channel-major beat: ``read`` (the
    word's read is issued: its data, registered, meets the products), ``write`` (the sum
    ``acc + q[c] * K[t, c]`` is written), ``spacing`` (the fewest cycles between two beats of
    one word: the later one's read must come after the earlier one's write)."""
    lat = latencies(dtype)
    products = 1 + step(lat["mul_d"])
    write = products + step(lat["add32"])
    read = products - 2
    return {"read": read, "write": write, "spacing": write - read + 1}


def topr_stages(head_dim: int) -> int:
    """SparF TOPR: stages from a channel's issue to its rank: its |q| registered, the
    comparisons registered, a register per level of their count."""
    return 2 + levels(head_dim)
