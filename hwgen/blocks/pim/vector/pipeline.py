"""The shape of ``pim_vector_unit``'s pipeline: each operator's latency for a clock target, the
stage at which every value of a beat is registered, and the fixed waits between passes
(docs/pim_vector_unit.md, "Microarchitecture"). Plain Python: the RTL builds its registers
from these numbers and the cycle model counts with them, so the two cannot drift apart.

Stages count clock edges from the edge that accepts a beat (stage 0: the cycle the beat is
taken; stage ``k``: a register loaded ``k`` edges later). Every operator is followed by a
register, so an operator of latency ``L`` fed from registers at stage ``s`` has its result at
stage ``s + L + 1`` (its *step*)."""

from __future__ import annotations

import functools

from ....numerics import plans, timing
from ....numerics.accumulator import accumulator_geometry

DEFAULT_TARGET_MHZ = 100.0
"""The clock the operators' latencies are chosen for: 100 MHz is the 90 MHz goal on ECP5-85k
with a 10% margin, because the measured table (``hwgen.numerics.timing``) times one operator
between registers, while the unit spreads about forty operators, two block RAMs and its
control over the die (the fp32 adders' 109.5 MHz in the table held pim_bank_mac to 95.2-98.5
MHz)."""

# The operators of the datapath by role: (operator name, format) in the measured table.
OPERATORS = {
    "add_bf16": ("add", "bf16"),            # ADD's x + r; SOFTMAX's x + (-max)
    "gelu": ("gelu", "bf16"),
    "exp": ("exp", "bf16"),
    "mul_bf16": ("multiply", "bf16"),       # SOFTMAX's e * (1 / sum)
    "to_fp32": ("convert", "bf16>fp32"),
    "to_bf16": ("convert", "fp32>bf16"),
    "add_fp32": ("add", "fp32"),            # x - mean, the beat's sum tree, var + eps
    "mul_fp32": ("multiply", "fp32"),       # d * d, d * rs, sum * (1 / n)
    "fma_fp32": ("fma", "fp32"),            # (d * rs) * gamma + beta
    "rsqrt": ("rsqrt", "bf16"),
    "recip": ("reciprocal", "bf16"),
    "max": ("minmax", "bf16"),              # the beat's max tree
    "accumulate": ("accumulate", "fp32"),   # the running sums' interleaved accumulator (its adder)
}

# Multipliers with one operand broadcast to every lane from one register (1 / sum to the bf16
# ones, rs to the fp32 ones: the lanes' copies are one flip-flop after synthesis): they take
# every cut of their plan, so their DSPs see registered operands. At the table's latency (3)
# the unit closed at 70.5 MHz on that register, 9.2 ns of routing and the DSP (pim_channel's
# multipliers, fed the broadcast vector, needed the same).
BROADCAST_MULTIPLIERS = ("mul_bf16", "mul_fp32")

# Every operator is chosen for LANE_MARGIN x the target (or its best, where the table has no
# latency that fast): forty operators spread over half the die lose more to routing than one
# operator between registers in the measured table (GELU at latency 13, 103.5 MHz in the
# table, held the unit to 86.7 MHz on its internal path; with 1.3 x for the lanes' operators
# only, the accumulator's tree adder at the table's 104.4 MHz held it to 86.5 MHz).
LANE_MARGIN = 1.3

# The running maximum stays a one-cycle loop (peak = max(peak, beat max)): a FloatMinMax at
# latency 0 between registers, whose measured speed bounds the targets the unit accepts.
RUNNING_MAX = ("minmax", "bf16", 0)

# A beat's kind: which op's which pass took it. Every beat carries its kind down the pipeline.
KINDS = ("add", "gelu", "softmax_load", "softmax_middle", "softmax_output",
         "layernorm_load", "layernorm_middle", "layernorm_output")
