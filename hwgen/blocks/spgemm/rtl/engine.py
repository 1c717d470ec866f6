"""The hardware of ``spgemm_hash``: a row sequencer on one memory port, ``lanes``
multipliers, a banked hash-accumulate table, an insertion sorter and the C writers
(docs/spgemm.md, "Microarchitecture").

One memory word holds ``lanes`` elements of 64 bits (index in the low half, value in the
high half); element ``e`` of an array sits in word ``base + e // lanes``, lane ``e % lanes``.
A and B rows are described by (start, end) pairs, one element each; C gets an end pointer
per row and its elements, both written as whole words in order.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import memory

from ....core.logic import StateMachine, equals, lowest, pick
from ....numerics.formats import PRESETS
from ....numerics.rtl.add import FloatAdder
from ....numerics.rtl.mul import FloatMultiplier
from ..params import HASH_MULTIPLIER

INDEX_BITS = 32
VALUE_BITS = 32
STATES = ["IDLE", "PASS_START", "PAIR_WAIT", "A_NEXT", "A_WAIT", "B_PAIR", "B_PAIR_WAIT",
          "B_STREAM", "SETTLE", "CLEAR", "DRAIN", "EMIT", "ROW_END", "FLUSH", "FINISH"]


def element(word, lane):
    """(index, value) of one lane of a memory word."""
    base = 64 * lane
    return word[base:base + INDEX_BITS], word[base + INDEX_BITS:base + 64]


class Bank:
    """One scratchpad bank: ``depth`` entries (valid, key, value), linear probing, and a
    read-check-write pipeline that takes one update a cycle. An update's read is issued in the
    cycle it is accepted; its data arrives with the next, when the entry is checked and written
    (a match accumulates, an empty slot inserts, another key sends it one slot on). The read
    port is transparent to the write port, so an update right behind one that writes its slot
    reads the new value: back-to-back updates to one key never lose one."""

    def __init__(self, m: Module, engine, index: int):
        self.m, self.engine, self.index = m, engine, index
        self.depth = engine.bank_depth
        self.slot_bits = max(1, (self.depth - 1).bit_length())
        entry_bits = 1 + INDEX_BITS + VALUE_BITS
        m.submodules[f"bank{index}"] = self.memory = memory.Memory(shape=entry_bits, depth=self.depth, init=[])
        self.write = self.memory.write_port()
        self.read = self.memory.read_port(transparent_for=(self.write,))
        # the slots this pass filled, in order: the drain and the clear visit only those
        m.submodules[f"bank{index}_log"] = self.log = memory.Memory(shape=self.slot_bits, depth=self.depth, init=[])
        self.log_write = self.log.write_port()
        self.log_read = self.log.read_port()
        # the update offered to this bank this cycle (from the lane buffer)
        self.offer = Signal(name=f"bank{index}_offer")
        self.offer_key = Signal(INDEX_BITS, name=f"bank{index}_offer_key")
        self.offer_value = Signal(VALUE_BITS, name=f"bank{index}_offer_value")
        self.offer_slot = Signal(self.slot_bits, name=f"bank{index}_offer_slot")
        self.ready = Signal(name=f"bank{index}_ready")
        # the update whose slot's data arrives this cycle
        self.busy = Signal(name=f"bank{index}_busy")
        self.key = Signal(INDEX_BITS, name=f"bank{index}_key")
        self.value = Signal(VALUE_BITS, name=f"bank{index}_value")
        self.slot = Signal(self.slot_bits, name=f"bank{index}_slot")
        self.probes = Signal(range(self.depth + 1), name=f"bank{index}_probes")
        self.count = Signal(range(self.depth + 1), name=f"bank{index}_count")
        self.overflow = Signal(name=f"bank{index}_overflow")

    def build(self, add, scan_address, scan_active, clear_address, clear_write):
        """``add(a, b)``: the accumulation. While ``scan_active`` (drain, clear) the table's
        read port reads ``scan_address`` and its write port writes 0 at ``clear_address``
        when ``clear_write``."""
        m = self.m
        data = self.read.data
        stored_valid = data[0]
        stored_key = data[1:1 + INDEX_BITS]
        stored_value = data[1 + INDEX_BITS:]
        match = stored_valid & equals(stored_key, self.key)
        empty = ~stored_valid
        last_probe = equals(self.probes, self.depth - 1)
        settles = match | empty | last_probe      # this update leaves the pipeline this cycle
        m.d.comb += self.ready.eq(~self.busy | settles)
        accept = self.offer & self.ready
        next_slot = (self.slot + 1)[:self.slot_bits] if self.depth > 1 else self.slot

        with m.If(scan_active):
            m.d.comb += [self.read.addr.eq(scan_address), self.read.en.eq(1),
                         self.write.addr.eq(clear_address), self.write.en.eq(clear_write),
                         self.write.data.eq(0)]
        with m.Else():
            m.d.comb += [self.read.en.eq(1),
                         self.read.addr.eq(Mux(self.busy & ~settles, next_slot, self.offer_slot))]
            with m.If(self.busy):
                with m.If(match):
                    m.d.comb += [self.write.addr.eq(self.slot), self.write.en.eq(1),
                                 self.write.data.eq(Cat(Const(1, 1), self.key, add(stored_value, self.value)))]
                with m.Elif(empty):
                    m.d.comb += [self.write.addr.eq(self.slot), self.write.en.eq(1),
                                 self.write.data.eq(Cat(Const(1, 1), self.key, self.value)),
                                 self.log_write.addr.eq(self.count[:self.slot_bits]),
                                 self.log_write.data.eq(self.slot), self.log_write.en.eq(1)]
                    m.d.sync += self.count.eq(self.count + 1)
                with m.Elif(last_probe):
                    m.d.sync += self.overflow.eq(1)   # the bank is full: this pass is redone
                with m.If(~settles):
                    m.d.sync += [self.slot.eq(next_slot), self.probes.eq(self.probes + 1)]
            with m.If(~self.busy | settles):
                m.d.sync += [self.busy.eq(accept), self.key.eq(self.offer_key),
                             self.value.eq(self.offer_value), self.slot.eq(self.offer_slot),
                             self.probes.eq(0)]


class Engine:
    """Builds the engine into ``m`` for ``block`` (a ``SpgemmHash``)."""

    def __init__(self, m: Module, block):
        self.m, self.block, self.p = m, block, block.p
        self.lanes = block.p.lanes
        self.banks = block.p.banks
        self.bank_depth = block.p.table_size // block.p.banks
        self.address_bits = block.address_bits

    # -- the hash -------------------------------------------------------------------------
    def home(self, column):
        """(bank, slot) of a column (params.slot_of)."""
        bits = self.p.table_size.bit_length() - 1
        if self.p.hash == "modulo":
            h = column[:bits]
        else:
            h = (column * HASH_MULTIPLIER)[32 - bits:32]
        bank_bits = self.banks.bit_length() - 1
        bank = h[:bank_bits] if bank_bits else Const(0, 1)
        return bank, h[bank_bits:] if bits > bank_bits else Const(0, 1)

    def multiply(self, a, b):
        if self.p.value_type == "int32":
            return (a * b)[:VALUE_BITS]
        unit = FloatMultiplier(PRESETS["fp32"])
        self.m.submodules += unit
        self.m.d.comb += [unit.a.eq(a), unit.b.eq(b)]
        return unit.y

    def add(self, a, b):
        if self.p.value_type == "int32":
            return (a + b)[:VALUE_BITS]
        unit = FloatAdder(PRESETS["fp32"])
        self.m.submodules += unit
        self.m.d.comb += [unit.a.eq(a), unit.b.eq(b)]
        return unit.y

    def build(self):
        m, block = self.m, self.block
        lanes, banks = self.lanes, self.banks
        lane_bits = max(1, (lanes - 1).bit_length())
        command, done = block.command, block.done
        req, resp = block.mem_request, block.mem_response
        fsm = StateMachine(m, STATES)

        # -- registers ------------------------------------------------------------------
        cmd = Signal.like(command.payload)
        row = Signal(INDEX_BITS)
        lo = Signal(INDEX_BITS + 1)          # the pass's column window [lo, hi)
        hi = Signal(INDEX_BITS + 1)
        a_at = Signal(INDEX_BITS)            # the next A element of the row
        a_end = Signal(INDEX_BITS)
        a_word = Signal(64 * lanes)          # the A word last read, and its address
        a_word_address = Signal(self.address_bits)
        a_word_valid = Signal()
        a_value = Signal(VALUE_BITS)
        b_next = Signal(INDEX_BITS + 1)      # B elements: the next word to ask for, the row's end
        b_start = Signal(INDEX_BITS)
        b_end = Signal(INDEX_BITS)
        b_asked = Signal(INDEX_BITS + 1)     # word reads out and not yet back
        c_count = Signal(INDEX_BITS)         # C elements written so far
        waiting = Signal()                   # a single read is out (pairs, A words)

        # -- the memory port: one request register ----------------------------------------
        with m.If(req.valid & req.ready):
            m.d.sync += req.valid.eq(0)
        port_free = ~req.valid | req.ready

        def read(address):
            m.d.sync += [req.valid.eq(1), req.payload.address.eq(address),
                         req.payload.write.eq(0)]

        def write(address, word):
            m.d.sync += [req.valid.eq(1), req.payload.address.eq(address),
                         req.payload.write.eq(1), req.payload.data.eq(word)]

        def word_of(base, index):
            return (base + (index >> (lanes.bit_length() - 1)))[:self.address_bits]

        # -- lane buffer: one B word's products, handed to the banks ---------------------
        pending = Signal(lanes)
        keys = [Signal(INDEX_BITS, name=f"lane{l}_key") for l in range(lanes)]
        values = [Signal(VALUE_BITS, name=f"lane{l}_value") for l in range(lanes)]
        homes = [self.home(k) for k in keys]
        bank_units = [Bank(m, self, b) for b in range(banks)]
        taken = []
        for b, unit in enumerate(bank_units):
            wants = [pending[l] & (equals(homes[l][0], b) if banks > 1 else Const(1, 1))
                     for l in range(lanes)]
            any_lane, lane = lowest(m, wants, f"bank{b}_lane")
            m.d.comb += [unit.offer.eq(any_lane),
                         unit.offer_key.eq(pick(m, keys, lane, f"bank{b}_key_in") if lanes > 1 else keys[0]),
                         unit.offer_value.eq(pick(m, values, lane, f"bank{b}_value_in") if lanes > 1 else values[0]),
                         unit.offer_slot.eq(pick(m, [h[1] for h in homes], lane, f"bank{b}_slot_in")
                                            if lanes > 1 else homes[0][1])]
            taken.append(Mux(any_lane & unit.ready, (Const(1, lanes) << lane)[:lanes], 0))
        consumed = Signal(lanes)
        either = taken[0]
        for t in taken[1:]:
            either = either | t
        m.d.comb += consumed.eq(either)
        buffer_free = ~(pending & ~consumed).any()
        m.d.sync += pending.eq(pending & ~consumed)
        overflow = Cat(*(u.overflow for u in bank_units)).any()
        banks_idle = ~Cat(*(u.busy for u in bank_units)).any()

        # products of the arriving B word: lane l valid when its element is in [b_start, b_end)
        # and its column is in the window
        word_index = Signal(INDEX_BITS + 1)       # the element index of the arriving word's lane 0
        products = [self.multiply(a_value, element(resp.payload, l)[1]) for l in range(lanes)]
        arriving = []
        for l in range(lanes):
            column = element(resp.payload, l)[0]
            index = word_index + l
            arriving.append((index >= b_start) & (index < b_end) & (column >= lo) & (column < hi))

        # -- drain and clear: walk each bank's log of filled slots ---------------------------
        # stage 0 reads log[walk_index] of bank walk_bank; stage 1 reads the table at the slot
        # it names; stage 2 hands the entry to the sorter (drain) and clears the slot
        walk_bank = Signal(range(max(2, banks)))
        walk_index = Signal(range(self.bank_depth + 1))
        stage1 = Signal()
        stage1_bank = Signal(range(max(2, banks)))
        stage2 = Signal()
        stage2_bank = Signal(range(max(2, banks)))
        stage2_slot = Signal(max(1, (self.bank_depth - 1).bit_length()))
        scanning = fsm.is_in("DRAIN") | fsm.is_in("CLEAR")
        counts = [u.count for u in bank_units]
        walk_count = pick(m, counts, walk_bank, "walk_count") if banks > 1 else counts[0]
        issue = scanning & (walk_index < walk_count)
        walk_done = scanning & ~issue & equals(walk_bank, banks - 1) & ~stage1 & ~stage2
        logged = [u.log_read.data for u in bank_units]
        log_slot = pick(m, logged, stage1_bank, "log_slot") if banks > 1 else logged[0]
        for b, unit in enumerate(bank_units):
            m.d.comb += [unit.log_read.addr.eq(walk_index[:unit.slot_bits]), unit.log_read.en.eq(1)]
            here = equals(stage2_bank, b) if banks > 1 else Const(1, 1)
            unit.build(self.add, log_slot, scanning, stage2_slot, stage2 & here)
        m.d.sync += [stage1.eq(issue), stage1_bank.eq(walk_bank),
                     stage2.eq(stage1), stage2_bank.eq(stage1_bank), stage2_slot.eq(log_slot)]
        with m.If(issue):
            m.d.sync += walk_index.eq(walk_index + 1)
        if banks > 1:
            with m.Elif(scanning & (walk_bank < banks - 1)):
                m.d.sync += [walk_bank.eq(walk_bank + 1), walk_index.eq(0)]
        drained = [u.read.data for u in bank_units]
        drained_entry = pick(m, drained, stage2_bank, "drained_entry") if banks > 1 else drained[0]

        # -- the sorter: ascending columns, insert or pop one a cycle ----------------------
        size = self.p.table_size
        sort_valid = [Signal(name=f"sort{i}_valid") for i in range(size)]
        sort_key = [Signal(INDEX_BITS, name=f"sort{i}_key") for i in range(size)]
        sort_value = [Signal(VALUE_BITS, name=f"sort{i}_value") for i in range(size)]
        insert = Signal()
        insert_key = drained_entry[1:1 + INDEX_BITS]
        insert_value = drained_entry[1 + INDEX_BITS:]
        pop = Signal()
        above = [~sort_valid[i] | (sort_key[i] > insert_key) for i in range(size)]
        with m.If(insert):
            for i in range(size):
                with m.If(above[i]):
                    if i == 0:
                        m.d.sync += [sort_valid[0].eq(1), sort_key[0].eq(insert_key), sort_value[0].eq(insert_value)]
                    else:
                        shift = above[i - 1]
                        m.d.sync += [sort_valid[i].eq(Mux(shift, sort_valid[i - 1], 1)),
                                     sort_key[i].eq(Mux(shift, sort_key[i - 1], insert_key)),
                                     sort_value[i].eq(Mux(shift, sort_value[i - 1], insert_value))]
        with m.Elif(pop):
            for i in range(size):
                nxt = (sort_valid[i + 1], sort_key[i + 1], sort_value[i + 1]) if i + 1 < size else (0, 0, 0)
                m.d.sync += [sort_valid[i].eq(nxt[0]), sort_key[i].eq(nxt[1]), sort_value[i].eq(nxt[2])]

        # -- C writers: elements and row ends, packed into whole words in order -------------
        out_word = Signal(64 * lanes)
        out_fill = Signal(range(lanes + 1))
        out_address = Signal(self.address_bits)   # C elements: next word
        ptr_word = Signal(64 * lanes)
        ptr_fill = Signal(range(lanes + 1))
        ptr_address = Signal(self.address_bits)

        def placed(word, fill, value64):
            return Cat(*(Mux(equals(fill, l), value64, word[64 * l:64 * l + 64]) for l in range(lanes)))

        # -- the sequence -------------------------------------------------------------------
        m.d.comb += [resp.ready.eq(0)]
        with fsm.state("IDLE"):
            m.d.comb += command.ready.eq(1)
            with m.If(command.valid):
                m.d.sync += [cmd.eq(command.payload), row.eq(0), c_count.eq(0),
                             out_fill.eq(0), ptr_fill.eq(0),
                             out_address.eq(command.payload.c_elem),
                             ptr_address.eq(command.payload.c_ptr),
                             lo.eq(0), hi.eq(command.payload.cols), a_word_valid.eq(0)]
                with m.If(command.payload.rows.any()):
                    fsm.goto("PASS_START")
                with m.Else():
                    fsm.goto("FINISH")

        with fsm.state("PASS_START"):
            # the row's A pair (start, end)
            with m.If(port_free & ~waiting):
                read(word_of(cmd.a_ptr, row))
                m.d.sync += waiting.eq(1)
                fsm.goto("PAIR_WAIT")

        with fsm.state("PAIR_WAIT"):
            m.d.comb += resp.ready.eq(1)
            lane = row[:lane_bits] if lanes > 1 else Const(0, 1)
            pair = pick(m, [resp.payload[64 * l:64 * l + 64] for l in range(lanes)], lane, "a_pair") \
                if lanes > 1 else resp.payload[:64]
            with m.If(resp.valid):
                m.d.sync += [a_at.eq(pair[:32]), a_end.eq(pair[32:]), waiting.eq(0)]
                fsm.goto("A_NEXT")

        with fsm.state("A_NEXT"):
            address = word_of(cmd.a_elem, a_at)
            with m.If(equals(a_at, a_end)):
                fsm.goto("SETTLE")
            with m.Elif(a_word_valid & equals(a_word_address, address)):
                fsm.goto("B_PAIR")
            with m.Elif(port_free):
                read(address)
                m.d.sync += [a_word_address.eq(address), waiting.eq(1)]
                fsm.goto("A_WAIT")

        with fsm.state("A_WAIT"):
            m.d.comb += resp.ready.eq(1)
            with m.If(resp.valid):
                m.d.sync += [a_word.eq(resp.payload), a_word_valid.eq(1), waiting.eq(0)]
                fsm.goto("B_PAIR")

        a_lane = a_at[:lane_bits] if lanes > 1 else Const(0, 1)
        a_element = pick(m, [a_word[64 * l:64 * l + 64] for l in range(lanes)], a_lane, "a_element") \
            if lanes > 1 else a_word[:64]
        with fsm.state("B_PAIR"):
            with m.If(port_free):
                read(word_of(cmd.b_ptr, a_element[:32]))
                m.d.sync += [a_value.eq(a_element[32:]), waiting.eq(1)]
                fsm.goto("B_PAIR_WAIT")

        with fsm.state("B_PAIR_WAIT"):
            m.d.comb += resp.ready.eq(1)
            k = a_element[:32]
            lane = k[:lane_bits] if lanes > 1 else Const(0, 1)
            pair = pick(m, [resp.payload[64 * l:64 * l + 64] for l in range(lanes)], lane, "b_pair") \
                if lanes > 1 else resp.payload[:64]
            with m.If(resp.valid):
                start, end = pair[:32], pair[32:]
                first = (start >> (lanes.bit_length() - 1)) << (lanes.bit_length() - 1)
                m.d.sync += [b_start.eq(start), b_end.eq(end), b_next.eq(first),
                             word_index.eq(first), b_asked.eq(0), waiting.eq(0)]
                fsm.goto("B_STREAM")

        with fsm.state("B_STREAM"):
            # ask for the row's words back to back; each arriving word waits for the lane
            # buffer to empty, then its products go to the banks
            more = (b_next < b_end) & (b_start < b_end)
            with m.If(port_free & more):
                read(word_of(cmd.b_elem, b_next))
                m.d.sync += b_next.eq(b_next + lanes)
            asked = b_asked + (port_free & more) - (resp.valid & buffer_free)
            m.d.sync += b_asked.eq(asked)
            m.d.comb += resp.ready.eq(buffer_free)
            with m.If(resp.valid & buffer_free):
                m.d.sync += [pending.eq(Cat(*arriving) & ~Mux(overflow, (1 << lanes) - 1, 0)),
                             word_index.eq(word_index + lanes)]
                for l in range(lanes):
                    m.d.sync += [keys[l].eq(element(resp.payload, l)[0]), values[l].eq(products[l])]
            with m.If(~more & ~asked.any()):
                m.d.sync += a_at.eq(a_at + 1)
                fsm.goto("A_NEXT")

        with fsm.state("SETTLE"):
            # the last products reach the banks; then redo the pass narrower, or drain it
            with m.If(buffer_free & banks_idle):
                m.d.sync += [walk_bank.eq(0), walk_index.eq(0)]
                with m.If(overflow):
                    half = (hi - lo) >> 1
                    m.d.sync += hi.eq(lo + Mux(half.any(), half, 1))
                    fsm.goto("CLEAR")
                with m.Else():
                    fsm.goto("DRAIN")

        with fsm.state("CLEAR"):
            with m.If(walk_done):
                for unit in bank_units:
                    m.d.sync += [unit.count.eq(0), unit.overflow.eq(0)]
                m.d.sync += a_word_valid.eq(0)
                fsm.goto("PASS_START")

        with fsm.state("DRAIN"):
            m.d.comb += insert.eq(stage2)
            with m.If(walk_done):
                for unit in bank_units:
                    m.d.sync += unit.count.eq(0)
                fsm.goto("EMIT")

        with fsm.state("EMIT"):
            element64 = Cat(sort_key[0], sort_value[0])
            with m.If(sort_valid[0]):
                with m.If(equals(out_fill, lanes - 1)):
                    with m.If(port_free):
                        write(out_address, placed(out_word, out_fill, element64))
                        m.d.sync += [out_address.eq(out_address + 1), out_fill.eq(0),
                                     c_count.eq(c_count + 1)]
                        m.d.comb += pop.eq(1)
                with m.Else():
                    m.d.sync += [out_word.eq(placed(out_word, out_fill, element64)),
                                 out_fill.eq(out_fill + 1), c_count.eq(c_count + 1)]
                    m.d.comb += pop.eq(1)
            with m.Elif(hi < cmd.cols):
                m.d.sync += [lo.eq(hi), hi.eq(cmd.cols), a_word_valid.eq(0)]
                fsm.goto("PASS_START")
            with m.Else():
                fsm.goto("ROW_END")

        with fsm.state("ROW_END"):
            end64 = Cat(c_count, Const(0, 32))
            last_row = equals(row, cmd.rows - 1)
            with m.If(equals(ptr_fill, lanes - 1)):
                with m.If(port_free):
                    write(ptr_address, placed(ptr_word, ptr_fill, end64))
                    m.d.sync += [ptr_address.eq(ptr_address + 1), ptr_fill.eq(0)]
                    self._next_row(fsm, row, lo, hi, cmd, last_row, a_word_valid)
            with m.Else():
                m.d.sync += [ptr_word.eq(placed(ptr_word, ptr_fill, end64)), ptr_fill.eq(ptr_fill + 1)]
                self._next_row(fsm, row, lo, hi, cmd, last_row, a_word_valid)

        with fsm.state("FLUSH"):
            # the partial words of C's elements, then of its row ends
            with m.If(port_free):
                with m.If(out_fill.any()):
                    write(out_address, out_word)
                    m.d.sync += out_fill.eq(0)
                with m.Elif(ptr_fill.any()):
                    write(ptr_address, ptr_word)
                    m.d.sync += ptr_fill.eq(0)
                with m.Else():
                    fsm.goto("FINISH")

        with fsm.state("FINISH"):
            # every write has moved (the port is free): C is in memory
            with m.If(~req.valid):
                m.d.comb += [done.valid.eq(1), done.payload.eq(c_count)]
                with m.If(done.ready):
                    fsm.goto("IDLE")
        return m

    def _next_row(self, fsm, row, lo, hi, cmd, last_row, a_word_valid):
        m = self.m
        m.d.sync += [row.eq(row + 1), lo.eq(0), hi.eq(cmd.cols), a_word_valid.eq(0)]
        with m.If(last_row):
            fsm.goto("FLUSH")
        with m.Else():
            fsm.goto("PASS_START")
