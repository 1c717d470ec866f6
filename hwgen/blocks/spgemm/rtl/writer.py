"""The output side of ``spgemm_hash``'s engine: the insertion sorter and the C writer."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import equals
from .ports import ENTRY, INDEX_BITS, VALUE_BITS, WriterOp, bases_layout, write_layout


class Sorter(wiring.Component):
    """``size`` cells in ascending column order (the valid ones first): an insert shifts the
    cells above its column up one, a pop (``head`` taken) shifts all down; one a cycle."""

    def __init__(self, size: int):
        self.size = size
        super().__init__({
            "insert": In(stream.Signature(ENTRY, always_ready=True)),
            "head": Out(stream.Signature(ENTRY)),
        })

    def elaborate(self, platform):
        m = Module()
        size, head = self.size, self.head
        valid = [Signal(name=f"sort{i}_valid") for i in range(size)]
        key = [Signal(INDEX_BITS, name=f"sort{i}_key") for i in range(size)]
        value = [Signal(VALUE_BITS, name=f"sort{i}_value") for i in range(size)]
        new_key, new_value = self.insert.payload.key, self.insert.payload.value
        m.d.comb += [head.valid.eq(valid[0]), head.payload.key.eq(key[0]), head.payload.value.eq(value[0])]

        above = [~valid[i] | (key[i] > new_key) for i in range(size)]
        with m.If(self.insert.valid):
            for i in range(size):
                with m.If(above[i]):
                    if i == 0:
                        m.d.sync += [valid[0].eq(1), key[0].eq(new_key), value[0].eq(new_value)]
                    else:
                        shift = above[i - 1]
                        m.d.sync += [valid[i].eq(Mux(shift, valid[i - 1], 1)),
                                     key[i].eq(Mux(shift, key[i - 1], new_key)),
                                     value[i].eq(Mux(shift, value[i - 1], new_value))]
        with m.Elif(head.valid & head.ready):
            for i in range(size):
                nxt = (valid[i + 1], key[i + 1], value[i + 1]) if i + 1 < size else (0, 0, 0)
                m.d.sync += [valid[i].eq(nxt[0]), key[i].eq(nxt[1]), value[i].eq(nxt[2])]
        return m


class CWriter(wiring.Component):
    """C's two word assemblers, elements (column, value) and row ends (C's count after each
    row), each writing whole words in order from its base (``begin``): ``EMIT`` pops the
    sorter until it is empty, ``ROW_END`` appends a row end, ``FLUSH`` writes both partial
    words (the ``ops`` beat is taken when the operation is done)."""

    def __init__(self, lanes: int, address_bits: int):
        self.lanes, self.address_bits = lanes, address_bits
        super().__init__({
            "begin": In(stream.Signature(bases_layout(address_bits), always_ready=True)),
            "ops": In(stream.Signature(WriterOp)),
            "elements": In(stream.Signature(ENTRY)),
            "writes": Out(stream.Signature(write_layout(address_bits, 64 * lanes))),
            "count": Out(32),         # C's elements so far
        })

    def elaborate(self, platform):
        m = Module()
        lanes, ops, elements, writes, count = self.lanes, self.ops, self.elements, self.writes, self.count
        elem_word = Signal(64 * lanes)
        elem_fill = Signal(range(lanes + 1))
        elem_address = Signal(self.address_bits)     # the next word of C's elements
        end_word = Signal(64 * lanes)
        end_fill = Signal(range(lanes + 1))
        end_address = Signal(self.address_bits)      # the next word of C's row ends

        def placed(word, fill, value64):
            return Cat(*(Mux(equals(fill, l), value64, word[64 * l:64 * l + 64]) for l in range(lanes)))

        emit, row_end, flush = (ops.valid & equals(ops.payload.as_value(), op.value)
                                for op in (WriterOp.EMIT, WriterOp.ROW_END, WriterOp.FLUSH))
        element64 = Cat(elements.payload.key, elements.payload.value)
        end64 = Cat(count, Const(0, 32))
        elem_full, end_full = equals(elem_fill, lanes - 1), equals(end_fill, lanes - 1)
        partial = elem_fill.any() | end_fill.any()

        # a word goes out when an element or a row end fills it, and from the flush
        with m.If(emit & elements.valid & elem_full):
            m.d.comb += [writes.valid.eq(1), writes.payload.address.eq(elem_address),
                         writes.payload.data.eq(placed(elem_word, elem_fill, element64))]
        with m.Elif(row_end & end_full):
            m.d.comb += [writes.valid.eq(1), writes.payload.address.eq(end_address),
                         writes.payload.data.eq(placed(end_word, end_fill, end64))]
        with m.Elif(flush & elem_fill.any()):
            m.d.comb += [writes.valid.eq(1), writes.payload.address.eq(elem_address),
                         writes.payload.data.eq(elem_word)]
        with m.Elif(flush & end_fill.any()):
            m.d.comb += [writes.valid.eq(1), writes.payload.address.eq(end_address),
                         writes.payload.data.eq(end_word)]
        m.d.comb += [elements.ready.eq(emit & (~elem_full | writes.ready)),
                     ops.ready.eq(Mux(emit, ~elements.valid,
                                      Mux(row_end, ~end_full | writes.ready, flush & writes.ready & ~partial)))]

        with m.If(self.begin.valid):
            m.d.sync += [count.eq(0), elem_fill.eq(0), end_fill.eq(0),
                         elem_address.eq(self.begin.payload.c_elem), end_address.eq(self.begin.payload.c_ptr)]
        with m.If(elements.valid & elements.ready):
            m.d.sync += count.eq(count + 1)
            with m.If(elem_full):
                m.d.sync += [elem_address.eq(elem_address + 1), elem_fill.eq(0)]
            with m.Else():
                m.d.sync += [elem_word.eq(placed(elem_word, elem_fill, element64)), elem_fill.eq(elem_fill + 1)]
        with m.If(row_end & ops.ready):
            with m.If(end_full):
                m.d.sync += [end_address.eq(end_address + 1), end_fill.eq(0)]
            with m.Else():
                m.d.sync += [end_word.eq(placed(end_word, end_fill, end64)), end_fill.eq(end_fill + 1)]
        with m.If(flush & writes.ready):
            with m.If(elem_fill.any()):
                m.d.sync += elem_fill.eq(0)
            with m.Elif(end_fill.any()):
                m.d.sync += end_fill.eq(0)
        return m