# The kinds whose beat leaves on y, and the passes that feed the running fp32 sum.
PRODUCING = ("add", "gelu", "softmax_output", "layernorm_output")
SUMMING = ("layernorm_load", "layernorm_middle", "softmax_middle")


def max_target_mhz() -> float:
    """The fastest clock target every operator reaches at some latency (and the running
    maximum's one-cycle loop at latency 0), from the measured table."""
    fmax = timing.table()["fmax"]
    best = [max(fmax[name][fmt]) for name, fmt in OPERATORS.values()]
    name, fmt, latency = RUNNING_MAX
    return min(best + [fmax[name][fmt][latency]])


def role_goal_mhz(role: str, target_mhz: float) -> float:
    """The measured Fmax ``role``'s operator is chosen for: ``LANE_MARGIN`` times
    ``target_mhz``, at most the operator's best."""
    name, fmt = OPERATORS[role]
    return min(target_mhz * LANE_MARGIN, max(timing.table()["fmax"][name][fmt]))


@functools.cache
def operator_latencies(target_mhz: float = DEFAULT_TARGET_MHZ) -> dict[str, int]:
    """Each role's latency: the smallest whose measured Fmax reaches its goal
    (:func:`role_goal_mhz`; ``ValueError`` naming the operator when none reaches the target)."""
    latencies = {role: timing.latency_for(name, fmt, role_goal_mhz(role, target_mhz))
                 for role, (name, fmt) in OPERATORS.items()}
    for role in BROADCAST_MULTIPLIERS:
        if latencies[role]:     # (a target the unpipelined unit reaches keeps latency 0)
            latencies[role] = plans.max_latency(plans.MULTIPLY)
    return latencies


