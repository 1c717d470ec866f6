"""The attention engine's hardware: one head's decode-step attention over a flash-resident KV
cache (docs/attention.md has the dataflow and the exact arithmetic).

Parts, top to bottom in ``elaborate``:

* the **page issuer** walks the page list of the current phase and sends each page id to its
  flash channel's request port, at most ``flash_queue`` pages outstanding per channel;
* one **filter** per channel knows, from a FIFO of the pages it asked for, which page and beat
  each returned beat is; it drops beats the engine does not need (padding past ``seq_len``,
  SparF's unselected tokens) at the channel's own pace and hands the rest on;
* two **consumers** take the needed beats in page order: side A the K pages (score GeMV) and
  SparF's channel-major K pages (approximate scores), side B the V pages (V GeMV) and the
  V-mean page. A FIFO per side lists the channels of its pages in issue order, so a consumer
  always knows which channel its next beat comes from, and the two sides run concurrently
  (online softmax reads K and V in one pass);
* the **score GeMV** is the PIM bank MAC core (lanes products, pairwise fp32 tree, fp32
  accumulator); the **V GeMV** is ``lanes`` fp32 FMAs over an fp32 output row;
* scalar units: the online-softmax running max and rescale, the exp-and-sum scans, top-r
  channel ranking, the top-k insertion sorter, reciprocals.

Every arithmetic step is a ``hwgen.numerics`` operator, in the order the golden twin
(``golden.py``) follows from the spec.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo
from amaranth.lib.memory import Memory

from ....numerics.formats import PRESETS
from ....numerics.rtl import (FloatAdder, FloatConverter, FloatExp, FloatFMA, FloatInverseSqrt,
                             FloatMinMax, FloatMultiplier, FloatReciprocal)
from ...common.bank_mac.rtl import BankMac
from ....core.logic import delay
from ..params import (KIND_CM, KIND_K, KIND_MEAN, KIND_V, LEVEL_LATENCY, MUL_LATENCY, PAGE_TOKENS,
                     SCORE_FIFO_DEPTH, geometry)

F32 = PRESETS["fp32"]
ONE32 = 0x3F800000
NEG_INF32 = 0xFF800000

# Phases (nonzero codes: Yosys writes `x == 0` in a form Verilator warns about).
(IDLE, TOPR, SCALE1, SCALE2, RUN_A, TOPK, BITMAP, EXPSCAN, ALPHA, RUN_B, SOFTMAX, RECIP,
 VPASS, NORM, MIX, CONVERT, OUT) = range(1, 18)


def c_d(head_dim: int) -> int:
    """The fp32 pattern of 1/sqrt(head_dim) (the spec's constant, rounded once from float64)."""
    return _f32_bits(1.0 / math.sqrt(head_dim))


def equals(value, constant: int):
    """``value == constant``, written so that Yosys does not emit ``!value`` (a Verilator
    WIDTHTRUNC) for a zero constant."""
    return ~value.any() if constant == 0 else value == constant


def select(values, index):
    """``values[index]`` as a mux whose case list is complete (padded to a power of two), so
    the Verilog has no incomplete case."""
    values = list(values)
    bits = max(1, (len(values) - 1).bit_length())
    values += [values[-1]] * ((1 << bits) - len(values))
    return Array(values)[Cat(index, Const(0, bits))[:bits]]


def bit_of(vector, index):
    """Bit ``index`` of ``vector`` (a variable index)."""
    return (vector >> index)[0]


def with_bit(vector, index):
    """``vector`` with bit ``index`` set."""
    return (vector | (Const(1, len(vector)) << index))[:len(vector)]


def order_key(bits):
    """An unsigned key whose order is the fp32 order of ``bits`` (spec: Key32)."""
    return Mux(bits[31], ~bits, bits | (1 << 31))[:32]


def key_bits(key):
    """The fp32 pattern back from ``order_key``."""
    return Mux(key[31], key & 0x7FFFFFFF, ~key)[:32]


class Datapath:
    """Builds the engine into ``m``; ``e`` is the Block (ports and parameters)."""

    def __init__(self, m: Module, engine):
        self.m, self.e, self.p = m, engine, engine.p
        self.geo = geometry(engine.p)
        self.D = PRESETS[self.p.dtype]
        self.sparse = self.p.mode == "sparf"
        self.online = self.p.softmax == "online"
        self.uses_memory = self.sparse or not self.online
        self._units = 0

    # -- small helpers ----------------------------------------------------------------------
    def unit(self, component, name: str, **inputs):
        """Instantiate a numerics operator, wire its operands, return its result."""
        self._units += 1
        self.m.submodules[f"{name}_{self._units}"] = component
        for port, value in inputs.items():
            self.m.d.comb += getattr(component, port).eq(value)
        return component.y

    def cvt(self, value, fin, fout, name="cvt"):
        return self.unit(FloatConverter(fin, fout), name, a=value)

    def add32(self, a, b, name="add"):
        return self.unit(FloatAdder(F32), name, a=a, b=b)

    def sub32(self, a, b, name="sub"):
        return self.unit(FloatAdder(F32, subtract=True), name, a=a, b=b)

    def mul32(self, a, b, name="mul"):
        return self.unit(FloatMultiplier(F32), name, a=a, b=b)

    def mulw(self, a, b, name="mulw"):
        return self.unit(FloatMultiplier(self.D, out_fmt=F32), name, a=a, b=b)

    def exp_of(self, diff32, name="exp"):
        """exp(cvt(diff32, F32, D)) in D."""
        return self.unit(FloatExp(self.D), name, a=self.cvt(diff32, F32, self.D, f"{name}_in"))

    # -- the whole engine -------------------------------------------------------------------
    def build(self):
        m, p, geo = self.m, self.p, self.geo
        s = self.s = SimpleNamespace()
        s.phase = Signal(range(OUT + 1), init=IDLE)
        s.q = Signal(data.ArrayLayout(16, p.head_dim))
        s.seq_len = Signal(geo.seq_bits)
        s.pages_used = Signal(geo.token_bits + 1)
        m.d.comb += s.pages_used.eq((s.seq_len + PAGE_TOKENS - 1) >> 4)
        s.cm_used = Signal(range(geo.cm_blocks + 1))
        m.d.comb += s.cm_used.eq((s.seq_len + geo.cm_tokens - 1) >> (geo.cm_tokens.bit_length() - 1))
        s.bitmap = Signal(p.max_seq_len)
        s.pagebit = Signal(geo.token_pages)
        s.sel = Signal(p.head_dim)
        s.pass_b = Signal(range(max(2, geo.beats_per_row)))
        s.pass_last = Signal()
        m.d.comb += s.pass_last.eq(equals(s.pass_b, geo.beats_per_row - 1))
        s.start = Signal()  # a query was accepted this cycle

        self.query_port()
        self.memory()
        self.issuer()
        self.filters()
        self.consumers()
        self.score_gemv()
        if self.online:
            self.online_softmax()
        self.v_gemv()
        self.scans()
        if self.sparse:
            self.top_r()
            self.sorter()
        self.sequencer()
        self.output_port()

    def phase_is(self, *phases):
        return Cat(*(self.s.phase == ph for ph in phases)).any()

    def go(self, phase):
        self.m.d.sync += self.s.phase.eq(phase)

    # -- query in, result out ---------------------------------------------------------------
    def query_port(self):
        m, s, e = self.m, self.s, self.e
        m.d.comb += e.query.ready.eq(self.phase_is(IDLE))
        m.d.comb += s.start.eq(e.query.valid & e.query.ready)
        with m.If(s.start):
            m.d.sync += [s.q.eq(e.query.payload.q), s.seq_len.eq(e.query.payload.seq_len),
                         s.bitmap.eq(0), s.pagebit.eq(0), s.sel.eq(0)]

    def output_port(self):
        m, s, e, geo = self.m, self.s, self.e, self.geo
        s.y = Signal(data.ArrayLayout(16, self.p.head_dim))
        m.d.comb += [e.o.valid.eq(self.phase_is(OUT)), e.o.payload.eq(s.y)]
        # CONVERT: one output word per cycle through `lanes` fp32 -> D converters.
        converted = [self.cvt(self.word_lane(s.o_words, s.pass_b, i), F32, self.D, "out_cvt")
                     for i in range(self.p.lanes)]
        with m.If(self.phase_is(CONVERT)):
            for b in range(geo.beats_per_row):
                with m.If(equals(s.pass_b, b)):
                    m.d.sync += [s.y[b * self.p.lanes + i].eq(converted[i]) for i in range(self.p.lanes)]

    # -- score memory ----------------------------------------------------------------------
    def memory(self):
        """fp32 scores, `lanes` per word: exact scores (two_pass), then exp values; SparF's
        approximate-score sums. Online dense attention has none: that is its point."""
        m, s, p, geo = self.m, self.s, self.p, self.geo
        s.rd_addr = Signal(range(geo.score_words))
        s.wr_addr = Signal(range(geo.score_words))
        s.wr_data = Signal(32 * p.lanes)
        s.wr_en = Signal(p.lanes)
        s.rd_data = Signal(32 * p.lanes)
        if not self.uses_memory:
            return
        m.submodules.scores = mem = Memory(shape=unsigned(32 * p.lanes), depth=geo.score_words, init=[])
        write = mem.write_port(granularity=32)
        read = mem.read_port(transparent_for=(write,))
        m.d.comb += [write.addr.eq(s.wr_addr), write.data.eq(s.wr_data), write.en.eq(s.wr_en),
                     read.addr.eq(s.rd_addr), s.rd_data.eq(read.data)]

    def lane_of(self, word, token):
        """Element ``token % lanes`` of a word of ``lanes`` fp32 values."""
        return select((word[32 * i:32 * (i + 1)] for i in range(self.p.lanes)), token % self.p.lanes)

    @staticmethod
    def word_lane(words, index, lane, width=32):
        """Lane ``lane`` of ``words[index]`` (a mux per lane: words are plain signals)."""
        return select((w[width * lane:width * (lane + 1)] for w in words), index)

    # -- page issuer ------------------------------------------------------------------------
    def issuer(self):
        m, s, p, geo = self.m, self.s, self.p, self.geo
        F = p.flash_channels
        s.iss_busy = Signal()
        s.iss_list_a = Signal()          # walking SparF's first list (mean page, channel-major K)
        s.iss_j = Signal(range(geo.token_pages + 1))
        s.iss_v = Signal()               # two_pass: the V sweep; online: the V page of pair j
        s.iss_mean = Signal()
        s.iss_c = Signal(range(p.head_dim))
        s.iss_b = Signal(range(max(2, geo.cm_blocks)))
        s.iss_k_done = Signal()          # every K page of the token list has been issued
        s.entry_layout = data.StructLayout({
            "kind": 2, "j": range(max(2, geo.token_pages)), "c": range(p.head_dim),
            "b": range(max(2, geo.cm_blocks))})

        kind = Signal(2)
        page = Signal(geo.page_id_bits)
        channel = Signal(range(max(2, F)))
        needed = Signal()
        entry = Signal(s.entry_layout)
        with m.If(s.iss_list_a):
            with m.If(s.iss_mean):
                m.d.comb += [kind.eq(KIND_MEAN), page.eq(geo.mean_page()),
                             channel.eq(geo.mean_channel()), needed.eq(1)]
            with m.Else():
                cm_index = s.iss_c * geo.cm_blocks + s.iss_b
                m.d.comb += [kind.eq(KIND_CM), page.eq(geo.cm_page(0, 0) + cm_index),
                             channel.eq(cm_index % F), needed.eq(bit_of(s.sel, s.iss_c))]
        with m.Else():
            kind_v = s.iss_v
            m.d.comb += [kind.eq(Mux(kind_v, KIND_V, KIND_K)),
                         page.eq(Mux(kind_v, geo.v_page(0), geo.k_page(0)) + s.iss_j),
                         channel.eq(s.iss_j % F)]
            in_range = s.iss_j < s.pages_used
            if self.sparse:
                m.d.comb += needed.eq(in_range & bit_of(s.pagebit, s.iss_j))
            else:
                m.d.comb += needed.eq(in_range)
        m.d.comb += [entry.kind.eq(kind), entry.j.eq(s.iss_j), entry.c.eq(s.iss_c), entry.b.eq(s.iss_b)]
        s.iss_kind, s.iss_entry, s.iss_channel = kind, entry, channel

        # Offer the page to its channel once that channel has queue room; an offer, once made,
        # stays (room only grows while it waits).
        s.iss_offer = Signal()
        s.iss_fire = Signal()
        s.filter_room = Signal(F)
        s.order_room = Signal(2)
        side = kind[0]
        m.d.comb += s.iss_offer.eq(s.iss_busy & needed & bit_of(s.filter_room, channel) &
                                   bit_of(s.order_room, side))
        for c in range(F):
            req = getattr(self.e, f"flash{c}_req")
            m.d.comb += [req.valid.eq(s.iss_offer & equals(channel, c)), req.payload.eq(page)]
            with m.If(req.valid & req.ready):
                m.d.comb += s.iss_fire.eq(1)
        advance = s.iss_busy & (s.iss_fire | ~needed)

        # Walk the lists.
        last_j = s.iss_j + 1 >= s.pages_used
        with m.If(advance):
            with m.If(s.iss_list_a):
                with m.If(s.iss_mean):
                    m.d.sync += s.iss_mean.eq(0)
                with m.Else():
                    next_c = Signal()
                    m.d.comb += next_c.eq(~needed | (s.iss_b + 1 >= s.cm_used))
                    with m.If(next_c):
                        m.d.sync += s.iss_b.eq(0)
                        with m.If(s.iss_c == p.head_dim - 1):
                            m.d.sync += [s.iss_busy.eq(0), s.iss_list_a.eq(0)]
                        with m.Else():
                            m.d.sync += s.iss_c.eq(s.iss_c + 1)
                    with m.Else():
                        m.d.sync += s.iss_b.eq(s.iss_b + 1)
            with m.Else():
                if self.online:
                    # K page j, then V page j (skipped pages move on at once)
                    with m.If(~needed | s.iss_v):
                        m.d.sync += [s.iss_v.eq(0), s.iss_j.eq(s.iss_j + 1)]
                        with m.If(last_j):
                            m.d.sync += [s.iss_busy.eq(0), s.iss_k_done.eq(1)]
                    with m.Else():
                        m.d.sync += s.iss_v.eq(1)
                else:
                    with m.If(last_j):
                        m.d.sync += s.iss_j.eq(0)
                        with m.If(s.iss_v):
                            m.d.sync += s.iss_busy.eq(0)
                        with m.Else():
                            m.d.sync += [s.iss_v.eq(1), s.iss_k_done.eq(1)]
                    with m.Else():
                        m.d.sync += s.iss_j.eq(s.iss_j + 1)

    def start_list_a(self):
        s = self.s
        return [s.iss_busy.eq(1), s.iss_list_a.eq(1), s.iss_mean.eq(1), s.iss_c.eq(0), s.iss_b.eq(0)]

    def start_list_b(self):
        s = self.s
        return [s.iss_busy.eq(1), s.iss_list_a.eq(0), s.iss_j.eq(0), s.iss_v.eq(0), s.iss_k_done.eq(0)]

    # -- per-channel filters ------------------------------------------------------------------
    def filters(self):
        """Per channel: the FIFO of pages asked for (the flash queue's credit), the drop
        decision for each returned beat, and a one-page receive buffer, so every channel's bus
        keeps moving while the consumers work on another channel's page. A page whose last beat
        is dropped leaves an end marker in the buffer instead, so the consumer still learns
        where the page ends."""
        m, s, p, geo = self.m, self.s, self.p, self.geo
        F = p.flash_channels
        B, PB = geo.beats_per_row, geo.page_beats
        s.beat_layout = data.StructLayout({
            "payload": 16 * p.lanes, "kind": 2, "token": geo.token_bits + 1,
            "bpos": range(max(2, B)), "c": range(p.head_dim), "word": range(max(2, geo.score_words)),
            "end": 1, "marker": 1})
        s.f = []
        s.take = Signal(F)
        for c in range(F):
            port = getattr(self.e, f"flash{c}_data")
            queue = fifo.SyncFIFO(width=s.entry_layout.size, depth=p.flash_queue)
            m.submodules[f"pages{c}"] = queue
            m.d.comb += s.filter_room[c].eq(queue.w_rdy)
            m.d.comb += [queue.w_data.eq(s.iss_entry),
                         queue.w_en.eq(s.iss_fire & equals(s.iss_channel, c))]
            head = data.View(s.entry_layout, queue.r_data)
            beat = Signal(range(PB), name=f"beat{c}")
            row = beat // B
            token = Signal(geo.token_bits + 1, name=f"token{c}")
            m.d.comb += token.eq(Cat(row[:4], head.j))
            needed = Signal(name=f"needed{c}")
            cm_base = head.b * geo.cm_tokens + beat * p.lanes
            with m.If(head.kind == KIND_MEAN):
                m.d.comb += needed.eq(beat < B)
            with m.Elif(head.kind == KIND_CM):
                m.d.comb += needed.eq(cm_base < s.seq_len)
            with m.Else():
                wanted = token < s.seq_len
                if self.sparse:
                    wanted = wanted & bit_of(s.bitmap, token[:geo.token_bits])
                m.d.comb += needed.eq(wanted)
            last = beat == PB - 1

            buffer = fifo.SyncFIFOBuffered(width=s.beat_layout.size, depth=PB)
            m.submodules[f"receive{c}"] = buffer
            entry = Signal(s.beat_layout, name=f"entry{c}")
            m.d.comb += [entry.payload.eq(port.payload.as_value()), entry.kind.eq(head.kind),
                         entry.token.eq(token), entry.bpos.eq(beat % B), entry.c.eq(head.c),
                         entry.word.eq(head.b * PB + beat), entry.end.eq(last),
                         entry.marker.eq(~needed)]
            keeps = needed | last
            m.d.comb += port.ready.eq(queue.r_rdy & (buffer.w_rdy | ~keeps))
            moved = port.valid & port.ready
            with m.If(moved):
                m.d.sync += beat.eq(Mux(last, 0, beat + 1))
            m.d.comb += [queue.r_en.eq(moved & last), buffer.w_en.eq(moved & keeps),
                         buffer.w_data.eq(entry), buffer.r_en.eq(s.take[c])]
            out = data.View(s.beat_layout, buffer.r_data)
            s.f.append(SimpleNamespace(valid=buffer.r_rdy, out=out))

    # -- consumers ----------------------------------------------------------------------------
    def consumers(self):
        """Side A takes K and channel-major beats, side B V and V-mean beats, each from the
        channel its FIFO of issued pages names; an end (a page's last beat or its marker)
        moves it to the next page."""
        m, s, p = self.m, self.s, self.p
        F = p.flash_channels
        depth = F * p.flash_queue
        takes = []
        for side, name in ((0, "a"), (1, "b")):
            order = fifo.SyncFIFO(width=max(1, (F - 1).bit_length()), depth=depth)
            m.submodules[f"order_{name}"] = order
            m.d.comb += [s.order_room[side].eq(order.w_rdy),
                         order.w_data.eq(s.iss_channel),
                         order.w_en.eq(s.iss_fire & equals(s.iss_kind[0], side))]
            cur = order.r_data if F > 1 else Const(0, 1)
            beat = data.View(s.beat_layout, select((f.out.as_value() for f in s.f), cur))
            here = select((f.valid for f in s.f), cur)
            take = Signal(name=f"take_{name}")
            view = SimpleNamespace(
                have=order.r_rdy, valid=order.r_rdy & here & equals(beat.kind[0], side),
                marker=beat.marker, kind=beat.kind, bpos=beat.bpos,
                payload=data.View(data.ArrayLayout(16, p.lanes), beat.payload),
                token=beat.token, c=beat.c, word=beat.word, channel=cur)
            m.d.comb += order.r_en.eq(take & beat.end)
            takes.append((take, cur))
            setattr(s, f"side_{name}", view)
            setattr(s, f"take_{name}", take)
            setattr(s, f"order_{name}_empty", ~order.r_rdy)
        for c in range(F):
            m.d.comb += s.take[c].eq(Cat(*(t & equals(cur, c) for t, cur in takes)).any())

    # -- side A: score GeMV and channel-major approximate scores ----------------------------
    def score_gemv(self):
        m, s, p, geo = self.m, self.s, self.p, self.geo
        a = s.side_a
        B = geo.beats_per_row
        s.enable_a = Signal()
        s.credit_a = Signal()
        m.d.comb += s.take_a.eq(a.valid & s.enable_a & (a.marker | s.credit_a))
        take_k = s.take_a & ~a.marker & equals(a.kind, KIND_K)
        take_cm = s.take_a & ~a.marker & (a.kind == KIND_CM)

        mac = BankMac(dtype=p.dtype, acc="fp32", lanes=p.lanes, mul_latency=MUL_LATENCY,
                      level_latency=LEVEL_LATENCY)
        m.submodules.score_mac = mac
        q_words = [Cat(*(s.q[b * p.lanes + i] for i in range(p.lanes))) for b in range(B)]
        m.d.comb += [mac.weights.eq(a.payload), mac.vector.eq(select(q_words, a.bpos)),
                     mac.mac.eq(take_k), mac.load.eq(take_k & equals(a.bpos, 0)), mac.bias.eq(0)]
        row_done = take_k & equals(a.bpos, B - 1)
        flags = [row_done]
        for stage in range(mac.latency):
            staged = Signal(name=f"row_done_d{stage}")
            m.d.sync += staged.eq(flags[-1])
            flags.append(staged)
        token = delay(m, a.token, mac.latency, "row_token")
        score = self.mul32(mac.acc, c_d(p.head_dim), "score_scale")
        s.score_v = Signal()
        s.score = Signal(32)
        s.score_token = Signal.like(a.token)
        m.d.sync += [s.score_v.eq(flags[-1]), s.score.eq(score), s.score_token.eq(token)]
        s.score_busy = Signal()
        m.d.comb += s.score_busy.eq(Cat(*flags[1:], s.score_v).any())

        if self.online:
            s.inflight = Signal(range(SCORE_FIFO_DEPTH + mac.latency + 2))
            m.d.sync += s.inflight.eq(s.inflight + row_done - s.score_v)
        else:
            # two_pass: the scores go to memory; the running max is the pass's max.
            s.m_max = Signal(32, init=NEG_INF32)
            new_max = self.unit(FloatMinMax(F32, op="max"), "score_max", a=s.m_max, b=s.score)
            with m.If(s.score_v):
                m.d.sync += s.m_max.eq(new_max)
            with m.If(s.start):
                m.d.sync += s.m_max.eq(NEG_INF32)

        # SparF: products of q[c] and lanes tokens of channel c, added into the score memory
        # (read now, add and write next cycle; the read port sees that write).
        s.cm_v = Signal()
        if not self.sparse:
            return
        s.first_c = Signal(range(p.head_dim))
        q_c = select((s.q[i] for i in range(p.head_dim)), a.c)
        products = [self.mulw(q_c, a.payload[i], "cm_mul") for i in range(p.lanes)]
        held = [Signal(32, name=f"cm_prod{i}") for i in range(p.lanes)]
        cm_word = Signal.like(s.rd_addr)
        cm_first = Signal()
        m.d.sync += [s.cm_v.eq(take_cm), cm_word.eq(a.word), cm_first.eq(a.c == s.first_c)]
        m.d.sync += [h.eq(x) for h, x in zip(held, products)]
        sums = [self.add32(s.rd_data[32 * i:32 * (i + 1)], held[i], "cm_add") for i in range(p.lanes)]
        s.cm_read = (take_cm, a.word)
        s.cm_write = (s.cm_v, cm_word, [Mux(cm_first, held[i], sums[i]) for i in range(p.lanes)])

    # -- online softmax: running max, rescale factor and weight per token --------------------
    def online_softmax(self):
        m, s = self.m, self.s
        D = self.D
        scores = fifo.SyncFIFO(width=32, depth=SCORE_FIFO_DEPTH)
        m.submodules.score_fifo = scores
        m.d.comb += [scores.w_data.eq(s.score), scores.w_en.eq(s.score_v)]
        m.d.comb += s.credit_a.eq(scores.level + s.inflight < SCORE_FIFO_DEPTH)
        s.scores_empty = ~scores.r_rdy

        s.m_run = Signal(32, init=NEG_INF32)
        s.l_run = Signal(32)
        weights = fifo.SyncFIFO(width=2 * 16, depth=4)
        m.submodules.weight_fifo = weights
        s.weights = weights
        # stage 1: the new max and the two differences
        s1_v = Signal()
        d_old, d_new = Signal(32), Signal(32)
        m2 = self.unit(FloatMinMax(F32, op="max"), "online_max", a=s.m_run, b=scores.r_data)
        diff_old = self.sub32(s.m_run, m2, "online_d_old")
        diff_new = self.sub32(scores.r_data, m2, "online_d_new")
        s2_fire = s1_v & weights.w_rdy
        s1_take = scores.r_rdy & (~s1_v | s2_fire)
        m.d.comb += scores.r_en.eq(s1_take)
        with m.If(s1_take):
            m.d.sync += [s1_v.eq(1), d_old.eq(diff_old), d_new.eq(diff_new), s.m_run.eq(m2)]
        with m.Elif(s2_fire):
            m.d.sync += s1_v.eq(0)
        # stage 2: exps, the running sum, and the (scale, p) pair for the V GeMV
        scale = self.exp_of(d_old, "online_scale")
        weight = self.exp_of(d_new, "online_p")
        l_next = self.unit(FloatFMA(F32), "online_l", a=s.l_run,
                           b=self.cvt(scale, D, F32), c=self.cvt(weight, D, F32))
        m.d.comb += [weights.w_en.eq(s2_fire), weights.w_data.eq(Cat(scale, weight))]
        with m.If(s2_fire):
            m.d.sync += s.l_run.eq(l_next)
        s.online_busy = Signal()
        m.d.comb += s.online_busy.eq(s1_v | scores.r_rdy | weights.r_rdy | s.inflight.any())
        with m.If(s.start):
            m.d.sync += [s.m_run.eq(NEG_INF32), s.l_run.eq(0)]

    # -- side B: V GeMV, the V mean, and the passes over the output row ----------------------
    def v_gemv(self):
        m, s, p, geo = self.m, self.s, self.p, self.geo
        D = self.D
        b = s.side_b
        B = geo.beats_per_row
        s.enable_b_v = Signal()
        s.enable_b_mean = Signal()
        ok = Signal()
        if self.online:
            m.d.comb += ok.eq(b.bpos.any() | s.weights.r_rdy)
        else:
            m.d.comb += ok.eq(1)
        is_v = b.kind == KIND_V
        m.d.comb += s.take_b.eq(b.valid & Mux(is_v, s.enable_b_v & (b.marker | ok), s.enable_b_mean))
        take_v = s.take_b & ~b.marker & is_v
        take_mean = s.take_b & ~b.marker & ~is_v

        s.v_mean = [Signal(16 * p.lanes, name=f"v_mean{w}") for w in range(B)]
        with m.If(take_mean):
            for w in range(B):
                with m.If(equals(b.bpos, w)):
                    m.d.sync += s.v_mean[w].eq(b.payload.as_value())

        # stage 0 -> 1 registers of a taken V beat
        v_v = Signal()
        v_word = Signal(range(max(2, B)))
        v_vals = Signal(data.ArrayLayout(16, p.lanes))
        v_token = Signal.like(b.token)
        m.d.sync += [v_v.eq(take_v), v_word.eq(b.bpos), v_vals.eq(b.payload), v_token.eq(b.token)]
        s.v_read = (take_v, b.token // p.lanes)
        s.v_busy = v_v

        one_d = Const(int(_one_bits(D)), 16)
        s.r16 = Signal(16)           # two_pass: 1/sum; online: 1/l (for the NORM pass)
        s.alpha16 = Signal(16)
        s.beta16 = Signal(16)
        if self.online:
            cur_scale, cur_p = Signal(16), Signal(16)
            popped = Signal(32)
            m.d.comb += [popped.eq(s.weights.r_data), s.weights.r_en.eq(take_v & equals(b.bpos, 0))]
            with m.If(take_v & equals(b.bpos, 0)):
                m.d.sync += [cur_scale.eq(popped[:16]), cur_p.eq(popped[16:])]
            beat_p, beat_scale16 = cur_p, cur_scale
        else:
            e_t = self.lane_of(s.rd_data, v_token)[:16]
            beat_p = self.unit(FloatMultiplier(D), "p_norm", a=e_t, b=s.r16)
            beat_scale16 = one_d

        p_in = Signal(16)
        scale_in = Signal(16)
        vals_in = Signal(data.ArrayLayout(16, p.lanes))
        word_in = Signal(range(max(2, B)))
        fire = Signal()
        with m.If(v_v):
            m.d.comb += [p_in.eq(beat_p), scale_in.eq(beat_scale16), vals_in.eq(v_vals),
                         word_in.eq(v_word), fire.eq(1)]
        with m.Elif(self.phase_is(NORM)):
            m.d.comb += [p_in.eq(0), scale_in.eq(s.r16), vals_in.eq(0), word_in.eq(s.pass_b), fire.eq(1)]
        with m.Elif(self.phase_is(MIX)):
            m.d.comb += [p_in.eq(s.beta16), scale_in.eq(s.alpha16), word_in.eq(s.pass_b), fire.eq(1)]
            m.d.comb += [vals_in[i].eq(self.word_lane(s.v_mean, s.pass_b, i, 16)) for i in range(p.lanes)]
        scale32 = self.cvt(scale_in, D, F32, "v_scale")
        s.o_words = [Signal(32 * p.lanes, name=f"o{w}") for w in range(B)]
        for i in range(p.lanes):
            product = self.mulw(p_in, vals_in[i], "v_mul")
            updated = self.unit(FloatFMA(F32), "v_fma", a=self.word_lane(s.o_words, word_in, i),
                                b=scale32, c=product)
            with m.If(fire):
                for w in range(B):
                    with m.If(equals(word_in, w)):
                        m.d.sync += s.o_words[w][32 * i:32 * (i + 1)].eq(updated)
        with m.If(s.start):
            m.d.sync += [w.eq(0) for w in s.o_words]

    # -- scans over the score memory: two_pass softmax, SparF top-k and exp sums ----------------
    def scans(self):
        """One token per cycle: read its score word, then (next cycle) compute. The chains
        (sum of exps; SparF's numerator) take their first element as it is."""
        m, s, p = self.m, self.s, self.p
        D = self.D
        s.scan_t = Signal(range(p.max_seq_len + 1))
        s.scan_on = Signal()                 # issuing reads
        s.scan_v = Signal()                  # a read's data is here
        s.scan_tok = Signal(range(p.max_seq_len))
        s.scan_done = Signal()
        issuing = s.scan_on & (s.scan_t < s.seq_len)
        m.d.sync += [s.scan_v.eq(issuing), s.scan_tok.eq(s.scan_t)]
        with m.If(issuing):
            m.d.sync += s.scan_t.eq(s.scan_t + 1)
        m.d.comb += s.scan_done.eq(s.scan_on & ~issuing & ~s.scan_v)
        s.scan_read = (issuing, s.scan_t // p.lanes)
        lane = self.lane_of(s.rd_data, s.scan_tok)

        # the exp of (x - ref), and two chain sums
        s.sum0, s.sum1 = Signal(32), Signal(32)
        s.first0, s.first1 = Signal(), Signal()
        s.chain_in = Signal(32)
        s.chain0_en, s.chain1_en = Signal(), Signal()
        add0 = self.add32(s.sum0, s.chain_in, "chain0")
        add1 = self.add32(s.sum1, s.chain_in, "chain1")
        with m.If(s.chain0_en):
            m.d.sync += [s.sum0.eq(Mux(s.first0, s.chain_in, add0)), s.first0.eq(0)]
        with m.If(s.chain1_en):
            m.d.sync += [s.sum1.eq(Mux(s.first1, s.chain_in, add1)), s.first1.eq(0)]
        with m.If(s.start):
            m.d.sync += [s.first0.eq(1), s.first1.eq(1)]

        s.scan_x = Signal(32)
        s.scan_ref = Signal(32)
        e16 = self.exp_of(self.sub32(s.scan_x, s.scan_ref, "scan_diff"), "scan_exp")
        s.scan_e16 = e16
        s.scan_e32 = self.cvt(e16, D, F32, "scan_e32")
        s.scan_lane = lane
        s.scan_wanted = Signal()
        if self.sparse:
            m.d.comb += s.scan_wanted.eq(bit_of(s.bitmap, s.scan_tok))
            s.mh = Signal(32)
            s.sh16 = Signal(16)
            s.s_hat = self.mul32(lane, self.cvt(s.sh16, D, F32, "sh32"), "s_hat")
        else:
            m.d.comb += s.scan_wanted.eq(1)

        # the shared reciprocal: 1 / cvt(x, F32, D)
        s.recip_in = Signal(32)
        s.recip16 = self.unit(FloatReciprocal(D), "recip", a=self.cvt(s.recip_in, F32, D, "recip_in"))

    # -- SparF: top-r channels of |q| -------------------------------------------------------
    def top_r(self):
        m, s, p = self.m, self.s, self.p
        D = self.D
        s.r_i = Signal(range(p.head_dim + 1))
        s.have_first = Signal()
        keys = [s.q[j][:15] for j in range(p.head_dim)]
        key_i = select(keys, s.r_i)
        beats = [(keys[j] > key_i) | ((keys[j] == key_i) & (j < s.r_i)) for j in range(p.head_dim)]
        rank = Signal(range(p.head_dim + 1))
        m.d.comb += rank.eq(sum(beats))
        s.r_selected = Signal()
        m.d.comb += s.r_selected.eq(rank < p.top_r)
        s.r_abs32 = self.cvt(key_i, D, F32, "abs_q")
        with m.If(s.start):
            m.d.sync += [s.r_i.eq(0), s.have_first.eq(0)]

    # -- SparF: top-k insertion sorter ------------------------------------------------------
    def sorter(self):
        m, s, p, geo = self.m, self.s, self.p, self.geo
        k = p.top_k
        s.sort_key = [Signal(32, name=f"sort_key{i}") for i in range(k)]
        s.sort_idx = [Signal(geo.token_bits, name=f"sort_idx{i}") for i in range(k)]
        s.sort_v = [Signal(name=f"sort_v{i}") for i in range(k)]
        s.cand_v = Signal()
        s.cand_key = Signal(32)
        s.cand_idx = Signal(geo.token_bits)
        # entries ahead of the candidate: valid with a key >= its key (earlier tokens win ties)
        ahead = [s.sort_v[i] & (s.sort_key[i] >= s.cand_key) for i in range(k)]
        with m.If(s.cand_v):
            for i in range(k):
                here = ~ahead[i] & (ahead[i - 1] if i else 1)
                shift = ~ahead[i] & ~here
                with m.If(here):
                    m.d.sync += [s.sort_key[i].eq(s.cand_key), s.sort_idx[i].eq(s.cand_idx), s.sort_v[i].eq(1)]
                if i:
                    with m.If(shift):
                        m.d.sync += [s.sort_key[i].eq(s.sort_key[i - 1]), s.sort_idx[i].eq(s.sort_idx[i - 1]),
                                     s.sort_v[i].eq(s.sort_v[i - 1])]
        with m.If(s.start):
            m.d.sync += [v.eq(0) for v in s.sort_v]
        s.bm_i = Signal(range(k + 1))

    # -- the phase sequencer ----------------------------------------------------------------
    def sequencer(self):
        m, s = self.m, self.s
        sparse, online = self.sparse, self.online

        self._memory_mux()

        pass_step = [s.pass_b.eq(Mux(s.pass_last, 0, s.pass_b + 1))]
        m.d.comb += [s.enable_a.eq(self.phase_is(RUN_A, RUN_B)),
                     s.enable_b_mean.eq(self.phase_is(RUN_A)),
                     s.enable_b_v.eq(self.phase_is(RUN_B) if online else self.phase_is(VPASS))]
        if not online:
            m.d.comb += s.credit_a.eq(1)

        with m.If(self.phase_is(IDLE)):
            with m.If(s.start):
                if sparse:
                    self.go(TOPR)
                else:
                    m.d.sync += self.start_list_b()
                    self.go(RUN_B)
        if sparse:
            self._sparse_front()
        with m.If(self.phase_is(RUN_B)):
            if online:
                done = (~s.iss_busy & s.order_a_empty & s.order_b_empty & ~s.score_busy &
                        ~s.online_busy & ~s.v_busy)
                with m.If(done):
                    m.d.sync += s.pass_b.eq(0)
                    self.go(NORM)
            else:
                done = s.iss_k_done & s.order_a_empty & ~s.score_busy
                with m.If(done):
                    m.d.sync += [s.scan_on.eq(1), s.scan_t.eq(0)]
                    self.go(SOFTMAX)
        if online:
            with m.If(self.phase_is(NORM)):
                m.d.comb += [s.recip_in.eq(s.l_run), s.r16.eq(s.recip16)]
                m.d.sync += pass_step
                with m.If(s.pass_last):
                    self.go(MIX if sparse else CONVERT)
        else:
            with m.If(self.phase_is(SOFTMAX)):
                m.d.comb += [s.scan_x.eq(s.scan_lane), s.scan_ref.eq(s.m_max),
                             s.chain_in.eq(s.scan_e32), s.chain0_en.eq(s.scan_v & s.scan_wanted)]
                with m.If(s.scan_done):
                    m.d.sync += s.scan_on.eq(0)
                    self.go(RECIP)
            s.r16_reg = Signal(16)
            with m.If(self.phase_is(RECIP)):
                m.d.comb += s.recip_in.eq(s.sum0)
                m.d.sync += s.r16_reg.eq(s.recip16)
                self.go(VPASS)
            m.d.comb += s.r16.eq(s.r16_reg)
            with m.If(self.phase_is(VPASS)):
                with m.If(~s.iss_busy & s.order_b_empty & ~s.v_busy):
                    m.d.sync += s.pass_b.eq(0)
                    self.go(MIX if sparse else CONVERT)
        if sparse:
            with m.If(self.phase_is(MIX)):
                m.d.sync += pass_step
                with m.If(s.pass_last):
                    self.go(CONVERT)
        with m.If(self.phase_is(CONVERT)):
            m.d.sync += pass_step
            with m.If(s.pass_last):
                self.go(OUT)
        with m.If(self.phase_is(OUT) & self.e.o.ready):
            self.go(IDLE)

    def _memory_mux(self):
        m, s = self.m, self.s
        if not self.uses_memory:
            return
        with m.If(s.scan_read[0]):
            m.d.comb += s.rd_addr.eq(s.scan_read[1])
        with m.Elif(s.v_read[0]):
            m.d.comb += s.rd_addr.eq(s.v_read[1])
        if self.sparse:
            with m.Elif(s.cm_read[0]):
                m.d.comb += s.rd_addr.eq(s.cm_read[1])
        # writes: SparF's channel-major sums, two_pass scores, two_pass exps
        lanes = self.p.lanes
        if self.sparse:
            cm_v, cm_word, cm_values = s.cm_write
        score_lane = s.score_token % lanes
        scan_lane = s.scan_tok % lanes
        chain = m.If
        if self.sparse:
            with m.If(cm_v):
                m.d.comb += [s.wr_addr.eq(cm_word), s.wr_en.eq((1 << lanes) - 1)]
                m.d.comb += s.wr_data.eq(Cat(*cm_values))
            chain = m.Elif
        if not self.online:
            with chain(s.score_v):
                m.d.comb += [s.wr_addr.eq(s.score_token // lanes), s.wr_en.eq((Const(1, lanes) << score_lane)[:lanes])]
                m.d.comb += s.wr_data.eq(Cat(*([s.score] * lanes)))
            with m.Elif(self.phase_is(SOFTMAX) & s.scan_v):
                m.d.comb += [s.wr_addr.eq(s.scan_tok // lanes), s.wr_en.eq((Const(1, lanes) << scan_lane)[:lanes])]
                m.d.comb += s.wr_data.eq(Cat(*([s.scan_e16, Const(0, 16)] * lanes)))

    def _sparse_front(self):
        """TOPR -> SCALE1 -> SCALE2 -> RUN_A -> TOPK -> BITMAP -> EXPSCAN -> ALPHA -> RUN_B."""
        m, s, p = self.m, self.s, self.p
        D = self.D
        with m.If(self.phase_is(TOPR)):
            # one channel per cycle: its rank among |q| decides; the sums run in channel order
            m.d.comb += [s.chain_in.eq(s.r_abs32), s.chain0_en.eq(1), s.chain1_en.eq(s.r_selected)]
            with m.If(s.r_selected):
                m.d.sync += s.sel.eq(with_bit(s.sel, s.r_i))
                with m.If(~s.have_first):
                    m.d.sync += [s.have_first.eq(1), s.first_c.eq(s.r_i)]
            m.d.sync += s.r_i.eq(s.r_i + 1)
            with m.If(s.r_i == p.head_dim - 1):
                self.go(SCALE1)
        s.total_recip = Signal(16)
        with m.If(self.phase_is(SCALE1)):
            m.d.comb += s.recip_in.eq(s.sum0)
            m.d.sync += s.total_recip.eq(s.recip16)
            self.go(SCALE2)
        share = self.mul32(s.sum1, self.cvt(s.total_recip, D, F32, "total_recip32"), "share")
        scaled = self.mul32(share, _f32_bits(p.head_dim), "share_d")
        scale_hat = self.unit(FloatInverseSqrt(D), "scale_hat", a=self.cvt(scaled, F32, D, "share_d16"))
        with m.If(self.phase_is(SCALE2)):
            m.d.sync += [s.sh16.eq(scale_hat), s.first0.eq(1), s.first1.eq(1)]
            m.d.sync += self.start_list_a()
            self.go(RUN_A)
        with m.If(self.phase_is(RUN_A)):
            with m.If(~s.iss_busy & s.order_a_empty & s.order_b_empty & ~s.cm_v):
                m.d.sync += [s.scan_on.eq(1), s.scan_t.eq(0)]
                self.go(TOPK)
        m.d.sync += [s.cand_v.eq(self.phase_is(TOPK) & s.scan_v), s.cand_key.eq(order_key(s.s_hat)),
                     s.cand_idx.eq(s.scan_tok)]
        with m.If(self.phase_is(TOPK)):
            with m.If(s.scan_done & ~s.cand_v):
                m.d.sync += [s.scan_on.eq(0), s.bm_i.eq(0), s.mh.eq(key_bits(s.sort_key[0]))]
                self.go(BITMAP)
        with m.If(self.phase_is(BITMAP)):
            index = select(s.sort_idx, s.bm_i)
            with m.If(select(s.sort_v, s.bm_i)):
                m.d.sync += [s.bitmap.eq(with_bit(s.bitmap, index)),
                             s.pagebit.eq(with_bit(s.pagebit, index >> 4))]
            m.d.sync += s.bm_i.eq(s.bm_i + 1)
            with m.If(equals(s.bm_i, p.top_k - 1)):
                m.d.sync += [s.scan_on.eq(1), s.scan_t.eq(0), s.first0.eq(1), s.first1.eq(1)]
                self.go(EXPSCAN)
        with m.If(self.phase_is(EXPSCAN)):
            m.d.comb += [s.scan_x.eq(s.s_hat), s.scan_ref.eq(s.mh), s.chain_in.eq(s.scan_e32),
                         s.chain0_en.eq(s.scan_v), s.chain1_en.eq(s.scan_v & s.scan_wanted)]
            with m.If(s.scan_done):
                m.d.sync += s.scan_on.eq(0)
                self.go(ALPHA)
        alpha32 = self.mul32(s.sum1, self.cvt(s.recip16, D, F32, "den_recip32"), "alpha")
        with m.If(self.phase_is(ALPHA)):
            m.d.comb += s.recip_in.eq(s.sum0)
            m.d.sync += [s.alpha16.eq(self.cvt(alpha32, F32, D, "alpha16")),
                         s.beta16.eq(self.cvt(self.sub32(ONE32, alpha32, "one_minus"), F32, D, "beta16")),
                         s.first0.eq(1), s.first1.eq(1)]
            m.d.sync += self.start_list_b()
            self.go(RUN_B)


def _one_bits(fmt) -> int:
    return fmt.bias << fmt.man_bits


def _f32_bits(value: float) -> int:
    return int(np.float32(value).view(np.uint32))
