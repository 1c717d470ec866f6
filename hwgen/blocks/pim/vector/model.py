"""Exact cycle model of ``pim_vector_unit`` (docs/pim_vector_unit.md, "Performance model").

The unit runs one op at a time. Accepting the op beat takes one cycle; then each pass over
the vector takes one cycle per beat of ``lanes`` elements: ADD and GELU make one pass
(input to output), SOFTMAX and LAYERNORM three (load and first statistic; second statistic;
output). The unit is back in its idle state as the last beat of the last pass moves, so the
next op beat is accepted in the following cycle, while the result register hands over the
op's last output. A sequence therefore costs the sum of its ops' cycles plus one: the final
output register.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ....core.block import Estimate

PASSES = {"layernorm": 3, "softmax": 3, "gelu": 1, "add": 1}
OUTPUT_REGISTER = 1  # edges from the last computed beat to its hand-over


def vector_cycles(op: str, length: int, lanes: int = 4) -> int:
    """Cycles the unit is busy with one ``op`` ("layernorm", "softmax", "gelu", "add") on a
    vector of ``length`` elements with ``lanes`` elements per beat, unstalled: the op beat plus
    ``passes * ceil(length / lanes)``. A sequence of ops costs the sum of these plus
    ``OUTPUT_REGISTER`` (one cycle) for the last result to leave."""
    if op not in PASSES:
        raise ValueError(f"unknown op {op!r}: allowed one of {', '.join(PASSES)}")
    if length < 1 or lanes < 1:
        raise ValueError(f"length={length} and lanes={lanes} must both be at least 1")
    return 1 + PASSES[op] * -(-length // lanes)


def sequence_cycles(ops: Iterable[tuple[str, int]], lanes: int = 4) -> int:
    """Unstalled cycles of a whole sequence of ``(op, length)``, from the edge that accepts
    the first op beat to the edge that hands over the last output beat."""
    busy = sum(vector_cycles(op, length, lanes) for op, length in ops)
    return busy + OUTPUT_REGISTER if busy else 0


def workload(ops: Iterable[tuple[str, int]], lanes: int) -> dict[str, int]:
    """The counts :func:`estimate` needs for a sequence of ``(op, length)``: ops, beats of
    one-pass ops (ADD, GELU), beats of three-pass ops (SOFTMAX, LAYERNORM), beats on ``b``."""
    counts = {"ops": 0, "one_pass_beats": 0, "three_pass_beats": 0, "b_beats": 0}
    for op, length in ops:
        beats = -(-int(length) // lanes)
        counts["ops"] += 1
        counts["one_pass_beats" if PASSES[op] == 1 else "three_pass_beats"] += beats
        counts["b_beats"] += {"add": 1, "layernorm": 2}.get(op, 0) * beats
    return counts


def estimate(counts: Mapping[str, int], lanes: int, op_bits: int) -> Estimate:
    """The :class:`Estimate` of a sequence from its :func:`workload` counts: cycles as in
    :func:`sequence_cycles`; bytes on every port (the op beat's payload rounded up to bytes,
    two bytes per bf16 lane of every beat)."""
    busy = counts["ops"] + counts["one_pass_beats"] + 3 * counts["three_pass_beats"]
    beats_a = counts["one_pass_beats"] + counts["three_pass_beats"]
    beat_bytes = 2 * lanes
    return Estimate(
        cycles=busy + OUTPUT_REGISTER if busy else 0,
        latency=OUTPUT_REGISTER,
        busy=busy,
        bytes_in=counts["ops"] * ((op_bits + 7) // 8) + (beats_a + counts["b_beats"]) * beat_bytes,
        bytes_out=beats_a * beat_bytes,
    )
