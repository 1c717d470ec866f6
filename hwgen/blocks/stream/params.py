"""Parameters of the stream adapters."""

from __future__ import annotations

from ...core.params import Param, ParamSet


def parse_counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def _counts_rule(p) -> str | None:
    try:
        counts = parse_counts(p["counts"])
    except ValueError:
        return f"counts={p['counts']!r} is not a comma-separated list of integers"
    if not 2 <= len(counts) <= 8 or not all(1 <= c <= 4096 for c in counts):
        return (f"counts={p['counts']!r}: allowed 2..8 outputs, each 1..4096 beats "
                f"(e.g. '16,16,16')")
    return None


SPLIT_PARAMS = ParamSet(params=(
    Param("lanes", int, 4, "elements per beat", min=1, max=32),
    Param("width", int, 16, "bits per element", min=1, max=64),
    Param("counts", str, "1,1", "beats to each output in turn, repeating (e.g. '16,16,16')"),
), rules=(_counts_rule,))

FORK_PARAMS = ParamSet(params=(
    Param("lanes", int, 4, "elements per beat", min=1, max=32),
    Param("width", int, 16, "bits per element", min=1, max=64),
    Param("outputs", int, 2, "copies of the stream", min=2, max=8),
    # SyncFIFOBuffered keeps one beat in its output register and the rest in a memory;
    # below two memory entries it cannot take a beat in every cycle.
    Param("depth", int, 16, "FIFO beats per output (how far one copy may run ahead)",
          min=3, max=4096),
))
