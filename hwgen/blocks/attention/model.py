"""Cycle and traffic model of ``attention_engine``.

The engine's time is set by three things that interact: flash (a page-read latency, then each
channel's bus moving one beat every ``beat_cycles``), its queues (``flash_queue`` pages in
flight per channel; a score FIFO between the K and V GeMVs in online mode), and its own pace
(one K beat and one V beat per cycle at most; fixed-length scans and passes). No closed form
captures the coupling between the K and V sides and the channels' buses exactly, so
``engine_cycles`` steps through a query cycle by cycle at the level of page and beat *events*:
which page is issued, which beat is offered, taken or dropped, when a phase ends. It models
the engine's documented timing (docs/attention.md, "Timing"), not its signals, and handles no
data. ``phase_bounds`` gives the closed-form view: the flash-bound and compute-bound times of
each streaming phase, used to say which bound a configuration sits at.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import islice
from fractions import Fraction

from .params import (KIND_CM, KIND_K, KIND_MEAN, KIND_V, PAGE_TOKENS, SCORE_FIFO_DEPTH, beat_cycles,
                     geometry)
from .pipeline import (alpha_stages, cm_stages, online_spacing, online_stages, output_stages, recip_stages, scan_stages,
                       scale_stages, score_stages, sum_latency, topr_stages, v_spacing,
                       v_stages, weight_fifo_depth)


def side_of(kind: int) -> int:
    """The consumer side of a page: B for V and V-mean pages, A for K and channel-major."""
    return 1 if kind in (KIND_V, KIND_MEAN) else 0


def pages_read(p, workload) -> int:
    """Flash pages one workload reads."""
    geo = geometry(p)
    seq_len = workload["seq_len"]
    used = -(-seq_len // PAGE_TOKENS)
    total = 0
    for query in range(workload["queries"]):
        if p.mode == "sparf":
            touched = len({t // PAGE_TOKENS for t in workload["tokens"][query]})
            total += 1 + min(p.top_r, p.head_dim) * -(-seq_len // geo.cm_tokens) + 2 * touched
        else:
            total += 2 * used
    return total


def flash_bytes(p, workload) -> int:
    geo = geometry(p)
    return pages_read(p, workload) * geo.page_beats * p.lanes * 2


class _Channel:
    """One flash channel: the pages asked of it, in order, and its bus (spec: a beat may be
    taken from edge ceil(max(T, ready)) on; then T = max(start + d, taken + 1))."""

    def __init__(self, latency: int, d: Fraction, buffer_depth: int):
        self.latency, self.d = latency, d
        self.pages: deque = deque()     # [kind, j, c, b, ready_edge]
        self.bus = Fraction(0)
        self.beat = 0                   # beat of the head page
        self.start: Fraction | None = None
        # the receive buffer (Amaranth's SyncFIFOBuffered): a memory of depth - 1 entries and
        # an output register (the block RAM's own), then two registers, the head the
        # consumers read and a spare (the output is read whenever the spare is empty); an
        # entry written at edge x is at the head from cycle x + 3 at best
        self.inner: deque = deque()
        self.inner_depth = buffer_depth - 1
        self.out = None
        self.spare = None
        self.head = None

    def buffer_edge(self, read: bool, write) -> None:
        """The receive buffer at one edge: the consumer's read of the head, the head's refill
        from the spare or the buffer's output (read while the spare is empty; into the spare
        when the head stays), the output's refill from the memory, the filter's write."""
        popped = None
        if self.spare is None and self.out is not None:
            popped, self.out = self.out, None
        if self.head is None or read:
            if self.spare is not None:
                self.head, self.spare = self.spare, None
            else:
                self.head = popped
        elif popped is not None:
            self.spare = popped
        if self.inner and self.out is None:
            self.out = self.inner.popleft()
        if write is not None:
            self.inner.append(write)

    def offered(self, edge: int) -> bool:
        if not self.pages:
            return False
        if self.start is None:
            self.start = max(self.bus, Fraction(self.pages[0][4]))
        return edge >= math.ceil(self.start)

    def take(self, edge: int, page_beats: int) -> bool:
        """The head beat moves at ``edge``; True when it was the page's last."""
        self.bus = max(self.start + self.d, Fraction(edge + 1))
        self.start = None
        self.beat += 1
        if self.beat == page_beats:
            self.beat = 0
            self.pages.popleft()
            return True
        return False


