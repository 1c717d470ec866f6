"""What the components of ``spgemm_hash``'s engine pass each other (engine.py): element and
table-entry layouts, the payloads of the streams between them, the bank scan interface, and
the word and lane helpers they share.

One memory word holds ``lanes`` elements of 64 bits (index in the low half, value in the
high half); element ``e`` of an array sits in word ``base + e // lanes``, lane ``e % lanes``.
"""

from __future__ import annotations

from amaranth.hdl import Const
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import pick

INDEX_BITS = 32
VALUE_BITS = 32

# a sorted entry: column and value (the sorter's cells, the walker's output)
ENTRY = data.StructLayout({"key": INDEX_BITS, "value": VALUE_BITS})
# a hash-table slot
TABLE_ENTRY = data.StructLayout({"valid": 1, "key": INDEX_BITS, "value": VALUE_BITS})
# a walk of the banks' logs: drain (entries to the sorter) or only clear
WALK = data.StructLayout({"drain": 1})


class WriterOp(enum.Enum, shape=2):
    """What the sequencer asks of the C writer. Only ``equals`` compares them: a comparison
    with 0 (``NONE``) would become a ``!`` that Verilator flags."""
    NONE = 0        # the payload while no operation is asked for
    EMIT = 1        # pop the sorter into C's element words until it is empty
    ROW_END = 2     # append the row's end pointer (C's count so far)
    FLUSH = 3       # write both partial words


def read_layout(address_bits: int):
    return data.StructLayout({"address": address_bits})


def write_layout(address_bits: int, word_bits: int):
    return data.StructLayout({"address": address_bits, "data": word_bits})


def bases_layout(address_bits: int):
    """Where C's row ends (``c_ptr``) and elements (``c_elem``) start."""
    return data.StructLayout({"c_ptr": address_bits, "c_elem": address_bits})


def pass_layout(address_bits: int):
    """One row pass: A's row ``row`` times B, columns in [lo, hi), and where A and B live."""
    return data.StructLayout({"row": INDEX_BITS, "lo": INDEX_BITS + 1, "hi": INDEX_BITS + 1,
                              "a_ptr": address_bits, "a_elem": address_bits,
                              "b_ptr": address_bits, "b_elem": address_bits})


def word_layout(lanes: int):
    """An arriving B word, the lanes that count and the A value that scales them."""
    return data.StructLayout({"word": 64 * lanes, "lanes": lanes, "a_value": VALUE_BITS})


def product_layout(lanes: int):
    return data.StructLayout({"lanes": lanes, "keys": data.ArrayLayout(INDEX_BITS, lanes),
                              "values": data.ArrayLayout(VALUE_BITS, lanes)})


def slot_bits(depth: int) -> int:
    return max(1, (depth - 1).bit_length())


def update_layout(depth: int):
    """One product for a bank: column, value and home slot."""
    return data.StructLayout({"key": INDEX_BITS, "value": VALUE_BITS, "slot": slot_bits(depth)})


def scan_signature(depth: int) -> wiring.Signature:
    """A bank as the log walker sees it. While ``active`` the walk owns the bank's ports: the
    log reads ``log_index`` (its slot comes back as ``log_slot`` the next cycle), the table
    reads ``slot`` (``entry`` the next cycle) and writes an empty entry at ``clear_slot`` when
    ``clear``; ``restart`` (the walk's last cycle) empties the log and drops the overflow flag."""
    bits = slot_bits(depth)
    return wiring.Signature({
        "active": Out(1), "log_index": Out(bits), "slot": Out(bits),
        "clear": Out(1), "clear_slot": Out(bits), "restart": Out(1),
        "log_slot": In(bits), "entry": In(TABLE_ENTRY), "count": In(range(depth + 1)),
    })


def element(word, lane: int):
    """(index, value) of one lane of a memory word."""
    base = 64 * lane
    return word[base:base + INDEX_BITS], word[base + INDEX_BITS:base + 64]


def word_of(base, index, lanes: int, address_bits: int):
    """The word of element ``index`` of an array at ``base``."""
    return (base + (index >> (lanes.bit_length() - 1)))[:address_bits]


def choose(m, values, index, name: str):
    """``values[index]``: ``pick``'s shared multiplexer, or the one value without one."""
    return pick(m, values, index, name) if len(values) > 1 else values[0]


def lane_of(m, word, index, lanes: int, name: str):
    """The 64-bit element of ``word`` in the lane of element ``index``."""
    lane = index[:max(1, (lanes - 1).bit_length())] if lanes > 1 else Const(0, 1)
    return choose(m, [word[64 * l:64 * l + 64] for l in range(lanes)], lane, name)

