"""The flash channel model the python bench serves ``PagedMemory`` ports with (kind ``"paged"``).

Timing (docs/attention.md, "Flash channel timing"; the engine's cycle model follows the same
rule): a request accepted at edge ``a`` makes its page ready at ``a + latency``. Beats leave in
request order over a bus whose time ``T`` starts at 0; the n-th beat starts at
``S = max(T, ready)`` and may move at any edge ``>= ceil(S)``; once it moves at edge ``e``,
``T = max(S + beat_cycles, e + 1)``. An untaken beat stalls the bus, and a channel moves at
most one beat per cycle. A due beat is withheld in the cycles the idle pattern stalls; the
request port's ready is low in the cycles the backpressure pattern stalls and while
``QUEUE`` requests are not fully read. The compiled bench's ``FlashServer`` is the same
machine in logic. Times are integers in units of ``1 / denominator(beat_cycles)``.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction

from sim.stalls import StallPattern
from sim.stream import QUEUE, ServedMemory


class FlashChannel(ServedMemory):
    """One read-only flash channel: accepts page ids on the request port, returns the pages'
    beats on the response port, and records when each page moved.

    ``spec`` is the bench job's entry for this memory: ``request`` and ``response`` (port
    names), ``pages`` (page id -> list of packed beat words), ``page_beats``, ``latency``
    (cycles, at least 1) and ``beat_cycles`` (a Fraction > 0). A page the image lacks reads as
    zeros (and is a problem).
    """

    kind = "paged"

    def __init__(self, name: str, spec: dict, ready: StallPattern, idle: StallPattern):
        super().__init__(name, spec, ready, idle)
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
        self.held = False
        self.start = 0               # S of the front beat, scaled (set by plan)

        self.edges: list[int] = []   # per request: accept edge, page, first and last beat edges
        self.page_ids: list[int] = []
        self.first: list[int] = []
        self.last: list[int] = []

    def plan(self, cycle: int) -> None:
        self.req_ready = not self.ready_stalls[cycle] and len(self.pending) < QUEUE
        if not self.pending:
            self.resp_valid = False
            return
        request = self.pending[0]
        self.start = max(self.bus, (self.edges[request] + self.latency) * self.scale)
        due = -(-self.start // self.scale)
        self.resp_valid = self.held or (cycle >= due and not self.idle_stalls[cycle])
        self.resp_word = self.pages.get(self.page_ids[request], self.zero_page)[self.beat]

    def step(self, cycle: int, request: int | None, taken: bool) -> None:
        if taken:
            front = self.pending[0]
            if self.beat == 0:
                self.first[front] = cycle
            self.bus = max(self.start + self.beat_time, (cycle + 1) * self.scale)
            self.held = False
            self.beat += 1
            if self.beat == self.page_beats:
                self.last[front] = cycle
                self.pending.popleft()
                self.beat = 0
        elif self.resp_valid:
            self.held = True
        if request is not None:
            self.edges.append(cycle)
            self.page_ids.append(request)
            self.first.append(-1)
            self.last.append(-1)
            self.pending.append(len(self.edges) - 1)

    def outstanding(self) -> int:
        return len(self.pending)

    def results(self) -> dict:
        trace = {"edge": self.edges, "page": self.page_ids, "first": self.first, "last": self.last}
        return {"trace": trace, "problems": problems(self.name, trace, self.pages, len(self.pending))}


def problems(name: str, trace: dict, pages, outstanding: int) -> list[str]:
    """A run's problems with one channel (both benches report them in these words): requests
    for pages the image lacks, and pages requested but not fully read at the end."""
    found = [f"{name}: request for page {page}, not in the image" for page in trace["page"] if page not in pages]
    if outstanding:
        found.append(f"{name}: {outstanding} page{'s' if outstanding > 1 else ''} requested but not read")
    return found
