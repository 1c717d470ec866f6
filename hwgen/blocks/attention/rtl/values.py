"""Side B and the ends of a query: the query register, the V GeMV with its passes over the
output row, and the output port."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import equals
from ....numerics.rtl import FloatFMA, FloatMultiplier
from ..params import KIND_V, PAGE_TOKENS
from .common import (F32, Config, Operators, beat_layout, lane_of, one_bits, query_layout, strobes,
                     weight_layout, word_lane)


class QueryRegister(wiring.Component):
    """Takes a query while ``accept`` (``start``: one was taken this cycle) and holds q and
    seq_len, with the token pages and channel-major blocks that seq_len fills."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        super().__init__({
            "query": In(stream.Signature(query_layout(cfg))),
            "accept": In(1),
            "start": Out(1),
            "q": Out(data.ArrayLayout(16, p.head_dim)),
            "seq_len": Out(geo.seq_bits),
            "pages_used": Out(geo.token_bits + 1),
            "cm_used": Out(range(geo.cm_blocks + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.cfg.geo
        query = self.query
        m.d.comb += [query.ready.eq(self.accept), self.start.eq(query.valid & query.ready)]
        with m.If(self.start):
            m.d.sync += [self.q.eq(query.payload.q), self.seq_len.eq(query.payload.seq_len)]
        m.d.comb += [self.pages_used.eq((self.seq_len + PAGE_TOKENS - 1) >> 4),
                     self.cm_used.eq((self.seq_len + geo.cm_tokens - 1) >> (geo.cm_tokens.bit_length() - 1))]
        return m


class VGemv(wiring.Component):
    """Side B: the V GeMV, ``lanes`` fp32 FMAs over an fp32 output row (``row``, ``lanes``
    values a word), ``o[d] = fma32(o[d], scale, p * V[t, d])``: two_pass, scale 1 and
    ``p = e_t * r`` rounded to D (e_t read back from the score memory, r = 1/sum); online, the
    (scale, p) pair of the token (``weights``). SparF takes the V-mean page into a register row
    (``enable_mean``). The passes over the row, a word (``word``) a cycle: online NORM
    (``normalize``), ``o[d] = fma32(o[d], r, +0)``; SparF MIX (``mix``),
    ``o[d] = fma32(o[d], alpha, beta * vmean[d])``."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        B = geo.beats_per_row
        members = {
            "beats": In(stream.Signature(beat_layout(cfg))),
            "enable_v": In(1),
            "start": In(1),
            "r": In(16),
            "busy": Out(1),
            "row": Out(32 * p.lanes).array(B),
        }
        if cfg.online or cfg.sparse:
            members["word"] = In(range(max(2, B)))
        if cfg.online:
            members |= {"weights": In(stream.Signature(weight_layout())), "normalize": In(1)}
        else:
            members |= {"read": Out(strobes(range(geo.score_words))), "rd_data": In(32 * p.lanes)}
        if cfg.sparse:
            members |= {"enable_mean": In(1), "mix": In(1), "alpha": In(16), "beta": In(16)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg, D = self.cfg.p, self.cfg, self.cfg.D
        B = cfg.geo.beats_per_row
        ops = Operators(m, D)
        b = self.beats.payload
        is_v = b.kind == KIND_V
        ok = (b.bpos.any() | self.weights.valid) if cfg.online else 1
        mean_ok = self.enable_mean if cfg.sparse else 0
        m.d.comb += self.beats.ready.eq(Mux(is_v, self.enable_v & (b.marker | ok), mean_ok))
        take = self.beats.valid & self.beats.ready
        take_v = take & ~b.marker & is_v
        if cfg.sparse:
            v_mean = [Signal(16 * p.lanes, name=f"v_mean{w}") for w in range(B)]
            with m.If(take & ~b.marker & ~is_v):
                for w in range(B):
                    with m.If(equals(b.bpos, w)):
                        m.d.sync += v_mean[w].eq(b.payload.as_value())

        # stage 0 -> 1 registers of a taken V beat
        v_v = Signal()
        v_word = Signal(range(max(2, B)))
        v_vals = Signal(data.ArrayLayout(16, p.lanes))
        v_token = Signal.like(b.token)
        m.d.sync += [v_v.eq(take_v), v_word.eq(b.bpos), v_vals.eq(b.payload), v_token.eq(b.token)]
        m.d.comb += self.busy.eq(v_v)
        if cfg.online:
            cur_scale, cur_p = Signal(16), Signal(16)
            first_beat = take_v & equals(b.bpos, 0)
            m.d.comb += self.weights.ready.eq(first_beat)
            with m.If(first_beat):
                m.d.sync += [cur_scale.eq(self.weights.payload.scale), cur_p.eq(self.weights.payload.p)]
            beat_p, beat_scale16 = cur_p, cur_scale
        else:
            m.d.comb += [self.read.valid.eq(take_v), self.read.payload.eq(b.token // p.lanes)]
            e_t = lane_of(self.rd_data, v_token, p.lanes)[:16]
            beat_p = ops.unit(FloatMultiplier(D), "p_norm", a=e_t, b=self.r)
            beat_scale16 = Const(int(one_bits(D)), 16)

        # the FMAs' operands: a V beat, else a word of the NORM or MIX pass
        p_in = Signal(16)
        scale_in = Signal(16)
        vals_in = Signal(data.ArrayLayout(16, p.lanes))
        word_in = Signal(range(max(2, B)))
        fire = Signal()
        with m.If(v_v):
            m.d.comb += [p_in.eq(beat_p), scale_in.eq(beat_scale16), vals_in.eq(v_vals),
                         word_in.eq(v_word), fire.eq(1)]
        if cfg.online:
            with m.Elif(self.normalize):
                m.d.comb += [p_in.eq(0), scale_in.eq(self.r), vals_in.eq(0), word_in.eq(self.word), fire.eq(1)]
        if cfg.sparse:
            with m.Elif(self.mix):
                m.d.comb += [p_in.eq(self.beta), scale_in.eq(self.alpha), word_in.eq(self.word), fire.eq(1)]
                m.d.comb += [vals_in[i].eq(word_lane(v_mean, self.word, i, 16)) for i in range(p.lanes)]
        scale32 = ops.cvt(scale_in, D, F32, "v_scale")
        for i in range(p.lanes):
            product = ops.mulw(p_in, vals_in[i], "v_mul")
            updated = ops.unit(FloatFMA(F32), "v_fma", a=word_lane(self.row, word_in, i),
                               b=scale32, c=product)
            with m.If(fire):
                for w in range(B):
                    with m.If(equals(word_in, w)):
                        m.d.sync += self.row[w][32 * i:32 * (i + 1)].eq(updated)
        with m.If(self.start):
            m.d.sync += [w.eq(0) for w in self.row]
        return m


class OutputPort(wiring.Component):
    """CONVERT (``convert``): one output word (``word``) per cycle through ``lanes`` fp32 -> D
    converters into the output register; then ``o`` offers it while ``present``; ``sent``: it
    was taken this cycle."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        B = geo.beats_per_row
        super().__init__({
            "row": In(32 * p.lanes).array(B),
            "word": In(range(max(2, B))),
            "convert": In(1),
            "present": In(1),
            "o": Out(stream.Signature(data.ArrayLayout(16, p.head_dim))),
            "sent": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, B = self.cfg.p, self.cfg.geo.beats_per_row
        ops = Operators(m, self.cfg.D)
        y = Signal(data.ArrayLayout(16, p.head_dim))
        m.d.comb += [self.o.valid.eq(self.present), self.o.payload.eq(y),
                     self.sent.eq(self.o.valid & self.o.ready)]
        converted = [ops.cvt(word_lane(self.row, self.word, i), F32, self.cfg.D, "out_cvt")
                     for i in range(p.lanes)]
        with m.If(self.convert):
            for b in range(B):
                with m.If(equals(self.word, b)):
                    m.d.sync += [y[b * p.lanes + i].eq(converted[i]) for i in range(p.lanes)]
        return m
