"""The RAM model the benches serve ``RamMemory`` ports with (kind ``"ram"``).

A request word is packed LSB first as ``address`` (``address_width`` bits), ``write`` (1 bit),
``data`` (``data_width`` bits), as ``StructLayout({"address": ..., "write": 1, "data": ...})``
packs it. Requests are served strictly in the order they are accepted: a write stores its data
at once and gets no response; a read looks its word up at once (so it sees every earlier write)
and its data waits in a queue. Reads are pipelined: any number may be outstanding, their data
leaves in request order, a read accepted at edge ``a`` may be taken at any edge
``>= a + latency``, and at most one beat moves per cycle (after a beat is taken at edge ``e``,
the next may be taken at ``e + 1``). With no stalls and a block that is always ready, a read
accepted at ``a`` is taken at exactly ``a + latency``.

Like ``sim.flash.FlashChannel`` the model is event driven: it keeps the next edge at which
anything it drives changes (``next_plan``), so an idle RAM costs the bench one comparison per
cycle, and draws its random stalls as geometric gaps. Words are Python ints of any width.
"""

from __future__ import annotations

import random
from collections import deque

from sim.stream import NEVER, ServedMemory


class RamModel(ServedMemory):
    """One read/write RAM: accepts (address, write, data) requests on the request port, returns
    read data on the response port, and records every request.

    ``spec`` is the bench job's entry for this memory: ``request`` and ``response`` (port
    names), ``address_width``, ``data_width``, ``latency`` (cycles from accepting a read to the
    earliest edge its data can be taken, at least 1: the bench can answer no sooner than the
    edge after a request) and ``init`` (address -> initial word; every other word is 0).

    Stalls: the request port's ``ready`` is low in a cycle with probability ``backpressure``; a
    read's data that is due is withheld a cycle with probability ``idle`` and, once offered,
    stays until taken.
    """

    kind = "ram"

    def __init__(self, name: str, spec: dict, rng: random.Random, idle: float = 0.0,
                 backpressure: float = 0.0):
        super().__init__(name, spec, rng, idle, backpressure)
        self.address_width = int(spec["address_width"])
        self.data_width = int(spec["data_width"])
        if self.address_width < 1 or self.data_width < 1:
            raise ValueError(f"{name}: address_width={self.address_width}, data_width="
                             f"{self.data_width}: both need at least one bit")
        self.address_mask = (1 << self.address_width) - 1
        self.data_mask = (1 << self.data_width) - 1
        self.data_shift = self.address_width + 1
        self.words: dict[int, int] = {int(a): int(w) for a, w in spec.get("init", {}).items()}
        self.written: set[int] = set()

        self.interval = int(spec.get("interval", 1))   # cycles between accepted requests
        self.next_accept = 0
        self.pending: deque[tuple[int, int]] = deque()  # reads not yet taken: (due edge, data)
        self.free = 0                # the earliest edge the next beat may be taken

        # per request, in order: address, write flag, accept edge, write data or read data
        self.addresses: list[int] = []
        self.is_write: list[int] = []
        self.edges: list[int] = []
        self.data: list[int] = []

    # -- events at an edge -------------------------------------------------------------------
    def may_accept(self, edge: int) -> bool:
        return edge >= self.next_accept

    def accept(self, edge: int, word: int) -> None:
        """A request (packed address, write, data) moved at ``edge``."""
        if self.interval > 1:
            # no request for ``interval`` cycles: plan (request ready) again right away
            self.next_accept = edge + self.interval
            self.next_plan = min(self.next_plan, edge)
        address = word & self.address_mask
        write = (word >> self.address_width) & 1
        if write:
            data = (word >> self.data_shift) & self.data_mask
            self.words[address] = data
            self.written.add(address)
        else:
            data = self.words.get(address, 0)
            self.pending.append((edge + self.latency, data))
            if len(self.pending) == 1:
                self._schedule()
                self.next_plan = min(self.next_plan, self.offer_edge - 1)
        self.addresses.append(address)
        self.is_write.append(write)
        self.edges.append(edge)
        self.data.append(data)

    def taken(self, edge: int) -> None:
        """The offered read data moved at ``edge``."""
        self.pending.popleft()
        self.offering = False
        self.free = edge + 1
        self._schedule()
        self.next_plan = edge  # valid drops or the next word goes out

    def _schedule(self) -> None:
        if not self.pending:
            self.offer_edge = NEVER
            return
        due = max(self.pending[0][0], self.free)
        self.offer_edge = due + self.offer_delays.gap()

    def next_word(self) -> int:
        return self.pending[0][1]

    # -- results -----------------------------------------------------------------------------
    def trace(self) -> dict[str, list[int]]:
        """One row per request in order: ``address``, ``is_write`` (0/1), ``cycle`` (the accept
        edge) and ``data`` (the word written, or the word the read returns)."""
        return {"address": self.addresses, "is_write": self.is_write, "cycle": self.edges,
                "data": self.data}

    def image(self) -> dict[int, int]:
        """The final contents, address -> word, by address: every nonzero or written word."""
        return {address: word for address, word in sorted(self.words.items())
                if word or address in self.written}

    def problems(self) -> list[str]:
        if not self.pending:
            return []
        count = len(self.pending)
        return [f"{self.name}: {count} read{'s' if count > 1 else ''} requested but not returned"]
