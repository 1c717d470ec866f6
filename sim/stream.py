"""The python bench's agents and bookkeeping: stream sources and sinks, memory models by kind,
and when a run is complete. Simulator-independent; ``sim.bench`` (cocotb) and ``sim.pysim``
(Amaranth's simulator) bind them to signals.

They implement, cycle for cycle, the behaviour the compiled bench implements in hardware
(``sim.compiled.agents`` states it). Per cycle ``c`` a bench calls ``BenchState.drive(c)``,
which returns the values the agents drive in cycle ``c`` (``valid``, ``ready`` and payload
signals, by Verilog port name, only those that changed), and after the rising edge ``c``
``BenchState.edge(c, read)``, where ``read(name)`` gives the design's signal as it was in
cycle ``c``; ``edge`` returns True once the run is over. Payloads are read only when their
beat moves: reading a wide signal is what costs most per cycle.

Stalls come from ``sim.stalls`` patterns whose seeds and thresholds the host put in the job
(``job["stalls"]``), so both benches see the same stall in the same cycle.
"""

from __future__ import annotations

import importlib

from sim.stalls import StallPattern, agent_seeds, threshold

# memory kind -> "module:class" of its model; imported on use, the models import this module
MEMORY_KINDS = {"paged": "sim.flash:FlashChannel", "ram": "sim.ram:RamModel"}
# cycles run after the last expected output at least, to catch a design that emits too many
DRAIN_CYCLES = 32
# requests a memory model holds at once; its request port's ready is low while it is full
QUEUE = 1024


def memory_model(kind: str):
    try:
        module, cls = MEMORY_KINDS[kind].split(":")
    except KeyError:
        raise ValueError(f"unknown memory kind {kind!r}: known {', '.join(sorted(MEMORY_KINDS))}") from None
    return getattr(importlib.import_module(module), cls)


def stall_plan(seed: int, idle: float, backpressure: float, inputs, outputs, memories) -> dict:
    """Every agent's stall pattern as (seed, threshold): sources idle with ``idle``, sinks and
    memory request ports stall with ``backpressure``, memories withhold a due response beat
    with ``idle``. Seeds are drawn from ``seed`` in the order sources, sinks, memories (ready,
    then idle), each in port order."""
    inputs, outputs, memories = list(inputs), list(outputs), list(memories)
    seeds = iter(agent_seeds(seed, len(inputs) + len(outputs) + 2 * len(memories)))
    idle_limit, pressure_limit = threshold(idle), threshold(backpressure)
    return {
        "sources": {port: (next(seeds), idle_limit) for port in inputs},
        "sinks": {port: (next(seeds), pressure_limit) for port in outputs},
        "memories": {name: {"ready": (next(seeds), pressure_limit), "idle": (next(seeds), idle_limit)}
                     for name in memories},
    }


class Source:
    """Offers ``words`` on input stream ``port``: in cycle ``c`` the next word is on offer
    unless the idle pattern stalls ``c``; once offered it stays until it moves."""

    def __init__(self, port: str, words: list[int], idle: StallPattern):
        self.port = port
        self.words = words
        self.idle = idle
        self.sent = 0
        self.held = False
        self.valid = False
        self.first_edge: int | None = None
        self.valid_name, self.ready_name, self.payload_name = (f"{port}__{s}" for s in ("valid", "ready", "payload"))
        self._payload = None

    @property
    def done(self) -> bool:
        return self.sent == len(self.words)

    def drive(self, cycle: int, out: dict) -> None:
        more = self.sent < len(self.words)
        valid = more and (self.held or not self.idle[cycle])
        if valid != self.valid:
            out[self.valid_name] = int(valid)
            self.valid = valid
        word = self.words[self.sent] if more else 0
        if word != self._payload:
            out[self.payload_name] = word
            self._payload = word

    def edge(self, cycle: int, read) -> None:
        if not self.valid:
            return
        if read(self.ready_name):
            if self.first_edge is None:
                self.first_edge = cycle
            self.sent += 1
            self.held = False
        else:
            self.held = True


class Sink:
    """Takes beats from output stream ``port``, ``ready`` low in the cycles its backpressure
    pattern stalls; records each beat's word and edge."""

    def __init__(self, port: str, backpressure: StallPattern):
        self.port = port
        self.backpressure = backpressure
        self.words: list[int] = []
        self.edges: list[int] = []
        self.ready: bool | None = None
        self.valid_name, self.ready_name, self.payload_name = (f"{port}__{s}" for s in ("valid", "ready", "payload"))

    def drive(self, cycle: int, out: dict) -> None:
        ready = not self.backpressure[cycle]
        if ready != self.ready:
            out[self.ready_name] = int(ready)
            self.ready = ready

    def edge(self, cycle: int, read) -> None:
        if self.ready and read(self.valid_name):
            self.words.append(read(self.payload_name))
            self.edges.append(cycle)


