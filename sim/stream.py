"""Stream driver and monitor: the handshake logic, independent of the simulator.

Both follow the ``amaranth.lib.stream`` rules: a driver never withdraws or changes a beat it
has offered until the sink takes it; a monitor's ``ready`` is random, and a beat counts only
when ``valid`` and ``ready`` are both high at a rising edge. The benches (``sim.bench`` for
cocotb, ``sim.pysim`` for Amaranth's simulator) bind them to signals, writing a signal only when
its value changes and each payload as one whole word: Python per cycle is the bottleneck.

Each cycle a bench calls ``sample`` with what it saw at the rising edge, then ``plan`` to learn
what to drive until the next edge.

Memory ports (``Block.memories``) are served by a model per memory, chosen by its ``kind``
(``MEMORY_KINDS``). A model owns one request port (the bench drives its ``ready``) and one
response port (the bench drives its ``valid`` and ``payload``) and offers what the benches
call: ``accept(edge, word)`` when a request moved, ``taken(edge)`` when a response beat moved,
``plan(edge)`` -> (request ready, response valid, word or None) only once ``edge >=
next_plan``, and ``trace()`` and ``problems()`` (and, for a memory the block can write,
``image()``: its final contents) at the end. Between edges, ``request_ready``
says whether a request can move at the next edge and ``offering`` whether a response beat is
on offer (the benches keep what they last wrote, so each signal is written only on a change).
"""

from __future__ import annotations

import importlib
import math
import random

# an edge no run reaches (an int, so that edge arithmetic stays integral)
NEVER = 1 << 62

# memory kind -> "module:class" of its model; imported on use, the models import this module
MEMORY_KINDS = {"paged": "sim.flash:FlashChannel", "ram": "sim.ram:RamModel"}


def memory_model(kind: str):
    try:
        module, cls = MEMORY_KINDS[kind].split(":")
    except KeyError:
        raise ValueError(f"unknown memory kind {kind!r}: known {', '.join(sorted(MEMORY_KINDS))}") from None
    return getattr(importlib.import_module(module), cls)


class GeometricGaps:
    """Cycles until an event that happens with probability ``p`` in every cycle, independently:
    one draw per event instead of one per cycle (the models wait for the next event edge)."""

    def __init__(self, p: float, rng: random.Random):
        self.p = p
        self.rng = rng
        self.log_miss = math.log1p(-p) if 0 < p < 1 else 0.0

    def gap(self) -> int:
        """How many cycles pass without the event before the one it happens in."""
        if self.p <= 0:
            return NEVER
        if self.p >= 1:
            return 0
        return min(NEVER, int(math.log(1.0 - self.rng.random()) / self.log_miss))


class ServedMemory:
    """What every memory model shares: the port names, the read latency, the random stalls
    (request ``ready`` low in a cycle with probability ``backpressure``; a due response beat
    withheld a cycle with probability ``idle``) and ``plan``. A subclass keeps
    ``offer_edge`` (the first edge its next beat may be offered at, ``NEVER`` if none) and
    says which word that beat carries (``next_word``)."""

    def __init__(self, name: str, spec: dict, rng: random.Random, idle: float, backpressure: float):
        self.name = name
        self.request = spec["request"]
        self.response = spec["response"]
        self.latency = int(spec["latency"])
        if self.latency < 1:
            raise ValueError(f"{name}: latency={self.latency}: the bench answers a request no "
                             f"sooner than the next edge, allowed >= 1")
        # a stall cycle of the request port's ready, and a cycle a due beat is withheld
        self.ready_stalls = GeometricGaps(backpressure, random.Random(rng.random()))
        self.offer_delays = GeometricGaps(1.0 - idle, random.Random(rng.random()))
        self.offer_edge = NEVER      # first edge at which the next beat is offered
        self.next_low = self.ready_stalls.gap()  # next edge with request ready low
        # what the bench drives (it holds both low in reset)
        self.request_ready = False
        self.offering = False
        self.next_plan = -1          # plan() has something to do after this edge

    def next_word(self) -> int:
        raise NotImplementedError

    def may_accept(self, edge: int) -> bool:
        """Whether a request may move at ``edge`` (a model with a bandwidth limit says no)."""
        return True

    def plan(self, edge: int) -> tuple[bool, bool, int | None]:
        """(request ready, response valid, response word to write or None when unchanged) for
        the cycle ending at edge ``edge + 1``. Called when ``edge >= next_plan``."""
        upcoming = edge + 1
        if upcoming >= self.next_low:
            self.request_ready = False
            self.next_low = upcoming + 1 + self.ready_stalls.gap()
        else:
            self.request_ready = self.may_accept(upcoming)
        word = None
        if not self.offering and upcoming >= self.offer_edge:
            self.offering = True
            word = self.next_word()
        next_plan = upcoming if not self.request_ready else self.next_low - 1
        if not self.offering:
            next_plan = min(next_plan, self.offer_edge - 1)
        self.next_plan = next_plan
        return self.request_ready, self.offering, word


