"""The hash-accumulate side of ``spgemm_hash``'s engine: the lane multipliers, and the table
(lane buffer, banks, log walker) that merges their products and hands its entries on."""

from __future__ import annotations

from functools import reduce
from operator import add, mul, or_

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import equals, lowest
from ....numerics.formats import PRESETS
from ....numerics.rtl.add import FloatAdder
from ....numerics.rtl.mul import FloatMultiplier
from ..params import HASH_MULTIPLIER
from .ports import (ENTRY, INDEX_BITS, TABLE_ENTRY, VALUE_BITS, WALK, choose, element,
                    product_layout, scan_signature, slot_bits, update_layout, word_layout)


class Wrapping(wiring.Component):
    """int32 ``y = a * b`` or ``a + b`` (``operation``), modulo 2^32."""

    def __init__(self, operation):
        self.operation = operation
        super().__init__({"a": In(VALUE_BITS), "b": In(VALUE_BITS), "y": Out(VALUE_BITS)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(self.operation(self.a, self.b)[:VALUE_BITS])
        return m


def multiplier(value_type: str) -> wiring.Component:
    return Wrapping(mul) if value_type == "int32" else FloatMultiplier(PRESETS["fp32"])


def adder(value_type: str) -> wiring.Component:
    return Wrapping(add) if value_type == "int32" else FloatAdder(PRESETS["fp32"])


def home(column, table_size: int, banks: int, hash_kind: str):
    """(bank, slot) of a column (params.slot_of)."""
    bits = table_size.bit_length() - 1
    if hash_kind == "modulo":
        h = column[:bits]
    else:
        h = (column * HASH_MULTIPLIER)[32 - bits:32]
    bank_bits = banks.bit_length() - 1
    bank = h[:bank_bits] if bank_bits else Const(0, 1)
    return bank, h[bank_bits:] if bits > bank_bits else Const(0, 1)


class Multipliers(wiring.Component):
    """``lanes`` multipliers: each lane's value of an arriving B word times A's value, without
    a register (the lane buffer holds the products)."""

    def __init__(self, lanes: int, value_type: str):
        self.lanes, self.value_type = lanes, value_type
        super().__init__({
            "words": In(stream.Signature(word_layout(lanes))),
            "products": Out(stream.Signature(product_layout(lanes))),
        })

    def elaborate(self, platform):
        m = Module()
        words, products = self.words, self.products
        m.d.comb += [products.valid.eq(words.valid), words.ready.eq(products.ready),
                     products.payload.lanes.eq(words.payload.lanes)]
        for lane in range(self.lanes):
            column, value = element(words.payload.word, lane)
            m.submodules[f"mul{lane}"] = unit = multiplier(self.value_type)
            m.d.comb += [unit.a.eq(words.payload.a_value), unit.b.eq(value),
                         products.payload.keys[lane].eq(column), products.payload.values[lane].eq(unit.y)]
        return m


class LaneBuffer(wiring.Component):
    """One B word's products, held until the banks have taken them: each cycle each bank takes
    the lowest-numbered waiting lane that maps to it. The next word is taken in the cycle the
    last lanes go. While ``drop`` (a bank overflowed) a word's products are dropped."""

    def __init__(self, lanes: int, table_size: int, banks: int, hash_kind: str):
        self.lanes, self.table_size, self.banks, self.hash_kind = lanes, table_size, banks, hash_kind
        super().__init__({
            "products": In(stream.Signature(product_layout(lanes))),
            "drop": In(1),
            "updates": Out(stream.Signature(update_layout(table_size // banks))).array(banks),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, banks, products = self.lanes, self.banks, self.products
        pending = Signal(lanes)
        keys = [Signal(INDEX_BITS, name=f"lane{l}_key") for l in range(lanes)]
        values = [Signal(VALUE_BITS, name=f"lane{l}_value") for l in range(lanes)]
        homes = [home(key, self.table_size, banks, self.hash_kind) for key in keys]

        taken = []
        for b, update in enumerate(self.updates):
            wants = [pending[l] & (equals(homes[l][0], b) if banks > 1 else Const(1, 1)) for l in range(lanes)]
            any_lane, lane = lowest(m, wants, f"bank{b}_lane")
            m.d.comb += [update.valid.eq(any_lane),
                         update.payload.key.eq(choose(m, keys, lane, f"bank{b}_key")),
                         update.payload.value.eq(choose(m, values, lane, f"bank{b}_value")),
                         update.payload.slot.eq(choose(m, [h[1] for h in homes], lane, f"bank{b}_slot"))]
            taken.append(Mux(any_lane & update.ready, (Const(1, lanes) << lane)[:lanes], 0))
        consumed = Signal(lanes)
        m.d.comb += [consumed.eq(reduce(or_, taken)), products.ready.eq(~(pending & ~consumed).any())]

        m.d.sync += pending.eq(pending & ~consumed)
        with m.If(products.valid & products.ready):
            m.d.sync += pending.eq(products.payload.lanes & ~Mux(self.drop, (1 << lanes) - 1, 0))
            for l in range(lanes):
                m.d.sync += [keys[l].eq(products.payload.keys[l]), values[l].eq(products.payload.values[l])]
        return m


class HashBank(wiring.Component):
    """One scratchpad bank: ``depth`` entries (valid, key, value), linear probing, and a
    read-check-write pipeline that takes one update a cycle. An update's read is issued in the
    cycle it is accepted; its data arrives with the next, when the entry is checked and written
    (a match accumulates, an empty slot inserts, another key sends it one slot on). The read
    port is transparent to the write port, so an update right behind one that writes its slot
    reads the new value: back-to-back updates to one key never lose one. The slots it fills
    are logged, in order, so that the drain and the clear visit only those (``scan``)."""

    def __init__(self, depth: int, value_type: str):
        self.depth, self.value_type = depth, value_type
        super().__init__({
            "update": In(stream.Signature(update_layout(depth))),
            "scan": In(scan_signature(depth)),
            "busy": Out(1),           # an update is in the pipeline
            "overflow": Out(1),       # an update found every slot taken by other keys
        })

    def elaborate(self, platform):
        m = Module()
        depth, bits = self.depth, slot_bits(self.depth)
        update, scan, busy, count = self.update, self.scan, self.busy, self.scan.count
        m.submodules.table = table = memory.Memory(shape=TABLE_ENTRY, depth=depth, init=[])
        write = table.write_port()
        read = table.read_port(transparent_for=(write,))
        m.submodules.log = log = memory.Memory(shape=bits, depth=depth, init=[])
        log_write = log.write_port()
        log_read = log.read_port()
        m.submodules.add = accumulate = adder(self.value_type)

        # the update whose slot's data arrives this cycle
        key = Signal(INDEX_BITS)
        value = Signal(VALUE_BITS)
        slot = Signal(bits)
        probes = Signal(range(depth + 1))
        stored = read.data
        match = stored.valid & equals(stored.key, key)
        empty = ~stored.valid
        last_probe = equals(probes, depth - 1)
        settles = match | empty | last_probe      # this update leaves the pipeline this cycle
        next_slot = (slot + 1)[:bits] if depth > 1 else slot
        m.d.comb += [update.ready.eq(~busy | settles), accumulate.a.eq(stored.value), accumulate.b.eq(value),
                     read.en.eq(1), scan.entry.eq(read.data),
                     log_read.addr.eq(scan.log_index), log_read.en.eq(1), scan.log_slot.eq(log_read.data)]

        with m.If(scan.active):
            m.d.comb += [read.addr.eq(scan.slot), write.addr.eq(scan.clear_slot),
                         write.en.eq(scan.clear), write.data.eq(0)]
        with m.Else():
            m.d.comb += read.addr.eq(Mux(busy & ~settles, next_slot, update.payload.slot))
            with m.If(busy):
                with m.If(match):
                    m.d.comb += [write.addr.eq(slot), write.en.eq(1),
                                 write.data.eq(Cat(Const(1, 1), key, accumulate.y))]
                with m.Elif(empty):
                    m.d.comb += [write.addr.eq(slot), write.en.eq(1),
                                 write.data.eq(Cat(Const(1, 1), key, value)),
                                 log_write.addr.eq(count[:bits]), log_write.data.eq(slot), log_write.en.eq(1)]
                    m.d.sync += count.eq(count + 1)
                with m.Elif(last_probe):
                    m.d.sync += self.overflow.eq(1)   # the bank is full: this pass is redone
                with m.If(~settles):
                    m.d.sync += [slot.eq(next_slot), probes.eq(probes + 1)]
            with m.If(~busy | settles):       # ready: an offered update is taken
                m.d.sync += [busy.eq(update.valid), key.eq(update.payload.key), value.eq(update.payload.value),
                             slot.eq(update.payload.slot), probes.eq(0)]
        with m.If(scan.restart):
            m.d.sync += [count.eq(0), self.overflow.eq(0)]
        return m


class LogWalker(wiring.Component):
    """The drain and the clear: walk each bank's log of filled slots. Stage 0 reads log entry
    ``walk_index`` of bank ``walk_bank``; stage 1 reads the table at the slot it names; stage 2
    hands the entry on (``entries``, when draining) and clears the slot. One entry a cycle, a
    cycle per bank switch; the ``walk`` beat is taken in the walk's last cycle."""

    def __init__(self, banks: int, depth: int):
        self.bank_count, self.depth = banks, depth
        super().__init__({
            "walk": In(stream.Signature(WALK)),
            "entries": Out(stream.Signature(ENTRY, always_ready=True)),
            "banks": Out(scan_signature(depth)).array(banks),
        })

    def elaborate(self, platform):
        m = Module()
        banks, walk, ports = self.bank_count, self.walk, self.banks
        walk_bank = Signal(range(max(2, banks)))
        walk_index = Signal(range(self.depth + 1))
        stage1 = Signal()
        stage1_bank = Signal(range(max(2, banks)))
        stage2 = Signal()
        stage2_bank = Signal(range(max(2, banks)))
        stage2_slot = Signal(slot_bits(self.depth))

        walking = walk.valid
        walk_count = choose(m, [port.count for port in ports], walk_bank, "walk_count")
        issue = walking & (walk_index < walk_count)
        done = walking & ~issue & equals(walk_bank, banks - 1) & ~stage1 & ~stage2
        log_slot = choose(m, [port.log_slot for port in ports], stage1_bank, "log_slot")
        entry = TABLE_ENTRY(choose(m, [port.entry.as_value() for port in ports], stage2_bank, "entry"))
        for b, port in enumerate(ports):
            here = equals(stage2_bank, b) if banks > 1 else Const(1, 1)
            m.d.comb += [port.active.eq(walking), port.log_index.eq(walk_index[:len(stage2_slot)]),
                         port.slot.eq(log_slot), port.clear.eq(stage2 & here),
                         port.clear_slot.eq(stage2_slot), port.restart.eq(done)]
        m.d.comb += [walk.ready.eq(done), self.entries.valid.eq(stage2 & walk.payload.drain),
                     self.entries.payload.key.eq(entry.key), self.entries.payload.value.eq(entry.value)]

        m.d.sync += [stage1.eq(issue), stage1_bank.eq(walk_bank),
                     stage2.eq(stage1), stage2_bank.eq(stage1_bank), stage2_slot.eq(log_slot)]
        with m.If(issue):
            m.d.sync += walk_index.eq(walk_index + 1)
        if banks > 1:
            with m.Elif(walking & (walk_bank < banks - 1)):
                m.d.sync += [walk_bank.eq(walk_bank + 1), walk_index.eq(0)]
        with m.If(done):
            m.d.sync += [walk_bank.eq(0), walk_index.eq(0)]     # ready for the next walk
        return m


class HashTable(wiring.Component):
    """The banked table: products in (``products``), each to its bank through the lane
    buffer; ``idle`` when none waits anywhere, ``overflow`` when a bank overflowed; walked
    (``walk``) to drain its entries (``entries``, in log order) or only to clear it."""

    def __init__(self, lanes: int, table_size: int, banks: int, hash_kind: str, value_type: str):
        self.lanes, self.table_size, self.banks = lanes, table_size, banks
        self.hash_kind, self.value_type = hash_kind, value_type
        super().__init__({
            "products": In(stream.Signature(product_layout(lanes))),
            "walk": In(stream.Signature(WALK)),
            "entries": Out(stream.Signature(ENTRY, always_ready=True)),
            "idle": Out(1),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.table_size // self.banks
        m.submodules.buffer = buffer = LaneBuffer(self.lanes, self.table_size, self.banks, self.hash_kind)
        m.submodules.walker = walker = LogWalker(self.banks, depth)
        units = []
        for b in range(self.banks):
            m.submodules[f"bank{b}"] = unit = HashBank(depth, self.value_type)
            wiring.connect(m, buffer.updates[b], unit.update)
            wiring.connect(m, walker.banks[b], unit.scan)
            units.append(unit)
        wiring.connect(m, wiring.flipped(self.products), buffer.products)
        wiring.connect(m, wiring.flipped(self.walk), walker.walk)
        wiring.connect(m, walker.entries, wiring.flipped(self.entries))

        # idle: the buffer's last lanes go this cycle (it takes a word) and no bank holds one
        m.d.comb += [self.overflow.eq(Cat(*(u.overflow for u in units)).any()),
                     self.idle.eq(buffer.products.ready & ~Cat(*(u.busy for u in units)).any()),
                     buffer.drop.eq(self.overflow)]
        return m
