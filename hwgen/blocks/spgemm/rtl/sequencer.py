"""The control of ``spgemm_hash``'s engine: the row sequencer (rows and their column-window
passes), the row reader (one pass's A and B reads) and the memory port's request register."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import StateMachine, equals
from .ports import (INDEX_BITS, VALUE_BITS, WALK, WriterOp, bases_layout, element, lane_of,
                    pass_layout, read_layout, word_layout, word_of, write_layout)


class RequestPort(wiring.Component):
    """The memory port's one request register, loaded from the row reader's reads or the C
    writer's writes whenever the register is free or moving this cycle. Both are never asked
    for at once (the sequencer is in a state of one or the other), so both see the register's
    readiness alone, without an arbiter in the reader's paths."""

    def __init__(self, mem_request: wiring.Member, address_bits: int, word_bits: int):
        super().__init__({
            "reads": In(stream.Signature(read_layout(address_bits))),
            "writes": In(stream.Signature(write_layout(address_bits, word_bits))),
            "mem_request": mem_request,           # the block's port
            "idle": Out(1),                     # no request waits: every write has moved
        })

    def elaborate(self, platform):
        m = Module()
        reads, writes, request = self.reads, self.writes, self.mem_request
        free = ~request.valid | request.ready
        m.d.comb += [writes.ready.eq(free), reads.ready.eq(free),
                     self.idle.eq(~request.valid)]
        with m.If(request.valid & request.ready):
            m.d.sync += request.valid.eq(0)
        with m.If(writes.valid & writes.ready):
            m.d.sync += [request.valid.eq(1), request.payload.address.eq(writes.payload.address),
                         request.payload.write.eq(1), request.payload.data.eq(writes.payload.data)]
        with m.Elif(reads.valid & reads.ready):
            m.d.sync += [request.valid.eq(1), request.payload.address.eq(reads.payload.address),
                         request.payload.write.eq(0)]
        return m


