"""The compiled bench's agents: what the python bench does in Python each cycle, as hardware.

Each agent is a ``wiring.Component`` that sits on one port (or one memory's pair of ports) of
the design under test. Their cycle-level behaviour is the spec both benches implement (the
python models in ``sim.stream``, ``sim.flash`` and ``sim.ram`` follow it line by line):

* cycle ``c`` is the clock period that ends at edge ``c``; a beat "moves at edge c" when
  ``valid`` and ``ready`` are both high in cycle ``c``; ``cycle`` counts from 0, the first
  cycle after reset;
* a **source** offers its next word in cycle ``c`` unless its idle pattern stalls it in ``c``;
  once offered, a word stays on offer until it moves;
* a **sink** holds ``ready`` low in the cycles its backpressure pattern stalls, and logs every
  beat that moves with its edge;
* a **recorder** logs every cycle an observation port's ``valid`` is high;
* a **RAM** takes a request when it is not stalled, at most one every ``interval`` cycles and
  while fewer than ``QUEUE`` reads wait; a write stores at once, a read looks its word up at
  once (it sees every earlier write) and may leave ``latency`` cycles later, in order, one beat
  per cycle at most, offered unless the idle pattern withholds it that cycle;
* a **flash channel** takes page requests the same way and returns each page's beats in order
  over a bus with time ``T``: beat ``n`` may start at ``S = max(T, accept + latency)``, is
  offered from cycle ``ceil(S)`` (unless withheld), and once taken at edge ``e`` the bus moves
  to ``T = max(S + beat_cycles, e + 1)``. Times are exact: an integer part and a remainder in
  units of ``1 / scale`` of a cycle (``beat_cycles = beat_int + beat_frac / scale``).

Stall decisions come from ``StallBit``: the hash of ``sim.stalls`` in logic.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from sim import stalls
from sim.compiled import cells
from sim.compiled.cells import CYCLE_WIDTH
from sim.stream import QUEUE

# requests a memory model holds at once (reads waiting for their data to leave, or pages not
# yet fully read); the request port's ready stays low while it is full
QUEUE_LOG2 = QUEUE.bit_length() - 1


class StallBit(wiring.Component):
    """``stall`` in the cycle ``cycle``: ``lowbias32(seed + cycle) < limit`` (``sim.stalls``)."""

    def __init__(self):
        super().__init__({"cycle": In(32), "seed": In(32), "limit": In(32), "stall": Out(1)})

    def elaborate(self, platform):
        m = Module()
        x0 = Signal(32)
        x1 = Signal(32)
        x2 = Signal(32)
        m.d.comb += [
            x0.eq(self.seed + self.cycle),
            x1.eq(((x0 ^ (x0 >> 16)) * stalls.M1)[:32]),
            x2.eq(((x1 ^ (x1 >> 15)) * stalls.M2)[:32]),
            self.stall.eq((x2 ^ (x2 >> 16)) < self.limit),
        ]
        return m


def _stall_members():
    return {"limit": In(32), "seed": In(32)}


def _stall(m: Module, name: str, cycle, seed, limit):
    bit = StallBit()
    m.submodules[name] = bit
    m.d.comb += [bit.cycle.eq(cycle[:32]), bit.seed.eq(seed), bit.limit.eq(limit)]
    return bit.stall


class Source(wiring.Component):
    """Offers ``count`` words from its store (``file``) on one input stream of the design."""

    def __init__(self, width: int, depth_log2: int, file: str):
        self.width, self.depth_log2, self.file = width, depth_log2, file
        super().__init__({
            "cycle": In(CYCLE_WIDTH), "active": In(1), "count": In(32), **_stall_members(),
            "valid": Out(1), "ready": In(1), "payload": Out(max(1, width)),
            "sent": Out(32), "first": Out(CYCLE_WIDTH, init=(1 << CYCLE_WIDTH) - 1), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        idle = _stall(m, "idle", self.cycle, self.seed, self.limit)
        held = Signal()  # a word was offered and has not moved: it stays on offer
        more = Signal()
        taken = Signal()
        m.d.comb += [
            more.eq(self.sent < self.count),
            self.valid.eq(self.active & more & (held | ~idle)),
            taken.eq(self.valid & self.ready),
            self.done.eq(~more),
        ]
        # the store is read a cycle ahead: its output holds the word at ``sent`` after each edge
        m.submodules.store = cells.rom(width=max(1, self.width), depth_log2=self.depth_log2,
                                       file=self.file, addr=(self.sent + taken)[:self.depth_log2],
                                       data=self.payload)
        with m.If(taken):
            m.d.sync += [self.sent.eq(self.sent + 1), held.eq(0)]
            with m.If(~self.sent.any()):
                m.d.sync += self.first.eq(self.cycle)
        with m.Elif(self.valid):
            m.d.sync += held.eq(1)
        return m


class Sink(wiring.Component):
    """Takes beats from one output stream of the design and logs each with its edge."""

    def __init__(self, width: int, file: str):
        self.width, self.file = width, file
        super().__init__({
            "cycle": In(CYCLE_WIDTH), "active": In(1), "expected": In(32), **_stall_members(),
            "valid": In(1), "ready": Out(1), "payload": In(max(1, width)), "flush": In(1),
            "received": Out(32), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        stall = _stall(m, "backpressure", self.cycle, self.seed, self.limit)
        taken = Signal()
        m.d.comb += [
            self.ready.eq(self.active & ~stall),
            taken.eq(self.valid & self.ready),
            self.done.eq(self.received >= self.expected),
        ]
        with m.If(taken):
            m.d.sync += self.received.eq(self.received + 1)
        m.submodules.log = cells.log(width=max(1, self.width), file=self.file, enable=taken,
                                     cycle=self.cycle, data=self.payload, flush=self.flush)
        return m


class Recorder(wiring.Component):
    """Logs every cycle an observation port (``TraceSignature``) has ``valid`` high."""

    def __init__(self, width: int, file: str):
        self.width, self.file = width, file
        super().__init__({"cycle": In(CYCLE_WIDTH), "active": In(1), "valid": In(1),
                          "payload": In(max(1, width)), "flush": In(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.log = cells.log(width=max(1, self.width), file=self.file,
                                     enable=self.active & self.valid, cycle=self.cycle,
                                     data=self.payload, flush=self.flush)
        return m


def _queue(m: Module, name: str, width: int):
    """A ``QUEUE``-entry FIFO store: (write port, head read port, head, tail, count)."""
    store = memory.Memory(shape=width, depth=QUEUE, init=[])
    m.submodules[name] = store
    push = store.write_port()
    head_port = store.read_port(domain="comb")
    head = Signal(QUEUE_LOG2, name=f"{name}_head")
    tail = Signal(QUEUE_LOG2, name=f"{name}_tail")
    count = Signal(range(QUEUE + 1), name=f"{name}_count")
    m.d.comb += [push.addr.eq(tail), head_port.addr.eq(head)]
    return push, head_port, head, tail, count


class RamServer(wiring.Component):
    """A ``RamMemory`` (``hwgen.core.block``): (address, write, data) requests in, read data out.

    The store holds ``2^depth_log2`` words; a request beyond it reads 0 and writes nothing (the
    host reports it from the log)."""

    def __init__(self, address_width: int, data_width: int, depth_log2: int, file: str,
                 image: str, log: str):
        self.address_width, self.data_width, self.depth_log2 = address_width, data_width, depth_log2
        self.file, self.image, self.log = file, image, log
        super().__init__({
            "cycle": In(CYCLE_WIDTH), "active": In(1), "latency": In(32), "interval": In(32),
            "ready_limit": In(32), "ready_seed": In(32), "idle_limit": In(32), "idle_seed": In(32),
            "req_valid": In(1), "req_ready": Out(1), "req_payload": In(address_width + 1 + data_width),
            "resp_valid": Out(1), "resp_ready": In(1), "resp_payload": Out(data_width),
            "dump": In(1), "outstanding": Out(range(QUEUE + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        aw, dw, depth_log2 = self.address_width, self.data_width, self.depth_log2
        refuse = _stall(m, "ready_stall", self.cycle, self.ready_seed, self.ready_limit)
        withhold = _stall(m, "idle_stall", self.cycle, self.idle_seed, self.idle_limit)
        address = self.req_payload[:aw]
        write = self.req_payload[aw]
        data = self.req_payload[aw + 1:]
        in_range = Signal()
        m.d.comb += in_range.eq(~address[depth_log2:].any() if aw > depth_log2 else 1)

        store_data = Signal(dw)
        read_value = Signal(dw)
        accept = Signal()
        m.submodules.store = cells.ram(width=dw, depth_log2=depth_log2, file=self.file,
                                       image=self.image, we=accept & write & in_range,
                                       waddr=address[:depth_log2], wdata=data,
                                       raddr=address[:depth_log2], rdata=store_data, dump=self.dump)
        m.d.comb += read_value.eq(Mux(in_range, store_data, 0))

        # reads waiting to leave: (due edge, data)
        push, head_entry, head, tail, count = _queue(m, "reads", CYCLE_WIDTH + dw)
        next_accept = Signal(CYCLE_WIDTH)  # the first edge a request may move at (interval)
        free = Signal(CYCLE_WIDTH)         # the first edge the next beat may move at
        held = Signal()
        head_due = head_entry.data[:CYCLE_WIDTH]
        pushed = Signal()
        taken = Signal()
        m.d.comb += [
            self.req_ready.eq(self.active & ~refuse & (self.cycle >= next_accept) & (count < QUEUE)),
            accept.eq(self.req_valid & self.req_ready),
            pushed.eq(accept & ~write),
            push.en.eq(pushed),
            push.data.eq(Cat((self.cycle + self.latency)[:CYCLE_WIDTH], read_value)),
            self.resp_valid.eq(self.active & count.any() & (
                held | ((self.cycle >= head_due) & (self.cycle >= free) & ~withhold))),
            self.resp_payload.eq(head_entry.data[CYCLE_WIDTH:]),
            taken.eq(self.resp_valid & self.resp_ready),
            self.outstanding.eq(count),
        ]
        with m.If(accept):
            m.d.sync += next_accept.eq(self.cycle + self.interval)
        with m.If(pushed):
            m.d.sync += tail.eq(tail + 1)
        with m.If(taken):
            m.d.sync += [head.eq(head + 1), free.eq(self.cycle + 1), held.eq(0)]
        with m.Elif(self.resp_valid):
            m.d.sync += held.eq(1)
        m.d.sync += count.eq(count + pushed - taken)
        # one line per request, in order: address, write, the word written or the word read
        m.submodules.log = cells.log(width=aw + 1 + dw, file=self.log, enable=accept,
                                     cycle=self.cycle, data=Cat(address, write, Mux(write, data, read_value)),
                                     flush=self.dump)
        return m


class FlashServer(wiring.Component):
    """A ``PagedMemory`` channel: page ids in, each page's ``page_beats`` beats out in order.

    The store holds pages ``0 .. 2^pages_log2 - 1``, page ``p`` at words ``p * page_beats``;
    a page outside it, or one the image lacks, reads as zeros (the host reports it)."""

    def __init__(self, id_width: int, data_width: int, page_beats: int, pages_log2: int,
                 file: str, log: str):
        self.id_width, self.data_width, self.page_beats = id_width, data_width, page_beats
        self.pages_log2, self.file, self.log = pages_log2, file, log
        self.depth_log2 = max(1, ((1 << pages_log2) * page_beats - 1).bit_length())
        super().__init__({
            "cycle": In(CYCLE_WIDTH), "active": In(1), "latency": In(32), "scale": In(32),
            "beat_int": In(32), "beat_frac": In(32),
            "ready_limit": In(32), "ready_seed": In(32), "idle_limit": In(32), "idle_seed": In(32),
            "req_valid": In(1), "req_ready": Out(1), "req_payload": In(id_width),
            "resp_valid": Out(1), "resp_ready": In(1), "resp_payload": Out(data_width),
            "flush": In(1), "outstanding": Out(range(QUEUE + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        idw, page_beats = self.id_width, self.page_beats
        refuse = _stall(m, "ready_stall", self.cycle, self.ready_seed, self.ready_limit)
        withhold = _stall(m, "idle_stall", self.cycle, self.idle_seed, self.idle_limit)

        # requests not fully read: (accept edge, page)
        push, head_entry, head, tail, count = _queue(m, "requests", CYCLE_WIDTH + idw)
        accept = Signal()
        taken = Signal()
        m.d.comb += [
            self.req_ready.eq(self.active & ~refuse & (count < QUEUE)),
            accept.eq(self.req_valid & self.req_ready),
            push.en.eq(accept),
            push.data.eq(Cat(self.cycle, self.req_payload)),
            self.outstanding.eq(count),
        ]
        accepted_at = head_entry.data[:CYCLE_WIDTH]
        page = head_entry.data[CYCLE_WIDTH:]

        # bus time T = bus_int + bus_frac / scale; the head beat starts at S = max(T, R)
        time_width = CYCLE_WIDTH + 2
        bus_int = Signal(time_width)
        bus_frac = Signal(32)
        ready_int = Signal(time_width)     # R: accept + latency (whole cycles)
        start_int = Signal(time_width)
        start_frac = Signal(32)
        due = Signal(time_width)           # ceil(S)
        m.d.comb += [
            ready_int.eq(accepted_at + self.latency),
            start_int.eq(Mux(bus_int >= ready_int, bus_int, ready_int)),
            start_frac.eq(Mux(bus_int >= ready_int, bus_frac, 0)),
            due.eq(start_int + start_frac.any()),
        ]
        beat = Signal(range(max(2, page_beats)))
        held = Signal()
        m.d.comb += [
            self.resp_valid.eq(self.active & count.any() & (held | ((self.cycle >= due) & ~withhold))),
            taken.eq(self.resp_valid & self.resp_ready),
        ]

        store_data = Signal(self.data_width)
        in_range = Signal()
        m.d.comb += in_range.eq(~page[self.pages_log2:].any() if idw > self.pages_log2 else 1)
        address = (page[:self.pages_log2] * page_beats + beat)[:self.depth_log2]
        m.submodules.store = cells.rom(width=self.data_width, depth_log2=self.depth_log2,
                                       file=self.file, addr=address, data=store_data, sync=False)
        m.d.comb += self.resp_payload.eq(Mux(in_range, store_data, 0))

        # after a beat moves at edge e: T = max(S + beat_cycles, e + 1)
        sum_frac = Signal(33)
        carry = Signal()
        after_int = Signal(time_width)
        after_frac = Signal(32)
        m.d.comb += [
            sum_frac.eq(start_frac + self.beat_frac),
            carry.eq(sum_frac >= self.scale),
            after_int.eq(start_int + self.beat_int + carry),
            after_frac.eq(Mux(carry, sum_frac - self.scale, sum_frac)),
        ]
        first = Signal()
        last = Signal()
        m.d.comb += [first.eq(taken & ~beat.any()), last.eq(taken & (beat == page_beats - 1))]
        with m.If(taken):
            with m.If(after_int >= self.cycle + 1):
                m.d.sync += [bus_int.eq(after_int), bus_frac.eq(after_frac)]
            with m.Else():
                m.d.sync += [bus_int.eq(self.cycle + 1), bus_frac.eq(0)]
            m.d.sync += held.eq(0)
            with m.If(last):
                m.d.sync += [beat.eq(0), head.eq(head + 1)]
            with m.Else():
                m.d.sync += beat.eq(beat + 1)
        with m.Elif(self.resp_valid):
            m.d.sync += held.eq(1)
        with m.If(accept):
            m.d.sync += tail.eq(tail + 1)
        m.d.sync += count.eq(count + accept - last)
        # one line per cycle with an event: (accepted, page), first beat moved, last beat moved
        m.submodules.log = cells.log(width=idw + 3, file=self.log, enable=accept | first | last,
                                     cycle=self.cycle,
                                     data=Cat(self.req_payload, accept, first, last),
                                     flush=self.flush)
        return m
