"""Side B and the ends of a query: the query register, the V GeMV with its passes over the
output row, and the output port."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import delay, equals, register_copies, select
from ....core.memories import simple_dual_port
from ....numerics.rtl import FloatConverter, FloatFMA, FloatMultiplier
from ..params import KIND_V
from ..pipeline import latencies, output_stages, step, v_spacing
from .common import (F32, Config, Operators, TagLine, beat_layout, lane_of, one_bits,
                     query_layout, strobes, weight_layout, word_lane)


class QueryRegister(wiring.Component):
    """Takes a query while ``accept`` (``start``: one was taken this cycle) and holds q and
    seq_len, with the channel-major blocks that seq_len fills; ``head``: the query's head
    (query i: i mod heads), ``gen``: a bit that flips with every query taken."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        super().__init__({
            "query": In(stream.Signature(query_layout(cfg))),
            "accept": In(1),
            "start": Out(1),
            "q": Out(data.ArrayLayout(16, p.head_dim)),
            "seq_len": Out(geo.seq_bits),
            "cm_used": Out(range(geo.cm_blocks + 1)),
            "head": Out(range(max(2, p.heads))),
            "gen": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        geo = self.cfg.geo
        query = self.query
        m.d.comb += [query.ready.eq(self.accept), self.start.eq(query.valid & query.ready)]
        # (the page counts registered with seq_len: computed from the register, their adders
        # were the online small point's critical path into the page lists, 72.2 MHz)
        seq_len = query.payload.seq_len
        # (the first query taken is head 0)
        next_head = Signal(range(max(2, self.cfg.p.heads)))
        # q and seq_len load in every cycle the register may take a query, whether one comes
        # or not, so that their wide enable does not wait for the stream's valid; the edge
        # that takes one leaves its values (the take into q's enable held the default point
        # to 63.6 MHz)
        with m.If(self.accept):
            m.d.sync += [self.q.eq(query.payload.q), self.seq_len.eq(seq_len),
                         self.cm_used.eq((seq_len + geo.cm_tokens - 1) >> (geo.cm_tokens.bit_length() - 1))]
        with m.If(self.start):
            m.d.sync += [self.head.eq(next_head), self.gen.eq(~self.gen),
                         next_head.eq(Mux(equals(next_head, self.cfg.p.heads - 1), 0, next_head + 1))]
        return m