class Sequencer(wiring.Component):
    """Rows and passes: each row is read in one pass over all of B's columns, or, when the
    table overflows, in passes over narrower windows; each pass settles, then is cleared
    (redone narrower) or drained and emitted; row ends, and at the last row the flush and
    ``done`` (C's nonzero count, once every write has moved)."""

    STATES = ["IDLE", "READ", "SETTLE", "CLEAR", "DRAIN", "EMIT", "ROW_END", "FLUSH", "FINISH"]

    def __init__(self, command: wiring.Member, done: wiring.Member, address_bits: int):
        super().__init__({
            "command": command,       # the block's ports
            "done": done,
            "passes": Out(stream.Signature(pass_layout(address_bits))),    # to the row reader
            "walk": Out(stream.Signature(WALK)),                           # to the table
            "begin": Out(stream.Signature(bases_layout(address_bits), always_ready=True)),  # to the C writer
            "ops": Out(stream.Signature(WriterOp)),                        # to the C writer
            "table_idle": In(1),      # no product waits in the lane buffer or a bank
            "overflow": In(1),        # a bank overflowed this pass
            "port_idle": In(1),
            "nnz": In(32),            # C's elements written so far
        })

    def elaborate(self, platform):
        m = Module()
        fsm = StateMachine(m, self.STATES)
        command, passes, walk, ops = self.command, self.passes, self.walk, self.ops
        cmd = Signal.like(command.payload)
        row = Signal(INDEX_BITS)
        lo = Signal(INDEX_BITS + 1)          # the pass's column window [lo, hi)
        hi = Signal(INDEX_BITS + 1)
        last_row = equals(row, cmd.rows - 1)

        m.d.comb += [passes.payload.row.eq(row), passes.payload.lo.eq(lo), passes.payload.hi.eq(hi),
                     passes.payload.a_ptr.eq(cmd.a_ptr), passes.payload.a_elem.eq(cmd.a_elem),
                     passes.payload.b_ptr.eq(cmd.b_ptr), passes.payload.b_elem.eq(cmd.b_elem),
                     self.begin.payload.c_ptr.eq(command.payload.c_ptr),
                     self.begin.payload.c_elem.eq(command.payload.c_elem),
                     self.done.payload.eq(self.nnz)]

        with fsm.state("IDLE"):
            m.d.comb += [command.ready.eq(1), self.begin.valid.eq(command.valid)]
            with m.If(command.valid):
                m.d.sync += [cmd.eq(command.payload), row.eq(0), lo.eq(0), hi.eq(command.payload.cols)]
                with m.If(command.payload.rows.any()):
                    fsm.goto("READ")
                with m.Else():
                    fsm.goto("FINISH")

        with fsm.state("READ"):
            m.d.comb += passes.valid.eq(1)
            with m.If(passes.ready):
                fsm.goto("SETTLE")

        with fsm.state("SETTLE"):
            # the last products reach the banks; then redo the pass narrower, or drain it
            with m.If(self.table_idle):
                with m.If(self.overflow):
                    half = (hi - lo) >> 1
                    m.d.sync += hi.eq(lo + Mux(half.any(), half, 1))
                    fsm.goto("CLEAR")
                with m.Else():
                    fsm.goto("DRAIN")

        with fsm.state("CLEAR"):
            m.d.comb += walk.valid.eq(1)
            with m.If(walk.ready):
                fsm.goto("READ")

        with fsm.state("DRAIN"):
            m.d.comb += [walk.valid.eq(1), walk.payload.drain.eq(1)]
            with m.If(walk.ready):
                fsm.goto("EMIT")

        with fsm.state("EMIT"):
            # the sorted window goes out; then the rest of the columns get the next pass
            m.d.comb += [ops.valid.eq(1), ops.payload.eq(WriterOp.EMIT)]
            with m.If(ops.ready):
                with m.If(hi < cmd.cols):
                    m.d.sync += [lo.eq(hi), hi.eq(cmd.cols)]
                    fsm.goto("READ")
                with m.Else():
                    fsm.goto("ROW_END")

        with fsm.state("ROW_END"):
            m.d.comb += [ops.valid.eq(1), ops.payload.eq(WriterOp.ROW_END)]
            with m.If(ops.ready):
                m.d.sync += [row.eq(row + 1), lo.eq(0), hi.eq(cmd.cols)]
                with m.If(last_row):
                    fsm.goto("FLUSH")
                with m.Else():
                    fsm.goto("READ")

        with fsm.state("FLUSH"):
            m.d.comb += [ops.valid.eq(1), ops.payload.eq(WriterOp.FLUSH)]
            with m.If(ops.ready):
                fsm.goto("FINISH")

        with fsm.state("FINISH"):
            # every write has moved (the port is free): C is in memory
            with m.If(self.port_idle):
                m.d.comb += self.done.valid.eq(1)
                with m.If(self.done.ready):
                    fsm.goto("IDLE")
        return m


