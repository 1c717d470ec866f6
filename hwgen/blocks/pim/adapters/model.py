"""Cycle models of the pim adapters."""

from __future__ import annotations

from ....core.block import Estimate

ACC_TO_BF16_LATENCY = 1  # the output register
SPLICE_LATENCY = 1


def acc_to_bf16_steps(count, last, lanes: int) -> dict:
    """Steps (cycles after the first accept) the unpacking takes, unstalled, and the step that
    emits the last output beat: each input beat takes max(1, count) steps and the next beat is
    accepted in its last step."""
    step = last_emit = fill = 0
    outputs = 0
    for used, end in zip(count.tolist(), last.tolist()):
        for k in range(max(1, used)):
            step += 1
            if k < used:
                fill += 1
            if fill == lanes or (k == max(1, used) - 1 and end and fill):
                fill, last_emit, outputs = 0, step, outputs + 1
    return {"beats": len(count), "steps": step, "last_emit": last_emit, "outputs": outputs}


def acc_to_bf16(workload, banks: int, lanes: int, acc_bits: int) -> Estimate:
    if not workload["outputs"]:
        return Estimate(cycles=0, latency=ACC_TO_BF16_LATENCY, busy=0)
    # the accept edge, the steps up to the last emission, then its hand-over
    busy = 1 + workload["last_emit"]
    return Estimate(cycles=busy + ACC_TO_BF16_LATENCY, latency=ACC_TO_BF16_LATENCY, busy=busy,
                    bytes_in=workload["beats"] * (banks * acc_bits + 8) // 8,
                    bytes_out=workload["outputs"] * lanes * 2)


def splice(beats: int, columns: int, beat_bytes: int, column_bytes: int) -> Estimate:
    return Estimate.pipelined(beats, SPLICE_LATENCY, beats * beat_bytes + columns * column_bytes,
                              beats * beat_bytes)
