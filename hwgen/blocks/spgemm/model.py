"""Cycle model of ``spgemm_hash`` (docs/spgemm.md, "Performance model").

The engine is a sequencer, so its time is a sum over rows and passes of fixed state costs
(a dependent memory read costs 2 + mem_latency cycles: the request is registered, moves, and
its data comes back), plus the B-row streams, whose pace is set by the banks: a word's
products wait in the lane buffer until every bank has taken its lanes (one a cycle per
bank), and an update that meets another key in its slot holds its bank one more cycle per
extra probe. That part is simulated cycle by cycle over the exact hash table (the same
linear probing, the same bank and slot of each column), so probe counts, bank conflicts and
overflow passes come from the matrix itself. Memories are assumed never to stall.
"""

from __future__ import annotations

from typing import Mapping

from .layout import matrices
from .params import slot_of

A_HEAD = 1          # A_NEXT, when the A word is already held
SETTLE_MIN = 1
ROW_END = 1
WALK_TAIL = 3       # a walk's last log read, its table read, its entry handed on


class _Banks:
    """The lane buffer and the banks, advanced cycle by cycle while products wait."""

    def __init__(self, lanes: int, table_size: int, banks: int, hash_kind: str):
        self.lanes, self.table_size, self.banks, self.hash = lanes, table_size, banks, hash_kind
        self.depth = table_size // banks
        self.table = [dict() for _ in range(banks)]   # bank -> slot -> column
        self.free = [0] * banks      # the first cycle each bank can take an update
        self.pending: list[tuple[int, int, int]] = []   # (lane, bank, column)
        self.overflow = False
        self.overflow_seen = None    # the first cycle the overflow flag is visible
        self.probes = 0
        self.updates = 0
        self.now = 0                 # the first cycle not yet simulated

    def reset(self):
        self.table = [dict() for _ in range(self.banks)]
        self.overflow = False
        self.overflow_seen = None

    def _update(self, bank: int, column: int, home: int) -> int:
        """Extra probes of one update; inserts it (or flags overflow)."""
        slots = self.table[bank]
        for probe in range(self.depth):
            slot = (home + probe) % self.depth
            held = slots.get(slot)
            if held is None:
                slots[slot] = column
                return probe
            if held == column:
                return probe
        self.overflow = True
        return self.depth - 1

    def run_until_free(self) -> int:
        """Consume pending lanes from cycle ``now``; return the cycle in which the buffer
        empties (it can take a new word at the edge after)."""
        cycle = self.now
        while self.pending:
            taken = []
            for bank in range(self.banks):
                if self.free[bank] <= cycle:
                    lane = next((p for p in self.pending if p[1] == bank), None)
                    if lane is not None:
                        home = slot_of(lane[2], self.table_size, self.banks, self.hash)[1]
                        was = self.overflow
                        extra = self._update(bank, lane[2], home)
                        if self.overflow and not was:
                            # the flag is registered when the last probe fails
                            self.overflow_seen = cycle + 2 + extra
                        self.probes += extra + 1
                        self.updates += 1
                        self.free[bank] = cycle + 1 + extra
                        taken.append(lane)
            for lane in taken:
                self.pending.remove(lane)
            if not self.pending:
                self.now = cycle + 1
                return cycle
            cycle += 1
        self.now = max(self.now, cycle)
        return cycle

    def idle_from(self) -> int:
        """The first cycle with no update in any bank's pipeline."""
        return max([f + 1 for f in self.free] + [self.now])


class _Port:
    """When the memory port's requests move: a request set in the cycle after edge ``t`` can
    move at edge ``t + 2`` at the earliest, and the memory takes one every ``interval``
    cycles; a state that needs the port waits while a request is still in its register."""

    def __init__(self, latency: int, interval: int):
        self.latency, self.interval = latency, interval
        self.last = -(1 << 40)        # the edge the last request moved
        self.count = 0

    def request(self, cycle: int) -> int:
        """A request wanted in cycle ``cycle``: the edge it moves (the state waits for the
        port, then sets the request)."""
        issue = max(cycle, self.last - 1)
        self.last = max(issue + 2, self.last + self.interval)
        self.count += 1
        return self.last

    def read(self, t: int) -> int:
        """A state entered at edge ``t`` asks for a word and the next takes it: the edge after."""
        return self.request(t) + self.latency

    def free(self, cycle: int) -> int:
        """The first cycle >= ``cycle`` in which a new request can be set."""
        return max(cycle, self.last - 1)


