"""The flash channel model the benches serve ``PagedMemory`` ports with (kind ``"paged"``).

Timing (docs/attention.md, "Flash channel timing"; the engine's cycle model follows the same
rule): a request accepted at edge ``a`` makes its page ready at ``a + latency``. Beats leave in
request order over a bus whose time ``T`` starts at 0; the n-th beat starts at
``start = max(T, ready)`` and may be taken at any edge ``>= ceil(start)``; once taken at edge
``e``, ``T = max(start + beat_cycles, e + 1)``. An untaken beat stalls the bus, and a channel
moves at most one beat per cycle.

The model is event driven: it keeps the next edge at which anything it drives changes
(``next_plan``), so an idle channel costs the bench one comparison per cycle. Random stalls are
drawn as geometric gaps between stall cycles, which gives the same distribution as a coin per
cycle without a draw per cycle. Times are integers in units of ``1 / denominator(beat_cycles)``
of a cycle, so the schedule is exact without Fraction arithmetic per beat.
"""

from __future__ import annotations

import random
from collections import deque
from fractions import Fraction

from sim.stream import NEVER, ServedMemory


class FlashChannel(ServedMemory):
    """One read-only flash channel: accepts page ids on the request port, returns the pages'
    beats on the response port, and records when each page moved.

    ``spec`` is the bench job's entry for this memory: ``request`` and ``response`` (port
    names), ``pages`` (page id -> list of packed beat words), ``page_beats``, ``latency``
    (cycles, at least 1: the bench can answer no sooner than the edge after a request) and
    ``beat_cycles`` (a Fraction > 0).
    """

    kind = "paged"

    def __init__(self, name: str, spec: dict, rng: random.Random, idle: float = 0.0,
                 backpressure: float = 0.0):
        super().__init__(name, spec, rng, idle, backpressure)
        self.pages = spec["pages"]
        self.page_beats = int(spec["page_beats"])
        beat_cycles = Fraction(spec["beat_cycles"])
        if self.page_beats < 1:
            raise ValueError(f"{name}: page_beats={self.page_beats}: a page needs at least one beat")
        if beat_cycles <= 0:
            raise ValueError(f"{name}: beat_cycles={beat_cycles}: allowed > 0")
        self.scale = beat_cycles.denominator
        self.beat_time = beat_cycles.numerator
        self.zero_page = [0] * self.page_beats

        self.bus = 0                 # T, scaled
        self.pending: deque[int] = deque()  # requests accepted and not fully read, in order
        self.beat = 0                # the next beat of the front request's page
        self.words: list[int] = []   # the front request's page
        self.start = 0               # start of the next beat, scaled

        self.edges: list[int] = []   # per request: accept edge, page, first and last beat edges
        self.page_ids: list[int] = []
        self.first: list[int] = []
        self.last: list[int] = []
        self.unknown: list[int] = []

    # -- events at an edge -------------------------------------------------------------------
    def accept(self, edge: int, page: int) -> None:
        """A request for ``page`` moved at ``edge``."""
        self.edges.append(edge)
        self.page_ids.append(page)
        self.first.append(-1)
        self.last.append(-1)
        if page not in self.pages:
            self.unknown.append(page)
        self.pending.append(len(self.edges) - 1)
        if len(self.pending) == 1:
            self._schedule()
            self.next_plan = min(self.next_plan, self.offer_edge - 1)

    def taken(self, edge: int) -> None:
        """The offered beat moved at ``edge``."""
        request = self.pending[0]
        if self.beat == 0:
            self.first[request] = edge
        self.offering = False
        self.bus = max(self.start + self.beat_time, (edge + 1) * self.scale)
        self.beat += 1
        if self.beat == self.page_beats:
            self.last[request] = edge
            self.pending.popleft()
            self.beat = 0
        self._schedule()
        self.next_plan = edge  # valid drops or the next word goes out

    def _schedule(self) -> None:
        if not self.pending:
            self.offer_edge = NEVER
            return
        request = self.pending[0]
        if self.beat == 0:
            self.words = self.pages.get(self.page_ids[request], self.zero_page)
        self.start = max(self.bus, (self.edges[request] + self.latency) * self.scale)
        due = -(-self.start // self.scale)
        self.offer_edge = due + self.offer_delays.gap()

    def next_word(self) -> int:
        return self.words[self.beat]

    # -- results -----------------------------------------------------------------------------
    def trace(self) -> dict[str, list[int]]:
        return {"edge": self.edges, "page": self.page_ids, "first": self.first, "last": self.last}

    def problems(self) -> list[str]:
        found = [f"{self.name}: request for page {page}, not in the image" for page in self.unknown]
        if self.pending:
            count = len(self.pending)
            found.append(f"{self.name}: {count} page{'s' if count > 1 else ''} requested but not read")
        return found
