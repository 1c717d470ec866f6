"""The hardware of ``spgemm_hash``: a row sequencer on one memory port, ``lanes``
multipliers, a banked hash-accumulate table, an insertion sorter and the C writers
(docs/spgemm.md, "Microarchitecture"), as a tree of components::

    Engine                  command, done, mem_request, mem_response (the block's ports)
    ├── sequencer  Sequencer   rows and passes: command -> passes, walk, begin, ops -> done
    ├── reader     RowReader   one pass's A and B reads: passes, mem_response -> reads, words
    ├── port       RequestPort the request register: reads, writes -> mem_request
    ├── multipliers Multipliers words -> products
    ├── table      HashTable   products, walk -> entries, idle, overflow
    │   ├── buffer LaneBuffer  products -> updates[banks]
    │   ├── bank<b> HashBank   update, scan (one per bank)
    │   └── walker LogWalker   walk, scan[banks] -> entries
    ├── sorter     Sorter      entries -> head
    └── writer     CWriter     begin, ops, head -> writes

One memory word holds ``lanes`` elements of 64 bits (index in the low half, value in the
high half); element ``e`` of an array sits in word ``base + e // lanes``, lane ``e % lanes``.
A and B rows are described by (start, end) pairs, one element each; C gets an end pointer
per row and its elements, both written as whole words in order.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring

from .sequencer import RequestPort, RowReader, Sequencer
from .table import HashTable, Multipliers
from .writer import CWriter, Sorter


class Engine(wiring.Component):
    """The engine of a ``SpgemmHash`` with parameters ``p``, behind ``signature`` (the
    block's: ``command``, ``done``, ``mem_request``, ``mem_response``)."""

    def __init__(self, signature: wiring.Signature, p, address_bits: int):
        self.lanes, self.table_size, self.banks = p.lanes, p.table_size, p.banks
        self.hash_kind, self.value_type = p.hash, p.value_type
        self.address_bits = address_bits
        super().__init__(signature)

    def elaborate(self, platform):
        m = Module()
        ports = self.signature.members
        m.submodules.sequencer = sequencer = Sequencer(ports["command"], ports["done"], self.address_bits)
        m.submodules.reader = reader = RowReader(self.lanes, self.address_bits)
        m.submodules.port = port = RequestPort(ports["mem_request"], self.address_bits, 64 * self.lanes)
        m.submodules.multipliers = multipliers = Multipliers(self.lanes, self.value_type)
        m.submodules.table = table = HashTable(self.lanes, self.table_size, self.banks, self.hash_kind,
                                               self.value_type)
        m.submodules.sorter = sorter = Sorter(self.table_size)
        m.submodules.writer = writer = CWriter(self.lanes, self.address_bits)

        # the streams, in the order the data moves
        wiring.connect(m, wiring.flipped(self.command), sequencer.command)
        wiring.connect(m, sequencer.passes, reader.passes)
        wiring.connect(m, reader.reads, port.reads)
        wiring.connect(m, wiring.flipped(self.mem_response), reader.mem_response)
        wiring.connect(m, reader.words, multipliers.words)
        wiring.connect(m, multipliers.products, table.products)
        wiring.connect(m, sequencer.walk, table.walk)
        wiring.connect(m, table.entries, sorter.insert)
        wiring.connect(m, sequencer.begin, writer.begin)
        wiring.connect(m, sequencer.ops, writer.ops)
        wiring.connect(m, sorter.head, writer.elements)
        wiring.connect(m, writer.writes, port.writes)
        wiring.connect(m, port.mem_request, wiring.flipped(self.mem_request))
        wiring.connect(m, sequencer.done, wiring.flipped(self.done))

        # what the sequencer waits for
        m.d.comb += [sequencer.table_idle.eq(table.idle), sequencer.overflow.eq(table.overflow),
                     sequencer.port_idle.eq(port.idle), sequencer.nnz.eq(writer.count)]
        return m
