"""Stream payload layouts shared by families that pass columns of elements."""

from __future__ import annotations

from amaranth.hdl import unsigned
from amaranth.lib import data


def column_layout(lanes: int, width: int) -> data.ArrayLayout:
    """One beat of ``lanes`` elements of ``width`` bits."""
    return data.ArrayLayout(unsigned(width), lanes)