def engine_cycles(params: Mapping, inputs, detail: dict | None = None) -> int:
    """Cycles from the command beat to the done beat for ``inputs`` (the npz fields)."""
    lanes, table_size, banks = params["lanes"], params["table_size"], params["banks"]
    latency = params["mem_latency"]
    A, B = matrices(inputs)
    rows, cols = A.shape[0], B.shape[1]
    state = _Banks(lanes, table_size, banks, params["hash"])
    port = _Port(latency, params.get("mem_interval", 1))
    t = 0                         # the edge the current state was entered at
    passes = overflows = written = drained_passes = peak = 0
    reads = 0                     # memory words read (pairs, A words, B words)
    out_fill = ptr_fill = 0
    for row in range(rows):
        lo, hi = 0, cols
        while True:
            passes += 1
            t = port.read(t)                          # PASS_START, PAIR_WAIT
            reads += 1
            cached = None
            for p in range(int(A.indptr[row]), int(A.indptr[row + 1])):
                word = p // lanes
                if word == cached:
                    t += A_HEAD
                else:
                    t = port.read(t)                  # A_NEXT, A_WAIT
                    reads += 1
                cached = word
                k = int(A.indices[p])
                t = port.read(t)                      # B_PAIR, B_PAIR_WAIT
                start, end = int(B.indptr[k]), int(B.indptr[k + 1])
                reads += 1 + ((end - 1) // lanes - start // lanes + 1 if start < end else 0)
                t = _stream(state, B, start, end, lo, hi, t, lanes, port)
            t += A_HEAD                               # A_NEXT finds the row's end
            free = state.run_until_free() if state.pending else state.now - 1
            t = max(t + SETTLE_MIN, free + 1, state.idle_from() + 1)
            state.now = max(state.now, t)
            if state.overflow:
                overflows += 1
                t += _walk(state)
                state.reset()
                hi = lo + max(1, (hi - lo) // 2)
                continue
            entries = sum(len(slots) for slots in state.table)
            t += _walk(state)                         # DRAIN
            for _ in range(entries):                  # EMIT: one a cycle, a word written a lanes
                if out_fill == lanes - 1:
                    t = port.free(t)
                    port.request(t)
                out_fill = (out_fill + 1) % lanes
                t += 1
            t += 1
            written += entries
            drained_passes += 1
            peak = max(peak, entries)
            state.reset()
            state.now = t
            if hi < cols:
                lo, hi = hi, cols
                continue
            break
        if ptr_fill == lanes - 1:                     # ROW_END
            t = port.free(t)
            port.request(t)
        ptr_fill = (ptr_fill + 1) % lanes
        t += ROW_END
    if rows:
        for partial in (out_fill, ptr_fill):          # FLUSH: the partial words
            if partial:
                t = port.free(t)
                port.request(t)
                t += 1
        t = port.free(t) + 1                          # FLUSH's last step
        t = max(t, port.last) + 1                     # FINISH: every write has moved
    else:
        t += 1
    words_written = -(-written // lanes) + -(-rows // lanes)
    if detail is not None:
        detail.update(reads=reads, writes=words_written, bytes_read=8 * lanes * reads,
                      bytes_written=8 * lanes * words_written, passes=passes,
                      overflow_passes=overflows, updates=state.updates, probes=state.probes,
                      written=written,
                      load_factor=written / (drained_passes * table_size) if drained_passes else 0.0,
                      peak_load_factor=peak / table_size)
    return t + 1


def _walk(state: _Banks) -> int:
    """Cycles of a drain or clear: each bank's log of filled slots is read one a cycle, a
    cycle to move to the next bank, and the last entry takes two more stages to leave."""
    cycle, last_issue = 0, -WALK_TAIL
    for bank, slots in enumerate(state.table):
        for _ in slots:
            last_issue = cycle
            cycle += 1
        if bank < state.banks - 1:
            cycle += 1
    return max(cycle, last_issue + WALK_TAIL) + 1


def _stream(state: _Banks, B, start: int, end: int, lo: int, hi: int, t0: int, lanes: int,
            port: _Port) -> int:
    """B_STREAM entered at edge ``t0``: its words are asked for back to back (one moving
    every ``interval`` cycles) and taken as the lane buffer empties; returns the edge it
    leaves at (the last word taken)."""
    if start >= end:
        return t0 + 1
    first = start // lanes
    words = (end - 1) // lanes - first + 1
    edge = t0
    cycle = t0
    for i in range(words):
        available = port.request(cycle) + port.latency
        cycle = port.last - 1                 # the next request is set as this one moves
        if state.pending:
            free_cycle = state.run_until_free()
            edge = max(available, free_cycle + 1, edge + 1)
        else:
            edge = max(available, edge + 1, state.now)
        state.now = max(state.now, edge)
        # the lanes are masked once the flag is visible in the cycle the word is taken in
        overflowed = state.overflow_seen is not None and state.overflow_seen <= edge - 1
        for lane in range(lanes):
            e = (first + i) * lanes + lane
            if start <= e < end and not overflowed:
                column = int(B.indices[e])
                if lo <= column < hi:
                    bank = slot_of(column, state.table_size, state.banks, state.hash)[0]
                    state.pending.append((lane, bank, column))
    return edge
