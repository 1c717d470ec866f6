"""Exact cycle model of ``pim_vector_unit`` (docs/pim_vector_unit.md, "Performance model").

The unit runs one op at a time. Accepting the op beat takes one cycle; then each pass over the
vector takes one cycle per beat of ``lanes`` elements: ADD and GELU make one pass (input to
output), SOFTMAX and LAYERNORM three (load and first statistic; second statistic; output).
Between two passes the unit waits a fixed number of cycles for the statistic the next pass
needs to come out of the pipeline (``pipeline.Pipeline.first_wait`` and ``second_wait``). The
unit is back in its idle state as the last beat of the last pass enters the pipeline, so the
next op beat is accepted in the following cycle, while the pipeline still carries the op's last
results; a sequence therefore costs the sum of its ops' cycles plus the pipeline's
``output_delay``, the edges from the last beat accepted to its hand-over.

The latencies come from ``pipeline`` (plain Python, shared with the RTL); ``vector_cycles`` and
``sequence_cycles`` use the unit's default clock target.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from ....core.block import Estimate
from .pipeline import DEFAULT_TARGET_MHZ, Pipeline, pipeline

PASSES = {"layernorm": 3, "softmax": 3, "gelu": 1, "add": 1}


def op_cycles(op: str, length: int, shape: Pipeline) -> int:
    """Cycles one ``op`` keeps the unit of pipeline ``shape`` busy, unstalled: the op beat,
    ``passes * ceil(length / lanes)`` beats and the waits between the passes."""
    if op not in PASSES:
        raise ValueError(f"unknown op {op!r}: allowed one of {', '.join(PASSES)}")
    if length < 1:
        raise ValueError(f"length={length} must be at least 1")
    return 1 + PASSES[op] * -(-length // shape.lanes) + shape.waits(op)


def vector_cycles(op: str, length: int, lanes: int = 4) -> int:
    """Cycles the unit is busy with one ``op`` ("layernorm", "softmax", "gelu", "add") on a
    vector of ``length`` elements with ``lanes`` elements per beat, unstalled, at the default
    clock target: the op beat plus ``passes * ceil(length / lanes)`` plus the waits between
    passes (SOFTMAX and LAYERNORM). A sequence of ops costs the sum of these plus the
    pipeline's ``output_delay`` for the last result to leave."""
    if length < 1 or lanes < 1:
        raise ValueError(f"length={length} and lanes={lanes} must both be at least 1")
    return op_cycles(op, length, pipeline(lanes))


def sequence_cycles(ops: Iterable[tuple[str, int]], lanes: int = 4) -> int:
    """Unstalled cycles of a whole sequence of ``(op, length)`` at the default clock target,
    from the edge that accepts the first op beat to the edge that hands over the last output
    beat."""
    busy = sum(vector_cycles(op, length, lanes) for op, length in ops)
    return busy + pipeline(lanes).output_delay if busy else 0


def workload(ops: Iterable[tuple[str, int]], lanes: int) -> dict[str, int]:
    """The counts :func:`estimate` needs for a sequence of ``(op, length)``: ops, beats of
    one-pass ops (ADD, GELU), beats of three-pass ops (SOFTMAX, LAYERNORM), beats on ``b``, and
    the SOFTMAX and LAYERNORM ops (each waits for its statistics)."""
    counts = {"ops": 0, "one_pass_beats": 0, "three_pass_beats": 0, "b_beats": 0,
              "softmax_ops": 0, "layernorm_ops": 0}
    for op, length in ops:
        beats = -(-int(length) // lanes)
        counts["ops"] += 1
        counts["one_pass_beats" if PASSES[op] == 1 else "three_pass_beats"] += beats
        counts["b_beats"] += {"add": 1, "layernorm": 2}.get(op, 0) * beats
        if op in ("softmax", "layernorm"):
            counts[f"{op}_ops"] += 1
    return counts


def estimate(counts: Mapping[str, int], lanes: int, op_bits: int,
             target_mhz: float = DEFAULT_TARGET_MHZ) -> Estimate:
    """The :class:`Estimate` of a sequence from its :func:`workload` counts at ``target_mhz``:
    cycles as in :func:`sequence_cycles`; bytes on every port (the op beat's payload rounded up
    to bytes, two bytes per bf16 lane of every beat)."""
    shape = pipeline(lanes, target_mhz)
    busy = (counts["ops"] + counts["one_pass_beats"] + 3 * counts["three_pass_beats"]
            + counts["softmax_ops"] * shape.waits("softmax")
            + counts["layernorm_ops"] * shape.waits("layernorm"))
    beats_a = counts["one_pass_beats"] + counts["three_pass_beats"]
    beat_bytes = 2 * lanes
    return Estimate(
        cycles=busy + shape.output_delay if busy else 0,
        latency=shape.output_delay,
        busy=busy,
        bytes_in=counts["ops"] * ((op_bits + 7) // 8) + (beats_a + counts["b_beats"]) * beat_bytes,
        bytes_out=beats_a * beat_bytes,
    )
