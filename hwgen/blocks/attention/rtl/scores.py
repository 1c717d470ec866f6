"""Side A and what holds its results: the score GeMV, SparF's channel-major accumulation, the
score memory (two_pass, SparF) and the online softmax (online)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import SyncFIFO, delay, equals, select
from ....core.memories import simple_dual_port
from ....numerics.rtl import FloatAdder, FloatConverter, FloatExp, FloatFMA, FloatMinMax, FloatMultiplier
from ..params import KIND_CM, KIND_K, SCORE_FIFO_DEPTH
from ..pipeline import (cm_stages, latencies, levels, online_spacing, online_stages, score_stages,
                        step, weight_fifo_depth)
from .common import (F32, NEG_INF32, Config, Operators, TagLine, beat_layout, c_d, strobes,
                     recent_words_layout, token_value_layout, weight_layout, word_write_layout)


def cm_layout(cfg: Config):
    """A channel-major beat: ``lanes`` tokens of channel ``c``, for score word ``word``."""
    return data.StructLayout({"values": data.ArrayLayout(16, cfg.p.lanes), "c": range(cfg.p.head_dim),
                              "word": range(max(2, cfg.geo.score_words))})


class ScoreGemv(wiring.Component):
    """Side A: the score GeMV, one K beat a cycle, a score (``scores``) every head_dim/lanes
    cycles: the beat and its q elements registered; ``lanes`` exact products; a pairwise fp32
    tree over them (the beat sum); a serial pairwise tree over the row's beat sums, whose
    level k adds pair i when its second element arrives (so the row's order is one pairwise
    tree over all head_dim products, with no loop: back-to-back rows never wait); then
    ``s = sum * 1/sqrt(head_dim)``. Every operator at ``pipeline.latencies``; a row's score is
    registered ``pipeline.score_stages`` edges after its last beat was taken. two_pass keeps
    the running max of the pass (``max``). online takes a K beat only with ``credit`` (room in
    the score FIFO for every row in flight, ``inflight``). SparF's channel-major beats go on to
    ``cm``."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p = cfg.p
        self.stages = score_stages(p.dtype, p.lanes, p.head_dim)
        members = {
            "beats": In(stream.Signature(beat_layout(cfg))),
            "q": In(data.ArrayLayout(16, p.head_dim)),
            "enable": In(1),
            "scores": Out(strobes(token_value_layout(cfg))),
            "busy": Out(1),
        }
        if cfg.online:
            members["credit"] = In(1)
            members["inflight"] = Out(range(SCORE_FIFO_DEPTH + self.stages + 2))
        else:
            members["start"] = In(1)
            members["max"] = Out(32, init=NEG_INF32)
        if cfg.sparse:
            members["cm"] = Out(strobes(cm_layout(cfg)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg = self.cfg.p, self.cfg
        B = cfg.geo.beats_per_row
        lat = latencies(p.dtype)
        ops = Operators(m, cfg.D)
        a = self.beats.payload
        # (a channel-major beat whose word's update is in flight is held back by the consumer:
        # ``flash.Consumers``, ``recent``)
        ok = a.marker | self.credit if cfg.online else Const(1)
        m.d.comb += self.beats.ready.eq(self.enable & ok)
        take = self.beats.valid & self.beats.ready
        take_k = take & ~a.marker & equals(a.kind, KIND_K)
        row_done = take_k & equals(a.bpos, B - 1)

        # a value with what travels beside it: valid, its index in the row at this level (the
        # beat at the first), its token
        tag_layout = data.StructLayout({"valid": 1, "index": range(max(2, B)), "token": len(a.token)})
        # the beat registered, then its q elements chosen by its position and registered beside
        # it (the consumer's choice of channel, into the beat's position, into the choice of
        # q's word, in one cycle held the defaults to 60.2 MHz: 14.4 ns of routing)
        q_words = [Cat(*(self.q[b * p.lanes + i] for i in range(p.lanes))) for b in range(B)]
        arrived = Signal(tag_layout)
        m.d.comb += [arrived.valid.eq(take_k), arrived.index.eq(a.bpos), arrived.token.eq(a.token)]
        line = TagLine(m, tag_layout)
        follow = line.follow
        beat = follow(arrived, 1, "k_beat")
        k_beat = Signal(data.ArrayLayout(16, p.lanes))
        k_in, q_in = Signal(data.ArrayLayout(16, p.lanes)), Signal(data.ArrayLayout(16, p.lanes))
        m.d.sync += [k_beat.eq(a.payload), k_in.eq(k_beat), q_in.eq(select(q_words, beat.index))]
        tag = follow(beat, 1, "tag_in")

        # the products and the beat's tree
        values = [ops.staged(FloatMultiplier(cfg.D, out_fmt=F32, latency=lat["mul_d"]), "k_mul",
                             a=q_in[i], b=k_in[i]) for i in range(p.lanes)]
        tag = follow(tag, step(lat["mul_d"]), "k_mul")
        while len(values) > 1:
            values = [ops.staged(FloatAdder(F32, latency=lat["add32"]), "k_tree", a=values[i],
                                 b=values[i + 1]) for i in range(0, len(values), 2)]
            tag = follow(tag, step(lat["add32"]), "k_tree")
        value = values[0]

        # the serial tree over the row's beat sums: level k holds element 2i until 2i + 1 comes
        for level in range(levels(B)):
            held = Signal(32, name=f"row_held{level}")
            with m.If(tag.valid & ~tag.index[0]):
                m.d.sync += held.eq(value)
            pair = Signal(tag_layout, name=f"row_pair{level}")
            m.d.comb += [pair.valid.eq(tag.valid & tag.index[0]), pair.index.eq(tag.index >> 1),
                         pair.token.eq(tag.token)]
            value = ops.staged(FloatAdder(F32, latency=lat["add32"]), "row_tree", a=held, b=value)
            tag = follow(pair, step(lat["add32"]), f"row{level}")

        score = ops.staged(FloatMultiplier(F32, latency=lat["mul32"]), "score_scale", a=value,
                           b=Const(c_d(p.head_dim), 32))
        tag = follow(tag, step(lat["mul32"]), "score")
        out = self.scores
        m.d.comb += [out.valid.eq(tag.valid), out.payload.value.eq(score), out.payload.token.eq(tag.token)]
        m.d.comb += self.busy.eq(line.busy())

        if cfg.online:
            m.d.sync += self.inflight.eq(self.inflight + row_done - out.valid)
        else:
            # two_pass: the scores go to memory; the running max is the pass's max.
            new_max = ops.unit(FloatMinMax(F32, op="max"), "score_max", a=self.max, b=out.payload.value)
            with m.If(out.valid):
                m.d.sync += self.max.eq(new_max)
            with m.If(self.start):
                m.d.sync += self.max.eq(NEG_INF32)

        if cfg.sparse:
            m.d.comb += [self.cm.valid.eq(take & ~a.marker & (a.kind == KIND_CM)),
                         self.cm.payload.values.eq(a.payload), self.cm.payload.c.eq(a.c),
                         self.cm.payload.word.eq(a.word)]
        return m


class ChannelMajor(wiring.Component):
    """SparF: products of q[c] and lanes tokens of channel c, added into the score memory, a
    pipelined read-modify-write (``pipeline.cm_stages``): the beat and q[c] registered; the
    products; the word's read, issued so that its data, registered, meets them; the fp32
    sums, written back. The first selected channel (``first_c``) adds to -0 (its products
    as they are). Two beats of one word must be ``spacing`` cycles apart, so a read never
    meets a write in flight: ``recent`` lists the words taken in the last ``spacing - 1``
    cycles, against which side A's consumer holds back a beat of one (each channel's beat
    compared at once, before the consumer's choice of channel: the chosen beat's word against
    these stages, into the take, held the SparF small point to 57.4 MHz)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        super().__init__({
            "beats": In(strobes(cm_layout(cfg))),
            "q": In(data.ArrayLayout(16, p.head_dim)),
            "first_c": In(range(p.head_dim)),
            "recent": Out(recent_words_layout(cfg)),
            "read": Out(strobes(range(geo.score_words))),
            "rd_data": In(32 * p.lanes),
            "write": Out(strobes(word_write_layout(cfg))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, cfg = self.cfg.p, self.cfg
        lat = latencies(p.dtype)
        stage = cm_stages(p.dtype)
        ops = Operators(m, cfg.D)
        beat = self.beats.payload
        tag_layout = data.StructLayout({"valid": 1, "word": range(max(2, cfg.geo.score_words)), "first": 1})
        arrived = Signal(tag_layout)
        m.d.comb += [arrived.valid.eq(self.beats.valid), arrived.word.eq(beat.word),
                     arrived.first.eq(beat.c == self.first_c)]
        line = TagLine(m, tag_layout)
        tag = line.follow(arrived, 1, "cm_in")
        q_c, values = Signal(16), Signal.like(beat.values)
        m.d.sync += [q_c.eq(select((self.q[i] for i in range(p.head_dim)), beat.c)), values.eq(beat.values)]
        products = [ops.staged(FloatMultiplier(cfg.D, out_fmt=F32, latency=lat["mul_d"]), "cm_mul",
                               a=q_c, b=values[i]) for i in range(p.lanes)]
        tag = line.follow(tag, stage["read"] - 1, "cm_product")
        m.d.comb += [self.read.valid.eq(tag.valid), self.read.payload.eq(tag.word)]
        tag = line.follow(tag, 1, "cm_read")
        old = Signal(32 * p.lanes)
        m.d.sync += old.eq(self.rd_data)
        tag = line.follow(tag, 1, "cm_old")
        minus_zero = Const(0x80000000, 32)
        sums = [ops.staged(FloatAdder(F32, latency=lat["add32"]), "cm_add",
                           a=Mux(tag.first, minus_zero, old[32 * i:32 * (i + 1)]), b=products[i])
                for i in range(p.lanes)]
        tag = line.follow(tag, step(lat["add32"]), "cm_sum")
        m.d.comb += [self.write.valid.eq(tag.valid), self.write.payload.addr.eq(tag.word),
                     self.write.payload.mask.eq((1 << p.lanes) - 1), self.write.payload.data.eq(Cat(*sums)),
                     self.busy.eq(line.busy())]
        m.d.comb += [self.recent[k].eq(Cat(line.stages[k].valid, line.stages[k].word))
                     for k in range(stage["spacing"] - 1)]
        return m


class ScoreMemory(wiring.Component):
    """fp32 values, ``lanes`` per word: the exact scores (two_pass), SparF's approximate-score
    sums. Online dense attention has none: that is its point. No read meets a write of its
    word (the scans read while nothing writes; the channel-major read-modify-write spaces its
    beats), so the memory is a plain simple dual-port block RAM
    (``hwgen.core.memories.simple_dual_port``).

    Requests, each list in priority order: ``reads`` (the word comes back in ``rd_data`` the
    next cycle), ``words`` (whole-word writes) before ``tokens`` (one value at its token's
    lane). ``lane_bits``: 32 (fp32 values) or 16 (D values: the exp memory)."""

    def __init__(self, cfg: Config, *, reads: int, words: int, tokens: int, lane_bits: int = 32):
        self.cfg, self.lane_bits = cfg, lane_bits
        p, geo = cfg.p, cfg.geo
        super().__init__({
            "reads": In(strobes(range(geo.score_words))).array(reads),
            "words": In(strobes(word_write_layout(cfg))).array(words),
            "tokens": In(strobes(token_value_layout(cfg))).array(tokens),
            "rd_data": Out(lane_bits * p.lanes),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, bits = self.cfg.p.lanes, self.lane_bits
        write, read = simple_dual_port(m, "values", shape=unsigned(bits * lanes),
                                       depth=max(2, self.cfg.geo.score_words), granularity=bits)
        m.d.comb += self.rd_data.eq(read.data)

        when = m.If
        for request in self.reads:
            with when(request.valid):
                m.d.comb += read.addr.eq(request.payload)
            when = m.Elif
        writes = [(w.valid, w.payload.addr, w.payload.mask, w.payload.data) for w in self.words]
        writes += [(t.valid, t.payload.token // lanes, (Const(1, lanes) << t.payload.token % lanes)[:lanes],
                    Cat(*([t.payload.value[:bits]] * lanes))) for t in self.tokens]
        when = m.If
        for valid, addr, mask, value in writes:
            with when(valid):
                m.d.comb += [write.addr.eq(addr), write.en.eq(mask), write.data.eq(value)]
            when = m.Elif
        return m


class OnlineSoftmax(wiring.Component):
    """online: the scores' FIFO (``SCORE_FIFO_DEPTH``; ``credit`` while it has room for every
    row in flight), then a pipeline per token (``pipeline.online_stages``): m' = max(m, s)
    (the running max, a one-cycle loop), the differences m - m' and s - m', each rounded to D,
    scale = exp(m - m') and p = exp(s - m'), both in fp32 into l = fma32(l, scale, p); the
    edge that writes l writes the (scale, p) pair into the weight FIFO for the V side
    (``weights``). l's FMA is a loop, so scores are taken ``pipeline.online_spacing`` edges
    apart at least, and only while the pairs in flight and the FIFO's fill leave room in it."""

    def __init__(self, cfg: Config, inflight_shape):
        self.cfg = cfg
        super().__init__({
            "scores": In(strobes(token_value_layout(cfg))),
            "inflight": In(inflight_shape),
            "credit": Out(1),
            "weights": Out(stream.Signature(weight_layout())),
            "start": In(1),
            "l": Out(32),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        D, dtype = self.cfg.D, self.cfg.p.dtype
        lat = latencies(dtype)
        stages, spacing, depth = online_stages(dtype), online_spacing(dtype), weight_fifo_depth(dtype)
        ops = Operators(m, D)
        m.submodules.score_fifo = scores = SyncFIFO(width=32, depth=SCORE_FIFO_DEPTH)
        m.d.comb += [scores.w_data.eq(self.scores.payload.value), scores.w_en.eq(self.scores.valid)]
        m.d.comb += self.credit.eq(scores.level + self.inflight < SCORE_FIFO_DEPTH)
        m.submodules.weight_fifo = weights = SyncFIFO(width=2 * 16, depth=depth)
        wiring.connect(m, weights.r_stream, wiring.flipped(self.weights))

        # taking a score: spaced for l's loop, and room for its pair when it arrives
        in_flight = Signal(range(stages + 1))
        valid = [Signal(name=f"online_valid{k}") for k in range(1, stages + 1)]   # stage k + 1
        take = Signal()
        recent = Cat(*valid[:spacing - 1]).any()    # a score taken in the last spacing - 1 cycles
        m.d.comb += take.eq(scores.r_rdy & ~recent & (in_flight + weights.level < depth))
        m.d.comb += scores.r_en.eq(take)
        m.d.sync += in_flight.eq(in_flight + take - valid[-1])
        m.d.sync += [valid[0].eq(take)] + [v.eq(prev) for v, prev in zip(valid[1:], valid)]

        # the running max and the two differences
        m_run = Signal(32, init=NEG_INF32)
        s, m_old, m_new = Signal(32), Signal(32), Signal(32)
        m2 = ops.unit(FloatMinMax(F32, op="max"), "online_max", a=m_run, b=scores.r_data)
        with m.If(take):
            m.d.sync += m_run.eq(m2)
        m.d.sync += [s.eq(scores.r_data), m_old.eq(m_run), m_new.eq(m2)]
        d_old = ops.staged(FloatAdder(F32, subtract=True, latency=lat["add32"]), "online_d_old",
                           a=m_old, b=m_new)
        d_new = ops.staged(FloatAdder(F32, subtract=True, latency=lat["add32"]), "online_d_new",
                           a=s, b=m_new)
        # the exps in D, then in fp32 for l
        narrow = [ops.staged(FloatConverter(F32, D, latency=lat["narrow"]), "online_d16", a=d)
                  for d in (d_old, d_new)]
        scale, weight = [ops.staged(FloatExp(D, latency=lat["exp"]), "online_exp", a=d) for d in narrow]
        scale32, weight32 = [ops.staged(FloatConverter(D, F32, latency=lat["widen"]), "online_e32", a=e)
                             for e in (scale, weight)]
        pair = delay(m, Cat(scale, weight), step(lat["widen"]) + lat["fma32"], "online_pair")
        l_next = ops.unit(FloatFMA(F32, latency=lat["fma32"]), "online_l", a=self.l, b=scale32,
                          c=weight32)
        m.d.comb += [weights.w_en.eq(valid[-1]), weights.w_data.eq(pair)]
        with m.If(valid[-1]):
            m.d.sync += self.l.eq(l_next)
        m.d.comb += self.busy.eq(Cat(*valid).any() | scores.r_rdy | weights.r_rdy | self.inflight.any())
        with m.If(self.start):
            m.d.sync += [m_run.eq(NEG_INF32), self.l.eq(0)]
        return m