class Pipeline:
    """Stages, waits and buffer sizes of the unit at ``lanes`` and ``target_mhz``.

    Beat path (stages after the accepting edge; ``step(role)`` = latency + 1):

    * ``INPUT`` (1): ``a`` and ``b`` registered, the x buffer's synchronous read data.
    * ``OPERAND`` (2): ``x`` (from ``a`` or the buffer), the bf16 adder's second operand (``r``
      or ``-max``), the max tree's terms.
    * bf16: ``added = OPERAND + step(add_bf16)``, ``gelu = OPERAND + step(gelu)``,
      ``exp = added + step(exp)``, ``e32 = exp + step(to_fp32)``,
      ``scaled = OPERAND + step(mul_bf16)`` (SOFTMAX's output).
    * fp32: ``x32 = OPERAND + step(to_fp32)``, ``d = x32 + step(add_fp32)``, ``select = d + 1``
      (the multiplier's second operand: ``d`` or ``rs``), ``prod = select + step(mul_fp32)``,
      ``affine = prod + step(fma_fp32)``, ``normed = affine + step(to_bf16)`` (LAYERNORM's
      output). gamma is read from its buffer so that it reaches the FMA with ``prod``.
    * Sums: the term register one stage after the term (``x32``, ``prod`` or ``e32``), then
      ``tree_levels`` adders, then the accumulator. Maximum: the terms at ``OPERAND``, then
      ``tree_levels`` max units to ``beat_max``, where the running maximum takes it.
    * Output: every result joins one delay line at its stage and leaves it at ``output`` (the
      latest result stage) into the output FIFO; it is handed over ``output_delay`` edges after
      its beat was accepted.
    """

    INPUT = 1
    OPERAND = 2

    def __init__(self, lanes: int, target_mhz: float = DEFAULT_TARGET_MHZ):
        self.lanes, self.target_mhz = lanes, target_mhz
        self.latency = operator_latencies(target_mhz)
        step = self.step
        self.tree_levels = (lanes - 1).bit_length()
        # bf16 paths
        self.added = self.OPERAND + step("add_bf16")
        self.gelu = self.OPERAND + step("gelu")
        self.exp = self.added + step("exp")
        self.e32 = self.exp + step("to_fp32")
        self.scaled = self.OPERAND + step("mul_bf16")
        # fp32 (LAYERNORM) path
        self.x32 = self.OPERAND + step("to_fp32")
        self.d = self.x32 + step("add_fp32")
        self.select = self.d + 1
        self.prod = self.select + step("mul_fp32")
        self.affine = self.prod + step("fma_fp32")
        self.normed = self.affine + step("to_bf16")
        # gamma: registered bf16 (after the block RAM's read data, one stage after its address)
        # one conversion before the FMA, like beta (delayed from INPUT)
        self.gamma = self.prod - step("to_fp32")
        self.gamma_read = self.gamma - 2
        # results, and the delay line they share
        self.results = {"softmax_output": self.scaled, "add": self.added, "gelu": self.gelu,
                        "layernorm_output": self.normed}
        self.output = max(self.results.values())
        self.output_delay = self.output + 1      # the FIFO hands the beat over one edge later
        # a beat taken holds a FIFO entry from the edge after it is accepted to its hand-over:
        # output_delay + 1 entries let a beat be accepted every cycle
        self.fifo_depth = self.output_delay + 1
        # sums: the term register one stage after the term, then the tree
        sources = {"layernorm_load": self.x32, "layernorm_middle": self.prod,
                   "softmax_middle": self.e32}
        self.term = {kind: stage + 1 for kind, stage in sources.items()}
        self.tree_out = {kind: stage + self.tree_levels * step("add_fp32")
                         for kind, stage in self.term.items()}
        geometry = accumulator_geometry(self.latency["accumulate"])
        self.sum_slots, self.sum_latency = geometry["slots"], geometry["latency"]
        self.beat_max = self.OPERAND + self.tree_levels * step("max")
        # the last stage whose beat's tag the datapath reads
        self.tagged = max(self.output, self.exp, self.gamma_read, self.beat_max,
                          *(stage - 1 for stage in self.term.values()))
        # The statistics, as chains from the accumulator's result (``sum_latency`` cycles after
        # the pass's last beat-sum reaches it). Each wait counts the cycles between a pass's
        # last beat and the next pass's first, unstalled: the next pass starts in the cycle
        # after the statistic is registered.
        lat = self.latency
        self.first_wait = {
            # the last beat's maximum updates the running maximum
            "softmax": self.beat_max,
            # mean = sum_x * (1/n), latched as the multiplier's output register
            "layernorm": self.tree_out["layernorm_load"] + self.sum_latency + lat["mul_fp32"],
        }
        self.second_wait = {
            # 1 / sum: to bf16, registered; the reciprocal, latched
            "softmax": (self.tree_out["softmax_middle"] + self.sum_latency + step("to_bf16")
                        + lat["recip"]),
            # var = sum_2 * (1/n), latched; var + eps, to bf16, rsqrt, each registered; rs as
            # fp32, latched
            "layernorm": (self.tree_out["layernorm_middle"] + self.sum_latency + lat["mul_fp32"]
                          + 1 + step("add_fp32") + step("to_bf16") + step("rsqrt")
                          + lat["to_fp32"]),
        }

    def step(self, role: str) -> int:
        """Stages an operator adds: its latency and the register after it."""
        return self.latency[role] + 1

    def waits(self, op: str) -> int:
        """The cycles between passes of ``op`` (0 for a one-pass op)."""
        return self.first_wait.get(op, 0) + self.second_wait.get(op, 0)

    def summary(self) -> dict[str, int]:
        """The numbers worth reporting (the block's ``info``)."""
        return {"output_delay": self.output_delay, "fifo_depth": self.fifo_depth,
                "sum_slots": self.sum_slots, "sum_latency": self.sum_latency,
                "layernorm_waits": self.waits("layernorm"), "softmax_waits": self.waits("softmax")}


@functools.cache
def pipeline(lanes: int, target_mhz: float = DEFAULT_TARGET_MHZ) -> Pipeline:
    return Pipeline(lanes, target_mhz)
