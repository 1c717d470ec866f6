"""From page lists to beats: the two page-list walkers, the page issuer, one filter per flash
channel, and the two consumers that hand the needed beats on in page order."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import SyncFIFO, equals, select
from ..params import KIND_CM, KIND_K, KIND_MEAN, KIND_V, PAGE_TOKENS
from .common import (SIDE_A, SIDE_B, Config, beat_layout, bit_of, channel_shape, entry_layout,
                     order_layout, page_layout, recent_words_layout)


class TokenPages(wiring.Component):
    """Walks a query's token list: two_pass, K pages 0..n-1, then V pages 0..n-1 (the V pages
    are requested as soon as the K pages are, so their latency hides behind the K pass);
    online, K_j, V_j pairs. SparF keeps the pages holding a selected token (``pagebit``) and
    records each page's 16 bits of the token ``bitmap`` in its entry; a page the query does not
    need costs one cycle of the walk.

    Which query: SparF walks the current query's list from ``start`` (its pages follow from
    its scores). Dense walks ahead: the query on the input stream (``next_valid``,
    ``next_seq_len``, not yet taken) as soon as the walker is free, so the next query's (the
    next head's) pages are read while the current one computes; ``ready_to_take``: that
    query's walk has begun, a cycle ago or more (the engine takes a query only then: the
    stream's ready never depends on its valid in the same cycle), ``taken``: it was taken.
    Each walk flips ``gen``; its pages carry it, and its head (query i: head i mod heads)
    sits above their ids. For the current query (generation ``cur_gen``): ``busy``, pages
    of its list are left to issue; ``k_done``, its K pages are issued."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        geo = cfg.geo
        members = {
            "cur_gen": In(1),
            "pages": Out(stream.Signature(page_layout(cfg))),
            "busy": Out(1),
            "k_done": Out(1),
        }
        if cfg.sparse:
            members |= {"start": In(1), "seq_len": In(geo.seq_bits),
                        "pagebit": In(geo.token_pages), "bitmap": In(cfg.p.max_seq_len)}
        else:
            members |= {"next_valid": In(1), "next_seq_len": In(geo.seq_bits), "taken": In(1),
                        "ready_to_take": Out(1)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, geo, cfg = self.cfg.p, self.cfg.geo, self.cfg
        j = Signal(range(geo.token_pages + 1))
        v = Signal()                    # two_pass: the V sweep; online: the V page of pair j
        walking, k_issued, gen = Signal(), Signal(), Signal()
        pages_used = Signal(geo.token_bits + 1)
        last_rows = Signal(range(PAGE_TOKENS + 1))
        head = Signal(range(max(2, p.heads)))          # the head of the list being walked
        next_head = Signal(range(max(2, p.heads)))

        # which query to walk, and when
        start = Signal()
        if cfg.sparse:
            seq_len = self.seq_len
            m.d.comb += start.eq(self.start)
        else:
            seq_len = self.next_seq_len
            walked = Signal()           # the query on the stream has had its walk begun
            m.d.comb += [start.eq(~walking & self.next_valid & ~walked),
                         self.ready_to_take.eq(walked)]
            with m.If(start):
                m.d.sync += walked.eq(1)
            with m.If(self.taken):
                m.d.sync += walked.eq(0)
        # (registered page-range flags: the comparisons of j with the page count straight
        # into the issuer's offer and the order FIFOs' writes held the default point to 70.2
        # MHz) nonempty: the query has a page (seq_len > 0); single: it has one; at_last: j is
        # its last page
        nonempty, single, at_last = Signal(), Signal(), Signal()
        with m.If(start):
            one_page = seq_len <= PAGE_TOKENS
            m.d.sync += [walking.eq(1), j.eq(0), v.eq(0), k_issued.eq(0), gen.eq(~gen),
                         nonempty.eq(seq_len.any()), single.eq(one_page), at_last.eq(one_page),
                         pages_used.eq((seq_len + PAGE_TOKENS - 1) >> 4),
                         last_rows.eq(Mux(seq_len[:4].any(), seq_len[:4], PAGE_TOKENS)),
                         head.eq(next_head),
                         next_head.eq(Mux(equals(next_head, p.heads - 1), 0, next_head + 1))]
        # the current query's view: a walk of another generation is the next query's, so the
        # current one's list is all issued
        current = ~(gen ^ self.cur_gen)
        m.d.comb += [self.busy.eq(walking & current), self.k_done.eq(k_issued | ~current)]

        # the page at the walk's position, and whether the query needs it
        page = self.pages.payload
        needed = Signal()
        last_j = at_last
        local = Signal(geo.local_id_bits)       # the page's id within its head
        m.d.comb += local.eq(Mux(v, geo.v_page(0), geo.k_page(0)) + j)
        m.d.comb += [page.entry.kind.eq(Mux(v, KIND_V, KIND_K)), page.entry.j.eq(j),
                     page.entry.rows.eq(Mux(last_j, last_rows, PAGE_TOKENS)),
                     page.page.eq(Cat(local, head[:geo.head_bits])),
                     page.channel.eq(j % p.flash_channels), page.gen.eq(gen)]
        in_range = nonempty            # (j < pages_used throughout a walk)
        # j moves to j + 1 (one more page of the sweep), or back to 0 (a new sweep), or stays
        step_j, restart_j = Signal(), Signal()
        if cfg.sparse:
            here = self._prefetched_page(m, step_j, restart_j)
            m.d.comb += [needed.eq(in_range & here.bit), page.entry.mask.eq(here.mask)]
        else:
            m.d.comb += needed.eq(in_range)
        m.d.comb += self.pages.valid.eq(walking & needed)
        m.d.comb += restart_j.eq(start)

        # walk on once the page is issued, or at once past a page the query does not need
        advance = (self.pages.valid & self.pages.ready) | (walking & ~needed)
        with m.If(advance):
            if cfg.online:
                # K page j, then V page j (skipped pages move on at once)
                with m.If(~needed | v):
                    m.d.comb += step_j.eq(1)
                    m.d.sync += [v.eq(0), j.eq(j + 1), at_last.eq(j + 2 >= pages_used)]
                    with m.If(last_j):
                        m.d.sync += [walking.eq(0), k_issued.eq(1)]
                with m.Else():
                    m.d.sync += v.eq(1)
            else:
                with m.If(last_j):
                    m.d.comb += restart_j.eq(1)
                    m.d.sync += [j.eq(0), at_last.eq(single)]
                    with m.If(v):
                        m.d.sync += walking.eq(0)
                    with m.Else():
                        m.d.sync += [v.eq(1), k_issued.eq(1)]
                with m.Else():
                    m.d.comb += step_j.eq(1)
                    m.d.sync += [j.eq(j + 1), at_last.eq(j + 2 >= pages_used)]
        return m

    def _prefetched_page(self, m, step, restart):
        """SparF: page j's pagebit and bitmap word (``here``), for the walk's position j.

        The walk may step a page a cycle, and looking page j + 1 up in the 2048-bit bitmap
        (a 128-way multiplexer over registers spread across the die) in the cycle the issuer
        takes page j held the SparF small point to 46.7 MHz (the lookup by j) and then 56.3
        MHz (the issuer's ready into the lookup's enable, 14.3 ns of routing). So a prefetcher
        of its own looks pages up from 2 on, in two registered stages (a 16-way choice beside
        each group of 16 words, then the group), into a queue the walk pops: neither the
        issuer's handshake nor j is on the lookup's path. Pages 0 and 1 come straight from the
        bitmap (constant indices: wires), which covers the lookup's two cycles after each
        restart (a new query, or two_pass's V sweep), so the walk never waits."""
        geo = self.cfg.geo
        pages = [Cat(self.pagebit[i], self.bitmap[PAGE_TOKENS * i:PAGE_TOKENS * (i + 1)])
                 for i in range(geo.token_pages)]
        entry_shape = data.StructLayout({"bit": 1, "mask": PAGE_TOKENS})
        group_bits = 4                       # 16 pages a group
        groups = [pages[g:g + (1 << group_bits)] for g in range(0, len(pages), 1 << group_bits)]
        depth = 3      # the lookup's two cycles and the entry being used: one page a cycle

        lookup = Signal(range(max(2, geo.token_pages)))    # the next page to look up
        group_entries = [Signal(entry_shape, name=f"lookup_group{g}") for g in range(len(groups))]
        lookup_group = Signal(range(max(2, len(groups))))
        in_flight = Signal()                 # a lookup is in the group registers
        queue = [Signal(entry_shape, name=f"prefetched{i}") for i in range(depth)]
        head, tail = Signal(range(depth)), Signal(range(depth))
        held = Signal(range(depth + 1))      # pages queued or in flight
        position = Signal(range(3))          # steps since the restart, at most 2

        issue = held < depth
        from_queue = equals(position, 2)
        pop = step & from_queue
        for entry, group in zip(group_entries, groups):
            m.d.sync += entry.eq(select(group, lookup[:group_bits]))
        m.d.sync += lookup_group.eq(lookup[group_bits:])
        with m.If(in_flight):
            for index, entry in enumerate(queue):
                with m.If(equals(tail, index)):
                    m.d.sync += entry.eq(select(group_entries, lookup_group))
            m.d.sync += tail.eq(Mux(equals(tail, depth - 1), 0, tail + 1))
        with m.If(pop):
            m.d.sync += head.eq(Mux(equals(head, depth - 1), 0, head + 1))
        with m.If(step & ~from_queue):
            m.d.sync += position.eq(position + 1)
        m.d.sync += [held.eq(held + issue - pop), in_flight.eq(issue)]
        with m.If(issue):
            m.d.sync += lookup.eq(lookup + 1)
        # a restart drops what was looked up for the old walk
        with m.If(restart):
            m.d.sync += [lookup.eq(2), in_flight.eq(0), head.eq(0), tail.eq(0), held.eq(0),
                         position.eq(0)]

        here = Signal(entry_shape)
        m.d.comb += here.eq(Mux(from_queue, select(queue, head),
                                Mux(position[0], pages[min(1, geo.token_pages - 1)], pages[0])))
        return here


class ChannelMajorPages(wiring.Component):
    """SparF's first list, from ``start``: the V-mean page, then the channel-major pages of the
    selected channels (``sel``) in channel order, ``cm_used`` blocks each; an unselected
    channel costs one cycle of the walk. ``head`` and ``gen``: the current query's."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        geo = cfg.geo
        super().__init__({
            "start": In(1),
            "head": In(range(max(2, cfg.p.heads))),
            "gen": In(1),
            "sel": In(cfg.p.head_dim),
            "cm_used": In(range(geo.cm_blocks + 1)),
            "pages": Out(stream.Signature(page_layout(cfg))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, geo = self.cfg.p, self.cfg.geo
        mean = Signal()                 # the V-mean page comes first
        c = Signal(range(p.head_dim))
        b = Signal(range(max(2, geo.cm_blocks)))

        kind = Signal(2)
        page_id = Signal(geo.local_id_bits)
        channel = Signal(channel_shape(self.cfg))
        needed = Signal()
        with m.If(mean):
            m.d.comb += [kind.eq(KIND_MEAN), page_id.eq(geo.mean_page()),
                         channel.eq(geo.mean_channel()), needed.eq(1)]
        with m.Else():
            cm_index = c * geo.cm_blocks + b
            m.d.comb += [kind.eq(KIND_CM), page_id.eq(geo.cm_page(0, 0) + cm_index),
                         channel.eq(cm_index % p.flash_channels), needed.eq(bit_of(self.sel, c))]
        # (whole fields, assigned outside the If: a field left at a constant inside a process
        # becomes an `always @*` that reads nothing, which Verilator flags)
        page = self.pages.payload
        m.d.comb += [page.page.eq(Cat(page_id, self.head[:geo.head_bits])), page.gen.eq(self.gen),
                     page.channel.eq(channel), page.entry.kind.eq(kind),
                     page.entry.c.eq(c), page.entry.b.eq(b), self.pages.valid.eq(self.busy & needed)]

        advance = (self.pages.valid & self.pages.ready) | (self.busy & ~needed)
        with m.If(advance):
            with m.If(mean):
                m.d.sync += mean.eq(0)
            with m.Else():
                next_c = Signal()
                m.d.comb += next_c.eq(~needed | (b + 1 >= self.cm_used))
                with m.If(next_c):
                    m.d.sync += b.eq(0)
                    with m.If(c == p.head_dim - 1):
                        m.d.sync += self.busy.eq(0)
                    with m.Else():
                        m.d.sync += c.eq(c + 1)
                with m.Else():
                    m.d.sync += b.eq(b + 1)
        with m.If(self.start):
            m.d.sync += [self.busy.eq(1), mean.eq(1), c.eq(0), b.eq(0)]
        return m


class PageIssuer(wiring.Component):
    """Issues the pages of the list being walked (one list at a time: ``lists``). A page is
    offered to its channel's request port (``req``) once that channel has queue room (its
    filter's FIFO of pages asked for, ``asked``, has a free entry) and its side's order FIFO
    (``order``) has room; an offer, once made, stays (room only grows while it waits). When
    the channel takes it, the page enters its filter's FIFO and its channel its side's order
    FIFO in the same cycle."""

    def __init__(self, cfg: Config, lists: int):
        self.cfg = cfg
        F = cfg.p.flash_channels
        super().__init__({
            "lists": In(stream.Signature(page_layout(cfg))).array(lists),
            "req": Out(stream.Signature(unsigned(cfg.geo.page_id_bits))).array(F),
            "asked": Out(stream.Signature(entry_layout(cfg))).array(F),
            "order": Out(stream.Signature(order_layout(cfg))).array(2),
        })

    def elaborate(self, platform):
        m = Module()
        offered = Signal()
        page = Signal(page_layout(self.cfg))
        for walk in self.lists:
            with m.If(walk.valid):
                m.d.comb += [offered.eq(1), page.eq(walk.payload)]
        side = page.entry.kind[0]
        room = (bit_of(Cat(*(a.ready for a in self.asked)), page.channel) &
                bit_of(Cat(*(o.ready for o in self.order)), side))
        offer = offered & room

        fire = Signal()                 # the channel took the page
        for c, req in enumerate(self.req):
            m.d.comb += [req.valid.eq(offer & equals(page.channel, c)), req.payload.eq(page.page)]
            with m.If(req.valid & req.ready):
                m.d.comb += fire.eq(1)
        for walk in self.lists:
            m.d.comb += walk.ready.eq(fire)
        for c, asked in enumerate(self.asked):
            m.d.comb += [asked.valid.eq(fire & equals(page.channel, c)), asked.payload.eq(page.entry)]
        for s, order in enumerate(self.order):
            m.d.comb += [order.valid.eq(fire & equals(side, s)), order.payload.channel.eq(page.channel),
                         order.payload.gen.eq(page.gen)]
        return m


class PageFilter(wiring.Component):
    """One channel's filter: the FIFO of pages asked for (the flash queue's credit), the drop
    decision for each returned beat, and a one-page receive buffer, so every channel's bus keeps
    moving while the consumers work on another channel's page. A page whose last beat is
    dropped leaves an end marker in the buffer instead, so the consumer still learns where the
    page ends. Dropped: rows past ``seq_len``, SparF's unselected tokens (the entry's ``mask``),
    channel-major beats past ``seq_len``, the V-mean page's padding."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        members = {
            "asked": In(stream.Signature(entry_layout(cfg))),
            "data": In(stream.Signature(data.ArrayLayout(16, p.lanes))),
            "beats": Out(stream.Signature(beat_layout(cfg))),
        }
        if cfg.sparse:
            members["seq_len"] = In(geo.seq_bits)       # (channel-major pages' columns)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, geo, cfg = self.cfg.p, self.cfg.geo, self.cfg
        B, PB = geo.beats_per_row, geo.page_beats
        m.submodules.pages = queue = SyncFIFO(width=entry_layout(cfg).size, depth=p.flash_queue)
        wiring.connect(m, wiring.flipped(self.asked), queue.w_stream)
        head = data.View(entry_layout(cfg), queue.r_data)

        # which beat of which page this is, and whether the engine needs it
        beat = Signal(range(PB))
        row = beat // B
        token = Signal(geo.token_bits + 1)
        m.d.comb += token.eq(Cat(row[:4], head.j))
        needed = Signal()
        cm_base = head.b * geo.cm_tokens + beat * p.lanes
        with m.If(head.kind == KIND_MEAN):
            m.d.comb += needed.eq(beat < B)
        if cfg.sparse:
            with m.Elif(head.kind == KIND_CM):
                m.d.comb += needed.eq(cm_base < self.seq_len)
        with m.Else():
            wanted = row < head.rows
            if cfg.sparse:
                wanted = wanted & bit_of(head.mask, row[:4])
            m.d.comb += needed.eq(wanted)
        last = beat == PB - 1

        m.submodules.receive = buffer = fifo.SyncFIFOBuffered(width=beat_layout(cfg).size, depth=PB)
        entry = Signal(beat_layout(cfg))
        m.d.comb += [entry.payload.eq(self.data.payload), entry.kind.eq(head.kind),
                     entry.token.eq(token), entry.bpos.eq(beat % B), entry.c.eq(head.c),
                     entry.word.eq(head.b * PB + beat), entry.end.eq(last),
                     entry.marker.eq(~needed)]
        keeps = needed | last
        m.d.comb += self.data.ready.eq(queue.r_rdy & (buffer.w_rdy | ~keeps))
        moved = self.data.valid & self.data.ready
        with m.If(moved):
            m.d.sync += beat.eq(Mux(last, 0, beat + 1))
        m.d.comb += [queue.r_en.eq(moved & last), buffer.w_en.eq(moved & keeps),
                     buffer.w_data.eq(entry)]
        # two registers between the block RAM and the consumers, a head and a spare: the
        # consumers read the head; the block RAM's FIFO is read whenever the spare is empty,
        # so its read enable comes from a register (the RAM's output straight into the
        # consumers' choice held the online engine to 54.8 MHz; the consumers' take straight
        # into the RAM's read enable, across the die, the default point to 74.9 MHz)
        head, spare = Signal(beat_layout(cfg)), Signal(beat_layout(cfg))
        head_valid, spare_valid = Signal(), Signal()
        popped = Signal()
        m.d.comb += [self.beats.valid.eq(head_valid), self.beats.payload.eq(head),
                     buffer.r_en.eq(~spare_valid), popped.eq(buffer.r_rdy & ~spare_valid)]
        with m.If(~head_valid | self.beats.ready):      # the head is free (or taken now)
            with m.If(spare_valid):
                m.d.sync += [head.eq(spare), head_valid.eq(1), spare_valid.eq(0)]
            with m.Elif(popped):
                m.d.sync += [head.eq(buffer.r_data), head_valid.eq(1)]
            with m.Else():
                m.d.sync += head_valid.eq(0)
        with m.Elif(popped):
            m.d.sync += [spare.eq(buffer.r_data), spare_valid.eq(1)]
        return m