class RowReader(wiring.Component):
    """One pass of one row: its A pair (start, end), then per A element (a column k and a
    value a; the A word is kept while the row's elements stay in it) B's row k pair and its
    words, read back to back. Each arriving B word goes to the multipliers with the lanes
    that count: elements in B's row, columns in the pass's window. The pass is done (its
    ``passes`` beat taken) when the row's A elements are."""

    STATES = ["PASS_START", "PAIR_WAIT", "A_NEXT", "A_WAIT", "B_PAIR", "B_PAIR_WAIT", "B_STREAM"]

    def __init__(self, lanes: int, address_bits: int):
        self.lanes, self.address_bits = lanes, address_bits
        super().__init__({
            "passes": In(stream.Signature(pass_layout(address_bits))),
            "reads": Out(stream.Signature(read_layout(address_bits))),
            "mem_response": In(stream.Signature(64 * lanes)),
            "words": Out(stream.Signature(word_layout(lanes))),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.lanes
        fsm = StateMachine(m, self.STATES)
        job, reads, response, words = self.passes.payload, self.reads, self.mem_response, self.words

        def word(base, index):
            return word_of(base, index, lanes, self.address_bits)

        a_at = Signal(INDEX_BITS)            # the next A element of the row
        a_end = Signal(INDEX_BITS)
        a_word = Signal(64 * lanes)          # the A word last read, and its address
        a_word_address = Signal(self.address_bits)
        a_word_valid = Signal()
        a_value = Signal(VALUE_BITS)
        b_next = Signal(INDEX_BITS + 1)      # B elements: the next word to ask for, the row's range
        b_start = Signal(INDEX_BITS)
        b_end = Signal(INDEX_BITS)
        b_asked = Signal(INDEX_BITS + 1)     # word reads out and not yet back
        word_index = Signal(INDEX_BITS + 1)  # the element index of the arriving word's lane 0

        a_pair = lane_of(m, response.payload, job.row, lanes, "a_pair")
        a_element = lane_of(m, a_word, a_at, lanes, "a_element")
        b_pair = lane_of(m, response.payload, a_element[:32], lanes, "b_pair")
        # lane l of an arriving B word counts when its element is in [b_start, b_end) and its
        # column is in the window
        counts = []
        for l in range(lanes):
            index, column = word_index + l, element(response.payload, l)[0]
            counts.append((index >= b_start) & (index < b_end) & (column >= job.lo) & (column < job.hi))
        m.d.comb += [words.payload.word.eq(response.payload), words.payload.lanes.eq(Cat(*counts)),
                     words.payload.a_value.eq(a_value)]

        with fsm.state("PASS_START"):
            m.d.comb += [reads.valid.eq(self.passes.valid), reads.payload.address.eq(word(job.a_ptr, job.row))]
            with m.If(reads.valid & reads.ready):
                fsm.goto("PAIR_WAIT")

        with fsm.state("PAIR_WAIT"):
            m.d.comb += response.ready.eq(1)
            with m.If(response.valid):
                m.d.sync += [a_at.eq(a_pair[:32]), a_end.eq(a_pair[32:])]
                fsm.goto("A_NEXT")

        with fsm.state("A_NEXT"):
            address = word(job.a_elem, a_at)
            with m.If(equals(a_at, a_end)):
                # the pass is done; the next one starts with no A word held
                m.d.comb += self.passes.ready.eq(1)
                m.d.sync += a_word_valid.eq(0)
                fsm.goto("PASS_START")
            with m.Elif(a_word_valid & equals(a_word_address, address)):
                fsm.goto("B_PAIR")
            with m.Else():
                m.d.comb += [reads.valid.eq(1), reads.payload.address.eq(address)]
                with m.If(reads.ready):
                    m.d.sync += a_word_address.eq(address)
                    fsm.goto("A_WAIT")

        with fsm.state("A_WAIT"):
            m.d.comb += response.ready.eq(1)
            with m.If(response.valid):
                m.d.sync += [a_word.eq(response.payload), a_word_valid.eq(1)]
                fsm.goto("B_PAIR")

        with fsm.state("B_PAIR"):
            m.d.comb += [reads.valid.eq(1), reads.payload.address.eq(word(job.b_ptr, a_element[:32]))]
            with m.If(reads.ready):
                m.d.sync += a_value.eq(a_element[32:])
                fsm.goto("B_PAIR_WAIT")

        with fsm.state("B_PAIR_WAIT"):
            m.d.comb += response.ready.eq(1)
            with m.If(response.valid):
                start, end = b_pair[:32], b_pair[32:]
                first = (start >> (lanes.bit_length() - 1)) << (lanes.bit_length() - 1)
                m.d.sync += [b_start.eq(start), b_end.eq(end), b_next.eq(first),
                             word_index.eq(first), b_asked.eq(0)]
                fsm.goto("B_STREAM")

        with fsm.state("B_STREAM"):
            # ask for the row's words back to back; each arriving word waits until the lane
            # buffer takes it (when its last word's products have all gone to the banks)
            more = (b_next < b_end) & (b_start < b_end)
            m.d.comb += [reads.valid.eq(more), reads.payload.address.eq(word(job.b_elem, b_next)),
                         words.valid.eq(response.valid), response.ready.eq(words.ready)]
            asked = b_asked + (reads.valid & reads.ready) - (words.valid & words.ready)
            m.d.sync += b_asked.eq(asked)
            with m.If(reads.valid & reads.ready):
                m.d.sync += b_next.eq(b_next + lanes)
            with m.If(words.valid & words.ready):
                m.d.sync += word_index.eq(word_index + lanes)
            with m.If(~more & ~asked.any()):
                m.d.sync += a_at.eq(a_at + 1)
                fsm.goto("A_NEXT")
        return m