class VGemv(wiring.Component):
    """Side B: the V GeMV, ``lanes`` fp32 FMAs over an fp32 output row (``row``, ``lanes``
    values a word), ``o[d] = fma32(o[d], scale, p * V[t, d])``: two_pass, scale 1 and
    ``p = e_t * r`` rounded to D (e_t read back from the score memory, r = 1/sum); online, the
    (scale, p) pair of the token (``weights``). SparF takes the V-mean page into a register row
    (``enable_mean``). The passes over the row, a word (``word``) a cycle while ``issue``:
    online NORM (``normalize``), ``o[d] = fma32(o[d], r, +0)``; SparF MIX (``mix``),
    ``o[d] = fma32(o[d], alpha, beta * vmean[d])``.

    Pipelined (``pipeline.v_stages``): a beat's word of the row is read into the FMAs'
    operand registers and written back ``v_spacing`` edges later. The row is token-major, so a
    word comes back every head_dim/lanes beats; where that is fewer than ``v_spacing`` the side
    takes a V beat only once its word's last update has landed (``spaced``). ``busy``: an
    update is in flight."""

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
            "out_read": In(1),
            "out_word": In(range(max(2, B))),
            "out_data": Out(32 * p.lanes),
        }
        if cfg.online or cfg.sparse:
            members |= {"word": In(range(max(2, B))), "issue": In(1)}
        if cfg.online:
            members |= {"weights": In(stream.Signature(weight_layout())), "normalize": In(1)}
        else:
            members |= {"read": Out(strobes(range(geo.score_words))), "rd_data": In(16 * p.lanes)}
        if cfg.sparse:
            members |= {"enable_mean": In(1), "mix": In(1), "alpha": In(16), "beta": In(16)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg, D = self.cfg.p, self.cfg, self.cfg.D
        B = cfg.geo.beats_per_row
        lat = latencies(p.dtype)
        spacing = v_spacing(p.dtype)
        ops = Operators(m, D)
        b = self.beats.payload
        is_v = b.kind == KIND_V
        ok = (b.bpos.any() | self.weights.valid) if cfg.online else 1
        spaced = Signal()       # (below, once the pipeline is built)
        mean_ok = self.enable_mean if cfg.sparse else 0
        m.d.comb += self.beats.ready.eq(Mux(is_v, self.enable_v & (b.marker | (ok & spaced)), mean_ok))
        take = self.beats.valid & self.beats.ready
        take_v = take & ~b.marker & is_v
        if cfg.sparse:
            v_mean = [Signal(16 * p.lanes, name=f"v_mean{w}") for w in range(B)]
            with m.If(take & ~b.marker & ~is_v):
                for w in range(B):
                    with m.If(equals(b.bpos, w)):
                        m.d.sync += v_mean[w].eq(b.payload.as_value())

        # what an update carries down the pipeline: valid, its word, the V elements (or the
        # MIX pass's V mean), p and the scale in D
        op_layout = data.StructLayout({"valid": 1, "beat": 1, "word": range(max(2, B)), "p": 16,
                                       "scale": 16, "vals": data.ArrayLayout(16, p.lanes)})
        line = TagLine(m, op_layout)
        follow = line.follow

        # stage 1: the taken beat (or a pass's word) registered
        first = Signal(op_layout)
        one = Const(int(one_bits(D)), 16)
        m.d.comb += [first.valid.eq(take_v), first.beat.eq(1), first.word.eq(b.bpos),
                     first.vals.eq(b.payload)]
        if cfg.online:
            cur_scale, cur_p = Signal(16), Signal(16)
            first_beat = take_v & equals(b.bpos, 0)
            m.d.comb += self.weights.ready.eq(first_beat)
            with m.If(first_beat):
                m.d.sync += [cur_scale.eq(self.weights.payload.scale), cur_p.eq(self.weights.payload.p)]
            # (a beat's p and scale join it a stage later, from cur_p and cur_scale: the first
            # beat of a token loads them as it is taken, and the token's later beats come
            # after, the next token's first beat after its last)
            with m.If(self.issue & self.normalize):
                m.d.comb += [first.valid.eq(1), first.beat.eq(0), first.word.eq(self.word),
                             first.p.eq(0), first.scale.eq(self.r), first.vals.eq(0)]
        else:
            m.d.comb += [self.read.valid.eq(take_v), self.read.payload.eq(b.token // p.lanes),
                         first.scale.eq(one)]
        if cfg.sparse:
            with m.If(self.issue & self.mix):
                m.d.comb += [first.valid.eq(1), first.beat.eq(0), first.word.eq(self.word),
                             first.p.eq(self.beta), first.scale.eq(self.alpha)]
                m.d.comb += [first.vals[i].eq(word_lane(v_mean, self.word, i, 16)) for i in range(p.lanes)]
        op = follow(first, 1, "v_in")
        if cfg.online:
            with_weights = Signal(op_layout)
            m.d.comb += [with_weights.eq(op), with_weights.p.eq(Mux(op.beat, cur_p, op.p)),
                         with_weights.scale.eq(Mux(op.beat, cur_scale, op.scale))]
            op = with_weights
        else:
            # two_pass: e_t from the score memory's word, then p = e_t * r rounded to D
            token = Signal.like(b.token)
            m.d.sync += token.eq(b.token)
            e_t = Signal(16)
            m.d.sync += e_t.eq(lane_of(self.rd_data, token, p.lanes, width=16))
            op = follow(op, 1, "v_e")
            p_norm = ops.staged(FloatMultiplier(D, latency=lat["mul_d"]), "p_norm", a=e_t, b=self.r)
            op = follow(op, step(lat["mul_d"]), "v_p")
            with_p = Signal(op_layout)     # (a pass's word keeps its own p)
            m.d.comb += [with_p.eq(op), with_p.p.eq(Mux(op.beat, p_norm, op.p))]
            op = with_p

        # the products and the scale in fp32, then the FMAs' operands registered
        products = [ops.staged(FloatMultiplier(D, out_fmt=F32, latency=lat["mul_d"]), "v_mul",
                               a=op.p, b=op.vals[i]) for i in range(p.lanes)]
        scale32 = ops.staged(FloatConverter(D, F32, latency=lat["widen"]), "v_scale", a=op.scale)
        longer = max(step(lat["mul_d"]), step(lat["widen"]))
        products = [delay(m, x, longer - step(lat["mul_d"]), f"v_mul_d{i}") for i, x in enumerate(products)]
        scale32 = delay(m, scale32, longer - step(lat["widen"]), "v_scale_d")
        op = follow(op, longer, "v_prod")
        # The row is a block RAM (a word a read): as registers, the word index fanned out to
        # every row bit's multiplexer (70.4 MHz, 12.1 ns of routing, at the small online point).
        # Its read port serves the V pipeline and, in CONVERT (the pipeline drained), the
        # output port; the word is read, its data registered, beside the other operands. A
        # query's first update of a word adds to +0 (``fresh``), not to what the last query left.
        row_write, row_read = simple_dual_port(m, "row", shape=unsigned(32 * p.lanes), depth=max(2, B))
        m.d.comb += [row_read.addr.eq(Mux(self.out_read, self.out_word, op.word)),
                     self.out_data.eq(row_read.data)]
        fresh = [Signal(init=1, name=f"v_fresh{w}") for w in range(B)]
        first_update = Signal()
        m.d.sync += first_update.eq(select(fresh, op.word))
        products = [delay(m, x, 1, f"v_mul_r{i}") for i, x in enumerate(products)]
        scale32 = delay(m, scale32, 1, "v_scale_r")
        op = follow(op, 1, "v_row_read")
        old = [Signal(32, name=f"v_old{i}") for i in range(p.lanes)]
        product_in = [Signal(32, name=f"v_product{i}") for i in range(p.lanes)]
        m.d.sync += [old[i].eq(Mux(first_update, 0, row_read.data[32 * i:32 * (i + 1)]))
                     for i in range(p.lanes)]
        m.d.sync += [x.eq(y) for x, y in zip(product_in, products)]
        # the scale, one register a lane, kept apart in synthesis (one register feeding every
        # lane's FMA held the defaults to 68.8 MHz: 12.1 ns of routing into a far FMA's
        # unpacking)
        scale_in = register_copies(m, scale32, p.lanes, "v_scale_in")
        op = follow(op, 1, "v_fma_in")

        # the FMAs, their results written into the row
        updated = [ops.unit(FloatFMA(F32, latency=lat["fma32"]), "v_fma", a=old[i], b=scale_in[i],
                            c=product_in[i]) for i in range(p.lanes)]
        op = follow(op, lat["fma32"], "v_fma")
        m.d.comb += [row_write.en.eq(op.valid), row_write.addr.eq(op.word), row_write.data.eq(Cat(*updated))]
        with m.If(op.valid):
            for w in range(B):
                with m.If(equals(op.word, w)):
                    m.d.sync += fresh[w].eq(0)
        # (a cycle after the query's start: its first V beat reaches the fresh bits several
        # stages after it is taken, and a take straight into every fresh bit held the default
        # point to 63.6 MHz)
        started = Signal()
        m.d.sync += started.eq(self.start)
        with m.If(started):
            m.d.sync += [f.eq(1) for f in fresh]
        m.d.comb += self.busy.eq(line.busy())
        # A beat whose word is still being updated waits: its word taken in the last spacing - 1
        # cycles. Only where a row has fewer words than that; otherwise the row's other words
        # always come between.
        if B < spacing:
            m.d.comb += spaced.eq(~line.recent(spacing - 1, lambda stage: stage.word == b.bpos))
        else:
            m.d.comb += spaced.eq(1)
        return m


class OutputPort(wiring.Component):
    """CONVERT (``convert`` while ``issue``): one output word (``word``) per cycle, registered,
    through ``lanes`` fp32 -> D converters into the output register (``pipeline.output_stages``
    edges; ``busy`` while a word is on its way); then ``o`` offers it while ``present``;
    ``sent``: it was taken this cycle."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        B = geo.beats_per_row
        super().__init__({
            "read": Out(1),
            "read_word": Out(range(max(2, B))),
            "row_data": In(32 * p.lanes),
            "word": In(range(max(2, B))),
            "convert": In(1),
            "issue": In(1),
            "busy": Out(1),
            "present": In(1),
            "o": Out(stream.Signature(data.ArrayLayout(16, p.head_dim))),
            "sent": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, B = self.cfg.p, self.cfg.geo.beats_per_row
        lat = latencies(p.dtype)
        ops = Operators(m, self.cfg.D)
        y = Signal(data.ArrayLayout(16, p.head_dim))
        m.d.comb += [self.o.valid.eq(self.present), self.o.payload.eq(y),
                     self.sent.eq(self.o.valid & self.o.ready)]
        tag_layout = data.StructLayout({"valid": 1, "word": range(max(2, B))})
        issued = Signal(tag_layout)
        m.d.comb += [issued.valid.eq(self.convert & self.issue), issued.word.eq(self.word)]
        # the word read from the V GeMV's row (its data comes a cycle later, from the RAM)
        m.d.comb += [self.read.eq(issued.valid), self.read_word.eq(self.word)]
        values = [Signal(32, name=f"out_value{i}") for i in range(p.lanes)]
        m.d.sync += [values[i].eq(self.row_data[32 * i:32 * (i + 1)]) for i in range(p.lanes)]
        # (the conversions registered before the output register: their last stage straight
        # into it, spread over head_dim x 16 flip-flops, held the two_pass small point to
        # 73.7 MHz)
        converted = [ops.staged(FloatConverter(F32, self.cfg.D, latency=lat["narrow"]), "out_cvt",
                                a=values[i]) for i in range(p.lanes)]
        line = TagLine(m, tag_layout)
        tag = line.follow(issued, output_stages(p.dtype), "out_tag")
        with m.If(tag.valid):
            for b in range(B):
                with m.If(equals(tag.word, b)):
                    m.d.sync += [y[b * p.lanes + i].eq(converted[i]) for i in range(p.lanes)]
        m.d.comb += self.busy.eq(line.busy())
        return m