class _List:
    """A page list of one query (``qid``) for the issuer: its steps, the next one, whether its
    K pages are all issued, the first cycle it may offer a page, and the filter's drop rule."""

    def __init__(self, qid: int, steps, start_at: int, needed):
        self.qid, self.steps, self.index, self.start_at, self.needed = qid, list(steps), 0, start_at, needed
        self.last_k = max((i for i, st in enumerate(self.steps) if st[0] == KIND_K), default=-1)
        self.k_done = False


class _Flash:
    """What outlives a query: the channels, the page issuer with its lists (dense: the next
    query's list is walked as soon as the current one is issued, before that query is taken),
    and the consumers' order FIFOs, whose entries name a channel and a query."""

    def __init__(self, p):
        self.p, self.geo = p, geometry(p)
        self.channels = [_Channel(p.flash_latency, beat_cycles(p), self.geo.page_beats)
                         for _ in range(p.flash_channels)]
        self.lists: deque = deque()
        self.order = (deque(), deque())     # (channel, query) of issued side-A / side-B pages

    def push(self, qid: int, steps, start_at: int, needed) -> None:
        self.lists.append(_List(qid, steps, start_at, needed))

    def shift(self, by: int) -> None:
        """Make edge ``by`` the new edge 0 (the next query's accepting edge)."""
        for chan in self.channels:
            chan.bus -= by
            if chan.start is not None:
                chan.start -= by
            for page in chan.pages:
                page[4] -= by
        for walk in self.lists:
            walk.start_at -= by

    def walking(self, qid: int) -> bool:
        """Query ``qid``'s list has pages left to issue."""
        return any(walk.qid == qid for walk in self.lists)

    def k_done(self, qid: int) -> bool:
        return all(walk.k_done for walk in self.lists if walk.qid == qid)

    def pending(self, side: int, qid: int) -> bool:
        """A page of query ``qid`` is in the side's order FIFO (FIFO order: at its head)."""
        order = self.order[side]
        return bool(order) and order[0][1] == qid

    def edge(self, x: int, take_a, take_b) -> None:
        """Edge ``x``: the consumers' reads (channels ``take_a``, ``take_b`` or None), each
        channel's bus and receive buffer, and the issuer's page."""
        p, PB, B = self.p, self.geo.page_beats, self.geo.beats_per_row
        order = self.order
        walk = self.lists[0] if self.lists and self.lists[0].start_at <= x else None
        fire = False
        if walk is not None and walk.steps[walk.index][5]:
            step = walk.steps[walk.index]
            # room in the channel's queue and in the side's order FIFO (flash_channels x
            # flash_queue entries: a page stays there until its last beat is consumed, after
            # it left the channel's queue, so with few entries this room binds too)
            fire = (len(self.channels[step[4]].pages) < p.flash_queue
                    and len(order[side_of(step[0])]) < p.flash_channels * p.flash_queue)
        for index, chan in enumerate(self.channels):
            read = index in (take_a, take_b)
            if read and chan.head[4]:
                order[chan.head[1]].popleft()
            write = None
            if chan.offered(x):
                page = chan.pages[0]
                needed = page[5](page, chan.beat)
                last = chan.beat == PB - 1
                if not (needed or last) or len(chan.inner) < chan.inner_depth:
                    if needed or last:
                        side = 1 if page[0] in (KIND_V, KIND_MEAN) else 0
                        # (kind, side, bpos, marker, end, score word)
                        write = (page[0], side, chan.beat % B, not needed, last,
                                 page[3] * PB + chan.beat)
                    chan.take(x, PB)
            chan.buffer_edge(read, write)
        if walk is None:
            return
        kind, j, c, b, ch, needed = walk.steps[walk.index]
        if fire:
            self.channels[ch].pages.append([kind, j, c, b, x + self.channels[ch].latency, walk.needed])
            order[side_of(kind)].append((ch, walk.qid))
        if fire or not needed:
            if walk.index == walk.last_k:
                walk.k_done = True
            walk.index += 1
            if walk.index == len(walk.steps):
                # the walker is idle a cycle, starts the next list (if its query is there)
                # the next, and that list offers its first page the cycle after
                self.lists.popleft()
                if self.lists:
                    self.lists[0].start_at = max(self.lists[0].start_at, x + 2)

    def idle(self, begin: int, end: int) -> None:
        """Edges ``begin`` .. ``end - 1`` with no consumer taking a beat."""
        for x in range(begin, end):
            self.edge(x, None, None)