class ServedMemory:
    """What the memory models share: port names, ``latency``, the two stall patterns (request
    ``ready`` low; a due response beat withheld) and the signals they drive. A subclass sets
    ``req_ready``, ``resp_valid`` and ``resp_word`` in ``plan(cycle)`` and handles the edge in
    ``step(cycle, request_word or None, response_taken)``."""

    def __init__(self, name: str, spec: dict, ready: StallPattern, idle: StallPattern):
        self.name = name
        self.request = spec["request"]
        self.response = spec["response"]
        self.latency = int(spec["latency"])
        if self.latency < 1:
            raise ValueError(f"{name}: latency={self.latency}: the bench answers a request no "
                             f"sooner than the next edge, allowed >= 1")
        self.ready_stalls = ready
        self.idle_stalls = idle
        self.req_ready = False
        self.resp_valid = False
        self.resp_word = 0
        self._driven = (None, None, None)
        self.names = (f"{self.request}__ready", f"{self.response}__valid", f"{self.response}__payload",
                      f"{self.request}__valid", f"{self.request}__payload", f"{self.response}__ready")

    def plan(self, cycle: int) -> None:
        raise NotImplementedError

    def step(self, cycle: int, request: int | None, taken: bool) -> None:
        raise NotImplementedError

    def drive(self, cycle: int, out: dict) -> None:
        self.plan(cycle)
        for name, value, before in zip(self.names, (int(self.req_ready), int(self.resp_valid), self.resp_word),
                                       self._driven):
            if value != before:
                out[name] = value
        self._driven = (int(self.req_ready), int(self.resp_valid), self.resp_word)

    def edge(self, cycle: int, read) -> None:
        request = read(self.names[4]) if self.req_ready and read(self.names[3]) else None
        taken = self.resp_valid and bool(read(self.names[5]))
        self.step(cycle, request, taken)

    def outstanding(self) -> int:
        raise NotImplementedError


class BenchState:
    """The agents of one run and the bookkeeping both benches share: when the run is complete,
    how many cycles it took, what to report."""

    def __init__(self, job: dict):
        self.job = job
        stalls = job["stalls"]
        self.drivers = [Source(port, words, StallPattern(*stalls["sources"][port]))
                        for port, words in job["inputs"].items()]
        self.monitors = [Sink(port, StallPattern(*stalls["sinks"][port])) for port in job["outputs"]]
        self.expected = job["outputs"]
        # observation ports: every cycle their valid is high, (edge, payload word) is recorded
        self.traces = {port: ([], []) for port in job.get("traces", ())}
        self.memories = [memory_model(spec["kind"])(name, spec, StallPattern(*stalls["memories"][name]["ready"]),
                                                    StallPattern(*stalls["memories"][name]["idle"]))
                         for name, spec in job.get("memories", {}).items()]
        self.agents = [*self.drivers, *self.monitors, *self.memories]
        self.drain = max(DRAIN_CYCLES, int(job.get("drain_cycles", 0)))
        self.drain_until: int | None = None
        self.all_done = False
        self.problems: list[str] = []
        self.last_edge = -1

    def complete(self) -> bool:
        return all(d.done for d in self.drivers) and \
            all(len(m.words) >= self.expected[m.port] for m in self.monitors)

    def drive(self, cycle: int) -> dict:
        """What the agents drive in cycle ``cycle``, as {port name: value} for what changed."""
        out: dict = {}
        for agent in self.agents:
            agent.drive(cycle, out)
        self.all_done = self.complete()
        return out

    def edge(self, cycle: int, read) -> bool:
        """The rising edge ``cycle``; ``read(name)`` is the design's signal in that cycle.
        True once the run is over: ``drain`` cycles after the cycle that first saw everything
        sent and received (the run stops after edge ``c - 1 + drain``), or at edge
        ``max_cycles``."""
        for agent in self.agents:
            agent.edge(cycle, read)
        for port, (edges, words) in self.traces.items():
            if read(f"{port}__valid"):
                edges.append(cycle)
                words.append(read(f"{port}__payload"))
        if self.drain_until is None and self.all_done:
            self.drain_until = cycle - 1 + self.drain
        self.last_edge = cycle
        return (self.drain_until is not None and cycle >= self.drain_until) or cycle >= self.job["max_cycles"]

    def stop(self, cycle: int, problem: str) -> None:
        """End the run at ``cycle`` with ``problem`` (an X on a handshake signal, say)."""
        self.problems.append(problem)
        self.last_edge = cycle

    def report(self, wall: float) -> dict:
        first_in = min((d.first_edge for d in self.drivers if d.first_edge is not None), default=None)
        return assemble_report(
            outputs={m.port: (m.edges, m.words) for m in self.monitors},
            expected=self.expected,
            sent={d.port: d.sent for d in self.drivers},
            first_in=first_in,
            traces=self.traces,
            memories={mem.name: mem.results() for mem in self.memories},
            timed_out=self.drain_until is None,
            edges=self.last_edge,
            wall=wall,
            problems=self.problems,
        )


def assemble_report(*, outputs, expected, sent, first_in, traces, memories, timed_out, edges, wall,
                    problems) -> dict:
    """The report both benches hand to ``sim.runner.score``: per output port its words and
    their edges, per input port the words sent, per observation port (edges, words), per
    memory its trace, problems and (a RAM) image; whether the run timed out, its last edge, its
    wall time, and ``cycles``: from the first input beat's edge to the last expected output's,
    inclusive."""
    ends = [edges_[expected[port] - 1] for port, (edges_, _) in outputs.items()
            if expected[port] and len(edges_) >= expected[port]]
    last_out = max(ends, default=None)
    return {
        "outputs": {port: words for port, (_, words) in outputs.items()},
        "output_edges": {port: edges_ for port, (edges_, _) in outputs.items()},
        "sent": sent,
        "traces": traces,
        "memories": memories,
        "timed_out": timed_out,
        "edges": edges,
        "wall": wall,
        "cycles": last_out - first_in + 1 if first_in is not None and last_out is not None else 0,
        "problems": list(problems),
    }
