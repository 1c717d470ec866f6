"""Example dataflow graphs, used by ``hwgen flow``, the tests and the docs."""

from __future__ import annotations

from . import blocks
from .graph import Graph


def mac_requant(lanes: int = 8, width: int = 8, vector_length: int = 16, out_width: int = 8,
                shift: int = 10) -> Graph:
    """A dot-product unit feeding a requantizer: int8 vectors in, int8 dot products out."""
    graph = Graph("mac_requant")
    mac = blocks.get("mac_array", lanes=lanes, width=width, vector_length=vector_length)
    graph.add("mac", mac)
    graph.add("rq", blocks.get("requant", in_width=mac.info()["acc_width"], out_width=out_width,
                               shift=shift))
    graph.connect("mac.result", "rq.samples")
    return graph


GRAPHS = {"mac_requant": mac_requant}