class Consumers(wiring.Component):
    """The two consumers: side A takes K and channel-major beats, side B V and V-mean beats,
    each from the channel its FIFO of issued pages (``order``) names; an end (a page's last
    beat or its marker) moves it to the next page. Both run at once (online softmax reads K and
    V in one pass). Only the current query's pages (generation ``cur_gen``) are handed on: the
    next query's wait behind them (``taken`` flips the generation). ``idle``: no page of the
    current query is pending on a side. SparF: side A holds back a channel-major beat whose
    score word is among the channel-major unit's ``recent`` ones (its update is in flight)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        beat = stream.Signature(beat_layout(cfg))
        members = {
            "beats": In(beat).array(cfg.p.flash_channels),
            "order": In(stream.Signature(order_layout(cfg))).array(2),
            "cur_gen": In(1),
            "taken": In(1),
            "side": Out(beat).array(2),
            "idle": Out(1).array(2),
        }
        if cfg.sparse:
            members["recent"] = In(recent_words_layout(cfg))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        F = self.cfg.p.flash_channels
        depth = F * self.cfg.p.flash_queue
        takes = []
        for side, name in enumerate(("a", "b")):
            # (buffered: the channel to read comes from a register, not through the FIFO's
            # memory, into the choice of the beat and the consumer's ready logic; a page's
            # channel is in the FIFO two cycles after its issue, its first beat three at least)
            order = fifo.SyncFIFOBuffered(width=order_layout(self.cfg).size, depth=depth)
            m.submodules[f"order_{name}"] = order
            wiring.connect(m, wiring.flipped(self.order[side]), order.w_stream)
            entry = data.View(order_layout(self.cfg), order.r_data)
            cur = entry.channel if F > 1 else Const(0, 1)
            # the FIFO's entries of the current query and of the next (all behind the current
            # one's), counted; the next's become the current ones when it is taken (the last
            # query's are all consumed by then). ``idle`` is a register of the next count's
            # being zero (the FIFO's level against a count, straight into the sequencer's
            # phase ends, held the small two_pass point to 72.8 MHz)
            # The count lags by the entry read last cycle (``read_late``): the current count is
            # ``current - read_late``, so a read (the take, late in its cycle) only meets
            # ``idle``'s last LUT, not the count's carry chain (the take into the count held
            # the SparF small point to 57.4 MHz)
            current = Signal(range(depth + 2), name=f"current_{name}")
            ahead = Signal(range(depth + 1), name=f"ahead_{name}")
            idle = Signal(init=1, name=f"idle_{name}")
            read_late = Signal(name=f"read_late_{name}")
            written = order.w_en
            written_ahead = written & (self.order[side].payload.gen ^ self.cur_gen)
            read = order.r_en
            m.d.sync += read_late.eq(read)
            none_left = Mux(read_late, equals(current, 1), ~current.any())
            one_left = Mux(read_late, equals(current, 2), equals(current, 1))
            with m.If(self.taken):
                m.d.sync += [ahead.eq(0), current.eq(ahead + written),
                             idle.eq(~ahead.any() & ~written)]
            with m.Else():
                with m.If(written_ahead):
                    m.d.sync += ahead.eq(ahead + 1)
                written_current = written & ~written_ahead
                m.d.sync += [current.eq(current - read_late + written_current),
                             idle.eq(~written_current & (none_left | (one_left & read)))]
            beat = data.View(beat_layout(self.cfg), select((b.payload.as_value() for b in self.beats), cur))
            offered = [b.valid for b in self.beats]
            if self.cfg.sparse and side == SIDE_A:
                # each channel's beat checked against the recent words before the choice
                for c, b in enumerate(self.beats):
                    clash = Cat(*(r.valid & (r.word == b.payload.word) for r in self.recent)).any()
                    offered[c] = b.valid & ~(clash & ~b.payload.marker & equals(b.payload.kind, KIND_CM))
            here = select(offered, cur)
            out = self.side[side]
            m.d.comb += [out.payload.eq(beat),
                         out.valid.eq(order.r_rdy & ~(entry.gen ^ self.cur_gen) & here &
                                      equals(beat.kind[0], side)),
                         self.idle[side].eq(idle)]
            take = out.valid & out.ready
            m.d.comb += order.r_en.eq(take & beat.end)
            takes.append((take, cur))
        for c in range(F):
            m.d.comb += self.beats[c].ready.eq(Cat(*(t & equals(cur, c) for t, cur in takes)).any())
        return m


class PageFetch(wiring.Component):
    """Pages out, beats back: the page lists (the token list: dense, walked ahead from the
    query stream, ``next_*``; SparF from ``list_b``; SparF's first list from ``list_a``), the
    issuer, a filter per channel and the two consumers, which hand the current query's needed
    beats on in page order (``side``: A, then B). ``cur_gen``, ``head``: the current query's
    generation and head; ``taken``: a query was taken. ``lists_busy``: the current query's
    pages are being issued; ``k_done``: every K page of its token list is issued; ``idle``: no
    page of it pending on a side."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        members = {
            "flash_req": Out(stream.Signature(unsigned(geo.page_id_bits))).array(p.flash_channels),
            "flash_data": In(stream.Signature(data.ArrayLayout(16, p.lanes))).array(p.flash_channels),
            "side": Out(stream.Signature(beat_layout(cfg))).array(2),
            "cur_gen": In(1),
            "taken": In(1),
            "lists_busy": Out(1),
            "k_done": Out(1),
            "idle": Out(1).array(2),
        }
        if cfg.sparse:
            members |= {"list_a": In(1), "list_b": In(1), "seq_len": In(geo.seq_bits),
                        "recent": In(recent_words_layout(cfg)),
                        "head": In(range(max(2, p.heads))),
                        "sel": In(p.head_dim), "cm_used": In(range(geo.cm_blocks + 1)),
                        "pagebit": In(geo.token_pages), "bitmap": In(p.max_seq_len)}
        else:
            members |= {"next_valid": In(1), "next_seq_len": In(geo.seq_bits), "ready_to_take": Out(1)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.token_pages = token_pages = TokenPages(cfg)
        m.d.comb += [token_pages.cur_gen.eq(self.cur_gen), self.k_done.eq(token_pages.k_done)]
        lists = [token_pages]
        if cfg.sparse:
            m.submodules.cm_pages = cm_pages = ChannelMajorPages(cfg)
            m.d.comb += [token_pages.start.eq(self.list_b), token_pages.seq_len.eq(self.seq_len),
                         token_pages.pagebit.eq(self.pagebit), token_pages.bitmap.eq(self.bitmap),
                         cm_pages.start.eq(self.list_a), cm_pages.sel.eq(self.sel),
                         cm_pages.cm_used.eq(self.cm_used), cm_pages.head.eq(self.head),
                         cm_pages.gen.eq(self.cur_gen)]
            lists.append(cm_pages)
        else:
            m.d.comb += [token_pages.next_valid.eq(self.next_valid),
                         token_pages.next_seq_len.eq(self.next_seq_len),
                         token_pages.taken.eq(self.taken), self.ready_to_take.eq(token_pages.ready_to_take)]
        m.d.comb += self.lists_busy.eq(Cat(*(walk.busy for walk in lists)).any())

        m.submodules.issuer = issuer = PageIssuer(cfg, len(lists))
        for walk, port in zip(lists, issuer.lists):
            wiring.connect(m, walk.pages, port)
        m.submodules.consumers = consumers = Consumers(cfg)
        m.d.comb += [consumers.cur_gen.eq(self.cur_gen), consumers.taken.eq(self.taken)]
        if cfg.sparse:
            m.d.comb += consumers.recent.eq(self.recent)
        for c in range(cfg.p.flash_channels):
            m.submodules[f"filter{c}"] = page_filter = PageFilter(cfg)
            wiring.connect(m, issuer.req[c], wiring.flipped(self.flash_req[c]))
            wiring.connect(m, issuer.asked[c], page_filter.asked)
            wiring.connect(m, wiring.flipped(self.flash_data[c]), page_filter.data)
            wiring.connect(m, page_filter.beats, consumers.beats[c])
            if cfg.sparse:
                m.d.comb += page_filter.seq_len.eq(self.seq_len)
        for side in (SIDE_A, SIDE_B):
            wiring.connect(m, issuer.order[side], consumers.order[side])
            wiring.connect(m, consumers.side[side], wiring.flipped(self.side[side]))
            m.d.comb += self.idle[side].eq(consumers.idle[side])
        return m
