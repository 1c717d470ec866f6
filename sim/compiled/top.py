"""``hwgen_bench``: the design under test wrapped in its bench agents, as one top module.

The design enters as an instance of its generated Verilog module (the very file ``hwgen
generate`` wrote, not a re-elaboration), so the compiled bench verifies the delivered
Verilog. Around it, per port (``BenchLayout``): a ``Source`` on every input stream, a ``Sink``
on every output stream, a ``Recorder`` on every observation port and a ``RamServer`` or
``FlashServer`` on every memory's port pair; a cycle counter and the completion logic; and the
run's settings as input ports (``<agent>_<setting>``) that cocotb sets once before reset.

Every port of the design is also a port of ``hwgen_bench`` under its own name. With
``external`` high the agents let go and those ports drive the design directly: the python bench
(``sim.bench``) runs through the same build, so both benches simulate one binary.

A run: cocotb applies the settings and holds ``rst`` for two cycles, raising ``run`` after the
first; the design and the agents see the reset a cycle later, the agents start in the first
cycle after it (cycle 0), and cocotb waits for ``done``. Completion follows ``sim.stream.BenchState``: once every source has sent
its words and every sink has its expected beats (as seen in cycle ``c``: after edge ``c-1``),
the run drains ``drain`` more cycles and stops after edge ``c - 1 + drain``; it stops after
edge ``max_cycles`` regardless (``timed_out``). ``last_edge`` is the last edge it ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import (Cat, ClockDomain, ClockSignal, Const, DomainRenamer, Instance, Module, Mux,
                          ResetSignal, Signal)
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sim.compiled import cells
from sim.compiled.agents import QUEUE, FlashServer, RamServer, Recorder, Sink, Source
from sim.compiled.cells import CYCLE_WIDTH

TOP = "hwgen_bench"
NEVER = (1 << CYCLE_WIDTH) - 1


@dataclass(frozen=True)
class Port:
    name: str
    direction: str   # "input" or "output", as the design sees it
    width: int


@dataclass(frozen=True)
class Memory:
    kind: str        # "ram" or "paged"
    name: str
    request: str
    response: str
    request_width: int
    data_width: int
    depth_log2: int = 0       # ram: words in the store
    address_width: int = 0    # ram
    page_beats: int = 0       # paged
    pages_log2: int = 0       # paged: pages in the store


@dataclass(frozen=True)
class BenchLayout:
    """What a compiled bench build depends on: the design's ports and what sits on each.
    Everything else about a run (counts, timing, stall odds, seeds) is set at run time."""

    dut: str
    ports: tuple[Port, ...]
    sources: tuple[tuple[str, int], ...]          # (port, payload width)
    source_depth_log2: int
    sinks: tuple[tuple[str, int], ...]
    traces: tuple[tuple[str, int], ...]
    memories: tuple[Memory, ...] = field(default_factory=tuple)

    # -- names shared by the hardware, the host and the cocotb bench --------------------------
    def agents(self) -> dict[str, str]:
        """agent name -> what it serves, e.g. ``src0 -> input stream operands``."""
        names = {f"src{i}": f"input stream {port}" for i, (port, _) in enumerate(self.sources)}
        names |= {f"snk{i}": f"output stream {port}" for i, (port, _) in enumerate(self.sinks)}
        names |= {f"trc{i}": f"observation port {port}" for i, (port, _) in enumerate(self.traces)}
        names |= {f"mem{i}": f"memory {mem.name}" for i, mem in enumerate(self.memories)}
        return names

    @staticmethod
    def source_file(port: str) -> str:
        return f"in_{port}.bin"

    @staticmethod
    def sink_file(port: str) -> str:
        return f"out_{port}.log"

    @staticmethod
    def trace_file(port: str) -> str:
        return f"trace_{port}.log"

    @staticmethod
    def memory_files(name: str) -> dict[str, str]:
        return {"init": f"mem_{name}.init", "log": f"mem_{name}.log", "image": f"mem_{name}.image"}

    XCHECK_FILE = "xcheck.log"

    def handshake_bits(self) -> list[str]:
        """The design's handshake outputs the X check watches, LSB first."""
        outputs = {p.name for p in self.ports if p.direction == "output"}
        return [p.name for p in self.ports if p.name in outputs and
                (p.name.endswith("__valid") or p.name.endswith("__ready"))]


