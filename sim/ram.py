"""The RAM model the python bench serves ``RamMemory`` ports with (kind ``"ram"``).

A request word is packed LSB first as ``address`` (``address_width`` bits), ``write`` (1 bit),
``data`` (``data_width`` bits), as ``StructLayout({"address": ..., "write": 1, "data": ...})``
packs it. Requests are served strictly in the order they are accepted: a write stores its data
at once and gets no response; a read looks its word up at once (so it sees every earlier write)
and its data waits in a queue. Reads are pipelined: their data leaves in request order, a read
accepted at edge ``a`` may move at any edge ``>= a + latency``, and at most one beat moves per
cycle. With no stalls and a block that is always ready, a read accepted at ``a`` moves at
exactly ``a + latency``.

The request port's ready is low in the cycles the backpressure pattern stalls, for
``interval - 1`` cycles after each accepted request (the memory's bandwidth) and while
``QUEUE`` reads wait; a due read beat is withheld in the cycles the idle pattern stalls. The
store holds ``2^depth_log2`` words (``depth_log2`` in the job: what the compiled bench
allocates): beyond them a read returns 0 and a write is dropped, and a request at or beyond
the memory's declared ``size`` is a problem. The compiled bench's ``RamServer`` is the same
machine in logic. Words are Python ints of any width.
"""

from __future__ import annotations

from collections import deque

from sim.stalls import StallPattern
from sim.stream import QUEUE, ServedMemory


class RamModel(ServedMemory):
    """One read/write RAM: accepts (address, write, data) requests on the request port, returns
    read data on the response port, and records every request.

    ``spec`` is the bench job's entry for this memory: ``request`` and ``response`` (port
    names), ``address_width``, ``data_width``, ``latency`` (cycles from accepting a read to the
    earliest edge its data can move, at least 1), ``interval``, ``init`` (address -> initial
    word; every other word is 0), ``size`` and ``depth_log2``.
    """

    kind = "ram"

    def __init__(self, name: str, spec: dict, ready: StallPattern, idle: StallPattern):
        super().__init__(name, spec, ready, idle)
        self.address_width = int(spec["address_width"])
        self.data_width = int(spec["data_width"])
        if self.address_width < 1 or self.data_width < 1:
            raise ValueError(f"{name}: address_width={self.address_width}, data_width="
                             f"{self.data_width}: both need at least one bit")
        self.address_mask = (1 << self.address_width) - 1
        self.data_mask = (1 << self.data_width) - 1
        self.data_shift = self.address_width + 1
        self.words: dict[int, int] = {int(a): int(w) for a, w in spec.get("init", {}).items()}
        self.size = int(spec.get("size") or 1 << self.address_width)
        self.depth = 1 << int(spec.get("depth_log2", self.address_width))
        self.interval = int(spec.get("interval", 1))   # cycles between accepted requests

        self.next_accept = 0
        self.pending: deque[tuple[int, int]] = deque()  # reads not yet taken: (due edge, data)
        self.free = 0                # the earliest edge the next beat may move at
        self.held = False

        # per request, in order: address, write flag, accept edge, write data or read data
        self.addresses: list[int] = []
        self.is_write: list[int] = []
        self.edges: list[int] = []
        self.data: list[int] = []

    def plan(self, cycle: int) -> None:
        self.req_ready = not self.ready_stalls[cycle] and cycle >= self.next_accept and \
            len(self.pending) < QUEUE
        if not self.pending:
            self.resp_valid = False
            return
        due, word = self.pending[0]
        self.resp_valid = self.held or (cycle >= due and cycle >= self.free and not self.idle_stalls[cycle])
        self.resp_word = word

    def step(self, cycle: int, request: int | None, taken: bool) -> None:
        if taken:
            self.pending.popleft()
            self.free = cycle + 1
            self.held = False
        elif self.resp_valid:
            self.held = True
        if request is None:
            return
        address = request & self.address_mask
        write = (request >> self.address_width) & 1
        stored = address < self.depth
        if write:
            data = (request >> self.data_shift) & self.data_mask
            if stored:
                self.words[address] = data
        else:
            data = self.words.get(address, 0) if stored else 0
            self.pending.append((cycle + self.latency, data))
        self.next_accept = cycle + self.interval
        self.addresses.append(address)
        self.is_write.append(write)
        self.edges.append(cycle)
        self.data.append(data)

    def outstanding(self) -> int:
        return len(self.pending)

    def trace(self) -> dict[str, list[int]]:
        """One row per request in order: ``address``, ``is_write`` (0/1), ``cycle`` (the accept
        edge) and ``data`` (the word written, or the word the read returns)."""
        return {"address": self.addresses, "is_write": self.is_write, "cycle": self.edges,
                "data": self.data}

    def image(self) -> dict[int, int]:
        return image(self.words, self.trace())

    def results(self) -> dict:
        trace = self.trace()
        return {"trace": trace, "image": image(self.words, trace),
                "problems": problems(self.name, trace, self.size, len(self.pending))}


def image(words: dict[int, int], trace: dict) -> dict[int, int]:
    """The final contents, address -> word, by address: every nonzero or written word."""
    written = {a for a, w in zip(trace["address"], trace["is_write"]) if w}
    return {address: word for address, word in sorted(words.items()) if word or address in written}


def problems(name: str, trace: dict, size: int, outstanding: int) -> list[str]:
    """A run's problems with one RAM (both benches report them in these words): requests
    beyond the memory's ``size`` words, and reads requested but not returned at the end."""
    found = []
    beyond = [a for a in trace["address"] if a >= size]
    if beyond:
        found.append(f"{name}: {len(beyond)} request{'s' if len(beyond) > 1 else ''} at or beyond "
                     f"the memory's {size} words (first: address {beyond[0]})")
    if outstanding:
        found.append(f"{name}: {outstanding} read{'s' if outstanding > 1 else ''} requested but not returned")
    return found
