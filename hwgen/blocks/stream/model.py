"""Cycle models of the stream adapters: neither ever stalls its input on its own, so both are
one beat per cycle behind a fixed latency."""

from __future__ import annotations

from ...core.block import Estimate

SPLIT_LATENCY = 1  # the output register
FORK_LATENCY = 2   # SyncFIFOBuffered: the memory read, then its output register


def split(beats: int, beat_bytes: int) -> Estimate:
    return Estimate.pipelined(beats, SPLIT_LATENCY, beats * beat_bytes, beats * beat_bytes)


def fork(beats: int, beat_bytes: int, outputs: int) -> Estimate:
    return Estimate.pipelined(beats, FORK_LATENCY, beats * beat_bytes, outputs * beats * beat_bytes)