class BenchTop(wiring.Component):
    _MustUse__silence = True  # built for its signature as often as for its hardware

    def __init__(self, layout: BenchLayout):
        self.layout = layout
        members = {
            "run": In(1), "external": In(1), "done": Out(1), "timed_out": Out(1),
            "last_edge": Out(CYCLE_WIDTH), "max_cycles": In(CYCLE_WIDTH), "drain": In(32),
        }
        for i, _ in enumerate(layout.sources):
            members |= {f"src{i}_count": In(32), f"src{i}_limit": In(32), f"src{i}_seed": In(32),
                        f"src{i}_sent": Out(32), f"src{i}_first": Out(CYCLE_WIDTH)}
        for i, _ in enumerate(layout.sinks):
            members |= {f"snk{i}_expected": In(32), f"snk{i}_limit": In(32), f"snk{i}_seed": In(32),
                        f"snk{i}_received": Out(32)}
        for i, mem in enumerate(layout.memories):
            timing = ("latency", "interval") if mem.kind == "ram" else \
                ("latency", "scale", "beat_int", "beat_frac")
            for setting in timing + ("ready_limit", "ready_seed", "idle_limit", "idle_seed"):
                members[f"mem{i}_{setting}"] = In(32)
            members[f"mem{i}_outstanding"] = Out(range(QUEUE + 1))
        for port in layout.ports:
            members[port.name] = (In if port.direction == "input" else Out)(port.width)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        layout = self.layout
        # Verilator evaluates logic that depends on a top-level input at every evaluation (twice
        # a cycle) and logic that depends only on registers once, at the rising edge. So no
        # logic of the design or the agents reads a top-level input: the settings are captured
        # in registers while in reset, ``run``, ``external`` and ``rst`` are registered (the
        # design and the agents are reset by ``rst`` delayed a cycle), and the design inputs
        # an external driver sets are captured at the falling edge (a value written after
        # rising edge c is what the design sees at edge c + 1), by a clock gated off unless
        # ``external`` is set.
        settings = {}

        def setting(name: str):
            if name not in settings:
                port = getattr(self, name)
                settings[name] = Signal(len(port), name=f"{name}_q", reset_less=True)
                with m.If(ResetSignal()):
                    m.d.sync += settings[name].eq(port)
            return settings[name]

        external = setting("external")
        reset = Signal(init=1, reset_less=True)
        m.d.sync += reset.eq(ResetSignal())
        m.domains.bench = ClockDomain("bench")
        m.domains.fall = ClockDomain("fall", clk_edge="neg", reset_less=True)
        m.d.comb += [ClockSignal("bench").eq(ClockSignal()), ResetSignal("bench").eq(reset),
                     ClockSignal("fall").eq(ClockSignal() & external)]
        bench = DomainRenamer("bench")

        cycle = Signal(CYCLE_WIDTH)
        stopped = Signal()
        active = Signal(reset_less=True)   # the agents run: from the first cycle out of reset
        m.d.comb += self.done.eq(stopped)

        # the design, as its own Verilog module; its ports are wired below
        dut = {port.name: Signal(port.width, name=f"dut_{port.name}") for port in layout.ports}
        m.submodules.dut = Instance(layout.dut, i_clk=ClockSignal(), i_rst=reset, **{
            ("i_" if port.direction == "input" else "o_") + port.name: dut[port.name]
            for port in layout.ports})
        drive = {}   # design input -> what the agents drive on it
        for port in layout.ports:
            if port.direction == "output":
                m.d.comb += getattr(self, port.name).eq(dut[port.name])

        def payload(port: str):
            return dut.get(f"{port}__payload", Const(0, 1))

        done_flags = []
        for i, (port, width) in enumerate(layout.sources):
            source = Source(width, layout.source_depth_log2, layout.source_file(port))
            m.submodules[f"src{i}"] = bench(source)
            m.d.comb += [source.cycle.eq(cycle), source.active.eq(active),
                         source.count.eq(setting(f"src{i}_count")),
                         source.limit.eq(setting(f"src{i}_limit")),
                         source.seed.eq(setting(f"src{i}_seed")),
                         source.ready.eq(dut[f"{port}__ready"]),
                         getattr(self, f"src{i}_sent").eq(source.sent),
                         getattr(self, f"src{i}_first").eq(source.first)]
            drive[f"{port}__valid"] = source.valid
            if width:
                drive[f"{port}__payload"] = source.payload[:width]
            done_flags.append(source.done)
        for i, (port, width) in enumerate(layout.sinks):
            sink = Sink(width, layout.sink_file(port))
            m.submodules[f"snk{i}"] = bench(sink)
            m.d.comb += [sink.cycle.eq(cycle), sink.active.eq(active), sink.flush.eq(stopped),
                         sink.expected.eq(setting(f"snk{i}_expected")),
                         sink.limit.eq(setting(f"snk{i}_limit")),
                         sink.seed.eq(setting(f"snk{i}_seed")),
                         sink.valid.eq(dut[f"{port}__valid"]), sink.payload.eq(payload(port)),
                         getattr(self, f"snk{i}_received").eq(sink.received)]
            drive[f"{port}__ready"] = sink.ready
            done_flags.append(sink.done)
        for i, (port, width) in enumerate(layout.traces):
            recorder = Recorder(width, layout.trace_file(port))
            m.submodules[f"trc{i}"] = bench(recorder)
            m.d.comb += [recorder.cycle.eq(cycle), recorder.active.eq(active),
                         recorder.flush.eq(stopped), recorder.valid.eq(dut[f"{port}__valid"]),
                         recorder.payload.eq(payload(port))]
        for i, mem in enumerate(layout.memories):
            files = layout.memory_files(mem.name)
            if mem.kind == "ram":
                server = RamServer(mem.address_width, mem.data_width, mem.depth_log2,
                                   files["init"], files["image"], files["log"])
                timing = ("latency", "interval")
                m.d.comb += server.dump.eq(stopped)
            else:
                server = FlashServer(mem.request_width, mem.data_width, mem.page_beats,
                                     mem.pages_log2, files["init"], files["log"])
                timing = ("latency", "scale", "beat_int", "beat_frac")
                m.d.comb += server.flush.eq(stopped)
            m.submodules[f"mem{i}"] = bench(server)
            for name in timing + ("ready_limit", "ready_seed", "idle_limit", "idle_seed"):
                m.d.comb += getattr(server, name).eq(setting(f"mem{i}_{name}"))
            m.d.comb += [server.cycle.eq(cycle), server.active.eq(active),
                         server.req_valid.eq(dut[f"{mem.request}__valid"]),
                         server.req_payload.eq(payload(mem.request)),
                         server.resp_ready.eq(dut[f"{mem.response}__ready"]),
                         getattr(self, f"mem{i}_outstanding").eq(server.outstanding)]
            drive[f"{mem.request}__ready"] = server.req_ready
            drive[f"{mem.response}__valid"] = server.resp_valid
            drive[f"{mem.response}__payload"] = server.resp_payload

        for port in layout.ports:
            if port.direction != "input":
                continue
            if port.name not in drive:
                raise ValueError(f"{layout.dut}: input port {port.name} belongs to no stream, "
                                 f"memory or observation port the bench knows")
            captured = Signal(port.width, name=f"ext_{port.name}", reset_less=True)
            m.d.fall += captured.eq(getattr(self, port.name))
            m.d.comb += dut[port.name].eq(Mux(external, captured, drive[port.name]))

        watched = layout.handshake_bits()
        if watched:
            m.submodules.xcheck = cells.xcheck(width=len(watched), file=layout.XCHECK_FILE,
                                               enable=active, cycle=cycle,
                                               bits=Cat(*(dut[name] for name in watched)),
                                               flush=stopped)

        # completion: drain once all is done as seen in this cycle, stop at the budget
        all_done = Signal()
        m.d.comb += all_done.eq(Cat(*done_flags).all() if done_flags else 1)
        draining = Signal()
        drain_until = Signal(CYCLE_WIDTH)
        draining_next = Signal()
        until_next = Signal(CYCLE_WIDTH)
        stop_now = Signal()
        m.d.comb += [
            draining_next.eq(draining | all_done),
            until_next.eq(Mux(draining, drain_until, (cycle + setting("drain") - 1)[:CYCLE_WIDTH])),
            stop_now.eq((draining_next & (cycle >= until_next)) | (cycle >= setting("max_cycles"))),
        ]
        m.d.sync += active.eq(self.run & ~ResetSignal() & ~stopped & ~(active & stop_now))
        with m.If(active):
            m.d.bench += [cycle.eq(cycle + 1), draining.eq(draining_next), drain_until.eq(until_next)]
            with m.If(stop_now):
                m.d.bench += [stopped.eq(1), self.last_edge.eq(cycle), self.timed_out.eq(~draining_next)]
        return m