class StreamDriver:
    """Offers ``words`` (packed payloads) on one input port, idling for a cycle with
    probability ``idle`` whenever it is free to."""

    def __init__(self, port: str, words: list[int], rng: random.Random, idle: float = 0.0):
        self.port = port
        self.words = words
        self.rng = rng
        self.idle = idle
        self.sent = 0
        self.offering = False
        self.first_edge: int | None = None

    @property
    def done(self) -> bool:
        return self.sent == len(self.words)

    def sample(self, edge: int, ready: bool) -> None:
        """``ready`` as seen at rising edge ``edge`` (only meaningful while offering)."""
        if self.offering and ready:
            self.sent += 1
            self.offering = False
            if self.first_edge is None:
                self.first_edge = edge

    def plan(self) -> tuple[bool, int | None]:
        """(valid for the next cycle, payload word to write or None when unchanged)."""
        if self.offering:
            return True, None  # an offered beat stays until taken
        offer = self.sent < len(self.words) and not (self.idle and self.rng.random() < self.idle)
        self.offering = offer
        return offer, (self.words[self.sent] if offer else None)


class StreamMonitor:
    """Takes beats from one output port, holding ``ready`` low for a cycle with probability
    ``backpressure``."""

    def __init__(self, port: str, rng: random.Random, backpressure: float = 0.0):
        self.port = port
        self.rng = rng
        self.backpressure = backpressure
        self.words: list[int] = []
        self.edges: list[int] = []
        self.ready = False

    def taking(self, valid: bool) -> bool:
        """Whether a beat moves at this edge, given ``valid`` seen at it."""
        return self.ready and valid

    def take(self, edge: int, word: int) -> None:
        self.words.append(word)
        self.edges.append(edge)

    def plan(self) -> bool:
        """``ready`` for the next cycle."""
        self.ready = not (self.backpressure and self.rng.random() < self.backpressure)
        return self.ready


class BenchState:
    """The drivers and monitors of one run and the bookkeeping both benches share: when the
    run is complete, how many cycles it took, what to report."""

    def __init__(self, job: dict):
        rng = random.Random(job["seed"])
        self.job = job
        self.drivers = [StreamDriver(port, words, random.Random(rng.random()), job["idle"])
                        for port, words in job["inputs"].items()]
        self.monitors = [StreamMonitor(port, random.Random(rng.random()), job["backpressure"])
                         for port in job["outputs"]]
        self.expected = job["outputs"]
        # observation ports: every cycle their valid is high, (edge, payload word) is recorded
        self.traces = {port: ([], []) for port in job.get("traces", ())}
        # drawn after the drivers' and monitors' seeds, so adding memories leaves those as they were
        self.memories = [memory_model(spec["kind"])(name, spec, random.Random(rng.random()),
                                                    job["idle"], job["backpressure"])
                         for name, spec in job.get("memories", {}).items()]
        self.drain_until: int | None = None

    def record(self, port: str, edge: int, word: int) -> None:
        edges, words = self.traces[port]
        edges.append(edge)
        words.append(word)

    def finished(self, edge: int, drain_cycles: int) -> bool:
        """True once every beat has moved and ``drain_cycles`` more have passed (to catch a
        design that emits extra beats), or the cycle budget is spent."""
        if self.drain_until is None and all(d.done for d in self.drivers) and \
                all(len(m.words) >= self.expected[m.port] for m in self.monitors):
            # a block that keeps working after its last output (writing back to a memory)
            # asks for a longer drain
            self.drain_until = edge + max(drain_cycles, self.job.get("drain_cycles", 0))
        return (self.drain_until is not None and edge >= self.drain_until) or \
            edge >= self.job["max_cycles"]

    def report(self, edges: int, wall: float) -> dict:
        first_in = min((d.first_edge for d in self.drivers if d.first_edge is not None), default=None)
        ends = [m.edges[self.expected[m.port] - 1] for m in self.monitors
                if self.expected[m.port] and len(m.words) >= self.expected[m.port]]
        last_out = max(ends, default=None)
        return {
            "outputs": {m.port: m.words for m in self.monitors},
            "sent": {d.port: d.sent for d in self.drivers},
            "traces": self.traces,
            "memories": {mem.name: {"trace": mem.trace(), "problems": mem.problems(),
                                    **({"image": mem.image()} if hasattr(mem, "image") else {})}
                         for mem in self.memories},
            "timed_out": self.drain_until is None,
            "edges": edges,
            "wall": wall,
            "cycles": last_out - first_in + 1 if first_in is not None and last_out is not None else 0,
        }