class _Query:
    """One query's timeline, edge by edge (edge 0 accepts the query)."""

    def __init__(self, p, qid: int, seq_len: int, flash: _Flash, selected_channels, tokens):
        self.p, self.geo = p, geometry(p)
        self.qid = qid
        self.seq_len = seq_len
        self.flash = flash
        self.channels = flash.channels
        self.sparse = p.mode == "sparf"
        self.online = p.softmax == "online"
        self.sel = sorted(selected_channels) if self.sparse else []
        self.tokens = set(tokens) if self.sparse else set()
        self.pages_used = -(-seq_len // PAGE_TOKENS)
        self.cm_used = -(-seq_len // self.geo.cm_tokens)
        self.touched = {t // PAGE_TOKENS for t in self.tokens}
        # the score GeMV's pipeline: a row's score is out score_stages edges after its last
        # beat was taken (``flags`` below holds it through the stages before)
        self.lat = score_stages(p.dtype, p.lanes, p.head_dim) - 1
        # the V GeMV's: a V beat's update is in flight for v_stages edges; a word's updates
        # are at least v_spacing edges apart
        self.v_stages = v_stages(p.dtype, self.online)
        self.v_spacing = v_spacing(p.dtype)
        # the online softmax's: a score taken is in its pipeline for online_stages edges (the
        # last writes its pair into the weight FIFO); takes are online_spacing edges apart
        self.online_stages = online_stages(p.dtype)
        self.online_spacing = online_spacing(p.dtype)
        self.weight_depth = weight_fifo_depth(p.dtype)
        # a token scan: seq_len tokens issued, then its pipeline (scan_stages["sum"] stages) and
        # the sum it makes (sum_latency) before its phase ends
        self.scan_sum = scan_stages(p.dtype, self.sparse)["sum"]

    # -- the page lists, in issue order ------------------------------------------------------
    def list_a(self):
        """(kind, j, c, b, channel, needed) per issuer step: the V-mean page, then channel-major
        pages of the selected channels (an unselected channel is one step)."""
        geo = self.geo
        yield KIND_MEAN, 0, 0, 0, geo.mean_channel(), True
        selected = set(self.sel)
        for c in range(self.p.head_dim):
            if c not in selected:
                yield KIND_CM, 0, c, 0, 0, False
                continue
            for b in range(self.cm_used):
                yield KIND_CM, 0, c, b, geo.cm_channel(c, b), True

    def list_b(self):
        geo = self.geo
        needed = [(not self.sparse) or (j in self.touched) for j in range(self.pages_used)]
        if self.online:
            for j in range(self.pages_used):
                if needed[j]:
                    yield KIND_K, j, 0, 0, geo.token_channel(j), True
                    yield KIND_V, j, 0, 0, geo.token_channel(j), True
                else:
                    yield KIND_K, j, 0, 0, geo.token_channel(j), False
        else:
            for kind in (KIND_K, KIND_V):
                for j in range(self.pages_used):
                    yield kind, j, 0, 0, geo.token_channel(j), needed[j]

    def beat_needed(self, page, beat: int) -> bool:
        """The filter's rule for a beat of one of this query's pages."""
        kind, j, _, b = page[:4]
        B = self.geo.beats_per_row
        if kind == KIND_MEAN:
            return beat < B
        if kind == KIND_CM:
            return b * self.geo.cm_tokens + beat * self.p.lanes < self.seq_len
        token = j * PAGE_TOKENS + beat // B
        return token < self.seq_len and (not self.sparse or token in self.tokens)

    def push_list_b(self, start_at: int) -> None:
        self.flash.push(self.qid, self.list_b(), start_at, self.beat_needed)

    # -- a streaming phase: issue a list, consume what comes back ---------------------------
    def stream(self, edge: int, kind: str) -> int:
        """Run the phase's streaming from ``edge`` (its first cycle) until the phase ends;
        return the edge it ends on (the next phase's first cycle is one later). The query's
        list is already with the issuer. ``kind``: "A" (SparF's first list: V mean and
        channel-major K), "online" (K and V together), "two_pass" (K sweep; then SOFTMAX and
        RECIP, while the issuer goes on with the V sweep; then the V pass)."""
        p, geo, flash, qid = self.p, self.geo, self.flash, self.qid
        B = geo.beats_per_row
        chans = self.channels
        order = flash.order
        flags = deque([False] * self.lat)   # row_done seen through 1..lat registers
        score_v = False
        inflight = scores = weights = 0
        cm_stage = cm_stages(p.dtype)
        # what each pipeline took in its last cycles, the last cycle first (a word, or None)
        cm_pipe = deque([None] * cm_stage["write"])           # channel-major beats' words
        softmax_pipe = deque([False] * self.online_stages)    # scores taken
        v_pipe = deque([None] * self.v_stages)                # V beats' words
        v_spaced = B < self.v_spacing    # a row has fewer words than an update takes
        phase = "run"                # two_pass: run -> softmax -> recip -> vpass
        countdown = 0
        x = edge
        while True:
            busy = flash.walking(qid)
            pending_a, pending_b = flash.pending(0, qid), flash.pending(1, qid)
            score_busy = any(flags) or score_v
            online_busy = any(softmax_pipe) or scores > 0 or weights > 0 or inflight > 0
            cm_busy = any(word is not None for word in cm_pipe)
            v_busy = any(word is not None for word in v_pipe)
            # ---- phase ends (on this cycle's registered state) -------------------------------
            if kind == "A":
                if not busy and not pending_a and not pending_b and not cm_busy:
                    return x
            elif kind == "online":
                if not busy and not pending_a and not pending_b and not score_busy and \
                        not online_busy and not v_busy:
                    return x
            elif phase == "run":
                if flash.k_done(qid) and not pending_a and not score_busy:
                    # SOFTMAX (the scan, its pipeline, its sum), RECIP (the reciprocal's
                    # pipeline and a cycle)
                    phase, countdown = "softmax", (self.seq_len + self.scan_sum + sum_latency(p.dtype)
                                                   + recip_stages(p.dtype) + 2)
            elif phase == "vpass":
                if not busy and not pending_b and not v_busy:
                    return x
            enable_a = kind in ("A", "online") or phase == "run"
            enable_b_v = kind == "online" or phase == "vpass"
            enable_b_mean = kind == "A"
            # ---- this cycle's takes ---------------------------------------------------------
            take_a = take_b = out_b_word = cm_word = None
            row_done = take_v = cm_now = pop_weight = False
            credit = (scores + inflight < SCORE_FIFO_DEPTH) if self.online else True
            if enable_a and pending_a:
                out = chans[order[0][0][0]].head
                # (a channel-major beat waits while a beat of its word is in the last
                # cm_spacing - 1 cycles)
                cm_spaced = out is None or out[3] or out[0] != KIND_CM or \
                    out[5] not in islice(cm_pipe, cm_stage["spacing"] - 1)
                if out is not None and out[1] == 0 and (out[3] or credit) and cm_spaced:
                    take_a = order[0][0][0]
                    if not out[3]:
                        row_done = out[0] == KIND_K and out[2] == B - 1
                        cm_now = out[0] == KIND_CM
                        cm_word = out[5]
            if pending_b:
                out = chans[order[1][0][0]].head
                if out is not None and out[1] == 1:
                    if out[0] == KIND_MEAN:
                        ok = enable_b_mean
                    elif out[3]:
                        ok = enable_b_v
                    else:
                        ok = enable_b_v and (out[2] != 0 or not self.online or weights > 0) \
                            and not (v_spaced and out[2] in islice(v_pipe, self.v_spacing - 1))
                    if ok:
                        take_b = order[1][0][0]
                        take_v = out[0] == KIND_V and not out[3]
                        out_b_word = out[2]
                        pop_weight = take_v and self.online and out[2] == 0
            pair_written = softmax_pipe[-1]
            score_taken = scores > 0 and not any(islice(softmax_pipe, self.online_spacing - 1)) and \
                sum(softmax_pipe) + weights < self.weight_depth
            # ---- edge x -------------------------------------------------------------------
            flash.edge(x, take_a, take_b)
            if self.online:
                scores += score_v - score_taken
                inflight += row_done - score_v
                weights += pair_written - pop_weight
                softmax_pipe.appendleft(score_taken)
                softmax_pipe.pop()
            score_v = flags.pop()
            flags.appendleft(row_done)
            v_pipe.appendleft(out_b_word if take_v else None)
            v_pipe.pop()
            cm_pipe.appendleft(cm_word if cm_now else None)
            cm_pipe.pop()
            if phase in ("softmax", "recip"):
                countdown -= 1
                if countdown == 0:
                    phase = "vpass"
            x += 1


def _query_cycles(q: _Query, following: _Query | None) -> int:
    """The edge (counted from the one accepting the query, edge 0) that delivers its result;
    the flash side runs on through the next query's accepting edge (the cycle after it)."""
    p, flash = q.p, q.flash
    B = q.geo.beats_per_row
    x = 1                                  # the first cycle after the accepting edge
    if not q.sparse and following is not None:
        # the next query's beat is on the stream from the cycle after this one's was taken;
        # the walker starts it once this query's list is issued (a cycle after, at best)
        following.push_list_b(2)
    if q.sparse:
        recip = recip_stages(p.dtype) + 1  # a phase that waits for the reciprocal
        sums = sum_latency(p.dtype)        # the accumulators, from a sum's last element
        # TOPR (a channel a cycle, then its sums), SCALE1, SCALE2
        x += p.head_dim + topr_stages(p.head_dim) + sums + recip + scale_stages(p.dtype) + 1
        flash.push(q.qid, q.list_a(), x, q.beat_needed)
        x = q.stream(x, "A") + 1
        scan = q.seq_len + q.scan_sum         # a scan's tokens and its pipeline
        # TOPK, BITMAP, EXPSCAN, ALPHA
        x += (scan + 1) + p.top_k + (scan + sums) + recip + alpha_stages(p.dtype)
        q.push_list_b(x)
    end = q.stream(x, "online" if q.online else "two_pass")
    x = end + 1
    # a pass over the output row: a word a cycle, then its pipeline drains (a cycle after the
    # last word has left the last register, the next phase begins)
    if q.online:
        x += recip_stages(p.dtype) + 1     # RECIP
        x += B + q.v_stages + 1            # NORM
    if q.sparse:
        x += B + q.v_stages + 1            # MIX
    delivered = x + B + output_stages(p.dtype) + 1   # CONVERT; then the OUT cycle, whose edge delivers
    flash.idle(end, delivered + 2)         # the issuer and the channels meanwhile (dense: the next query's pages)
    return delivered


def engine_cycles(p, workload) -> int:
    """Cycles from the edge accepting the first query to the edge delivering the last result,
    with no stalls (the bench's ``cycles``)."""
    flash = _Flash(p)
    seq_len, count = workload["seq_len"], workload["queries"]
    none = [()] * count

    def query(qid: int) -> _Query:
        return _Query(p, qid, seq_len, flash, workload.get("channels", none)[qid],
                      workload.get("tokens", none)[qid])

    total = 0
    current = query(0)
    if not current.sparse:
        # the walker starts on the first query the cycle before it is accepted (a query is
        # taken once its walk has begun), and offers its first page in the accepting cycle
        current.push_list_b(0)
        flash.idle(0, 1)
    for qid in range(count):
        following = query(qid + 1) if qid + 1 < count else None
        duration = _query_cycles(current, following)
        total += duration + 1
        flash.shift(duration + 1)          # the next query is accepted `duration + 1` edges later
        current = following
    return total
