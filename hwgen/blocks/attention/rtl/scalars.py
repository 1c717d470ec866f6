"""The scalar units: the token scans over the score memory with their exps and sums, the
shared reciprocal, and SparF's top-r channel ranking, top-k sorter and scale factors."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import delay, equals, select
from ....numerics.rtl import (FloatAccumulator, FloatAdder, FloatConverter, FloatExp, FloatInverseSqrt,
                              FloatMultiplier, FloatReciprocal)
from ..params import PAGE_TOKENS
from ..pipeline import latencies, levels, scan_stages
from .common import (F32, ONE32, Config, Operators, TagLine, bit_of, candidate_layout, f32_bits,
                     key_bits, lane_of, order_key, rank_layout, strobes, token_value_layout, with_bit)


class Scans(wiring.Component):
    """Token scans over the score memory (``begin`` to ``end``), one token issued per cycle,
    pipelined (``pipeline.scan_stages``): the token's score-memory read, its fp32 value
    registered, then ``exp(cvt(x - ref))`` in D, then in fp32 into the sums. Each sum is an
    interleaved accumulator (``FloatAccumulator``: the order of ``golden._sum32``); a token
    a sum leaves out adds -0 in its place, so every scan token takes its slot. ``done``: the
    scan is issued, its pipeline empty, and its sums (if it makes any) held.

    * two_pass SOFTMAX (``softmax``): x = s_t, ref = the pass's max; the exp goes back to the
      memory (``exps``), sum0 adds the kept tokens' exps (SparF: the ``bitmap``'s);
    * SparF TOPR (``ranking``, no scan): a channel a cycle from TopR (``ranks``), sum0 adds
      every |q_i| (``abs_q``), sum1 the selected ones, the last channel ends them;
      ``sums_ready`` then says both are held;
    * SparF TOPK: x = ``s_hat`` = value * scale_hat with its token (``candidates``), for the
      sorter;
    * SparF EXPSCAN (``exp_sums``): x = s_hat_t, ref = the top score; sum0 adds every exp,
      sum1 the selected tokens'."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        members = {
            "start": In(1),
            "seq_len": In(geo.seq_bits),
            "begin": In(1),
            "end": In(1),
            "read": Out(strobes(range(geo.score_words))),
            "rd_data": In(32 * p.lanes),
            "done": Out(1),
            "sum0": Out(32),
        }
        if not cfg.online:
            members |= {"softmax": In(1), "max": In(32), "exps": Out(strobes(token_value_layout(cfg)))}
        if cfg.sparse:
            members |= {"ranking": In(1), "ranks": In(strobes(rank_layout())),
                        "sums_ready": Out(1), "exp_sums": In(1),
                        "max_hat": In(32), "scale_hat": In(16), "bitmap": In(p.max_seq_len),
                        "candidates": Out(strobes(candidate_layout(cfg))), "sum1": Out(32)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        p, cfg, D = self.cfg.p, self.cfg, self.cfg.D
        lat = latencies(p.dtype)
        stage = scan_stages(p.dtype, cfg.sparse)
        ops = Operators(m, D)
        # the scan: a read a cycle while on, its data a cycle later
        t = Signal(range(p.max_seq_len + 1))
        on = Signal()
        issuing = on & (t < self.seq_len)
        fields = {"valid": 1, "token": range(p.max_seq_len), "last": 1}
        if cfg.sparse:
            fields["wanted"] = 1        # the bitmap keeps the token (set at stage 2)
        tag_layout = data.StructLayout(fields)
        issued = Signal(tag_layout)
        m.d.comb += [issued.valid.eq(issuing), issued.token.eq(t), issued.last.eq(t == self.seq_len - 1),
                     self.read.valid.eq(issuing), self.read.payload.eq(t // p.lanes)]
        with m.If(issuing):
            m.d.sync += t.eq(t + 1)
        with m.If(self.end):
            m.d.sync += on.eq(0)
        with m.If(self.begin):
            m.d.sync += [on.eq(1), t.eq(0)]
        line = TagLine(m, tag_layout)
        tag = line.follow(issued, 1, "scan_read")
        lane = Signal(32)
        m.d.sync += lane.eq(lane_of(self.rd_data, tag.token, p.lanes))
        if cfg.sparse:
            # whether the bitmap keeps the token: its page's 16 bits registered here, the bit
            # picked a stage later and carried in the tag (no max_seq_len-way choice in one
            # cycle; read a stage in, after BITMAP's last bit has landed)
            page_mask = Signal(PAGE_TOKENS)
            words = [self.bitmap[PAGE_TOKENS * w:PAGE_TOKENS * (w + 1)]
                     for w in range(cfg.geo.token_pages)]
            m.d.sync += page_mask.eq(select(words, tag.token >> 4))
        tag = line.follow(tag, 1, "scan_lane")
        if cfg.sparse:
            kept = Signal(tag_layout)
            m.d.comb += [kept.eq(tag), kept.wanted.eq(bit_of(page_mask, tag.token[:4]))]
            tag = kept
        tag = line.follow(tag, stage["lane"] - 2, "scan_lane_more")
        if cfg.sparse:
            # scale_hat in fp32, registered (it is held from SCALE2 on; its conversion straight
            # into the multiplier was the SparF small point's critical path, 57.4 MHz)
            scale32 = Signal(32)
            m.d.sync += scale32.eq(ops.cvt(self.scale_hat, D, F32, "sh32"))
            s_hat = ops.staged(FloatMultiplier(F32, latency=lat["mul32"]), "s_hat", a=lane, b=scale32)
            lane = delay(m, lane, stage["x"] - stage["lane"], "scan_value")
            tag = line.follow(tag, stage["x"] - stage["lane"], "scan_s_hat")
            m.d.comb += [self.candidates.valid.eq(tag.valid), self.candidates.payload.token.eq(tag.token),
                         self.candidates.payload.s_hat.eq(s_hat)]

        # exp(cvt(x - ref)) in D, then in fp32
        x, ref = Signal(32), Signal(32)
        if not cfg.online:
            with m.If(self.softmax):
                m.d.comb += [x.eq(lane), ref.eq(self.max)]
        if cfg.sparse:
            with m.If(self.exp_sums):
                m.d.comb += [x.eq(s_hat), ref.eq(self.max_hat)]
        # (x and ref registered: the phase's choice of them, straight into the subtractor, was
        # the two_pass small point's critical path, 74.8 MHz)
        x_reg, ref_reg = Signal(32), Signal(32)
        m.d.sync += [x_reg.eq(x), ref_reg.eq(ref)]
        diff = ops.staged(FloatAdder(F32, subtract=True, latency=lat["add32"]), "scan_diff",
                          a=x_reg, b=ref_reg)
        narrow = ops.staged(FloatConverter(F32, D, latency=lat["narrow"]), "scan_d16", a=diff)
        e16 = ops.staged(FloatExp(D, latency=lat["exp"]), "scan_exp", a=narrow)
        tag = line.follow(tag, stage["exp"] - stage["x"], "scan_e")
        if not cfg.online:
            m.d.comb += [self.exps.valid.eq(self.softmax & tag.valid), self.exps.payload.token.eq(tag.token),
                         self.exps.payload.value.eq(Cat(e16, Const(0, 16)))]
        e32 = ops.staged(FloatConverter(D, F32, latency=lat["widen"]), "scan_e32", a=e16)
        tag = line.follow(tag, stage["sum"] - stage["exp"], "scan_sum")
        wanted = tag.wanted if cfg.sparse else Const(1)

        # the sums: what each adds in this cycle (-0 for a token it leaves out)
        minus_zero = Const(0x80000000, 32)
        sums = [self.sum0, self.sum1] if cfg.sparse else [self.sum0]
        values = [Signal(32, name=f"sum{k}_in") for k in range(len(sums))]
        valid, last = Signal(), Signal()
        m.d.comb += [valid.eq(tag.valid), last.eq(tag.last)]
        if not cfg.online:
            with m.If(self.softmax):
                m.d.comb += values[0].eq(Mux(wanted, e32, minus_zero))
        if cfg.sparse:
            with m.If(self.exp_sums):
                m.d.comb += [values[0].eq(e32), values[1].eq(Mux(wanted, e32, minus_zero))]
            with m.If(self.ranking):
                rank = self.ranks.payload
                m.d.comb += [values[0].eq(rank.abs_q), values[1].eq(Mux(rank.selected, rank.abs_q, minus_zero)),
                             valid.eq(self.ranks.valid), last.eq(rank.last)]
        # the scans that sum (the others, TOPK's, leave the accumulators alone)
        scan_sums = Cat(*([] if cfg.online else [self.softmax]) + ([self.exp_sums] if cfg.sparse else [])).any()
        summing = scan_sums | self.ranking if cfg.sparse else scan_sums
        held = Signal()     # the sums are held
        for k, (total, value) in enumerate(zip(sums, values)):
            m.submodules[f"sum{k}"] = acc = FloatAccumulator(F32, adder_latency=lat["accumulate"])
            m.d.comb += [acc.x.eq(value), acc.x_valid.eq(valid & summing), acc.last.eq(last)]
            with m.If(acc.y_valid):
                m.d.sync += total.eq(acc.y)
                if k == 0:      # (the sums end together)
                    m.d.sync += held.eq(1)
        with m.If(self.start | self.begin):
            m.d.sync += held.eq(0)
        m.d.comb += self.done.eq(on & ~issuing & ~line.busy() & (held | ~scan_sums))
        if cfg.sparse:
            m.d.comb += self.sums_ready.eq(held)
        return m


class Reciprocal(wiring.Component):
    """The shared reciprocal, 1 / cvt(x, F32, D), pipelined (``pipeline.recip_stages``): of the
    exp sum ``sum`` (two_pass RECIP, SparF SCALE1 and ALPHA), or online of ``l`` (its RECIP,
    ``of_l``). ``y`` is right ``recip_stages`` cycles after x settles; ``hold`` keeps it in
    ``held`` (for the V pass or NORM)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        members = {"y": Out(16), "hold": In(1), "held": Out(16)}
        if cfg.uses_memory:
            members["sum"] = In(32)
        if cfg.online:
            members |= {"l": In(32), "of_l": In(1)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg, D = self.cfg, self.cfg.D
        lat = latencies(cfg.p.dtype)
        ops = Operators(m, D)
        x = Signal(32)
        if cfg.online and cfg.uses_memory:
            m.d.sync += x.eq(Mux(self.of_l, self.l, self.sum))
        elif cfg.online:
            m.d.sync += x.eq(self.l)
        else:
            m.d.sync += x.eq(self.sum)
        narrow = ops.staged(FloatConverter(F32, D, latency=lat["narrow"]), "recip_in", a=x)
        m.d.comb += self.y.eq(ops.staged(FloatReciprocal(D, latency=lat["recip"]), "recip", a=narrow))
        with m.If(self.hold):
            m.d.sync += self.held.eq(self.y)
        return m


class TopR(wiring.Component):
    """SparF TOPR (``step``), one channel per cycle into a pipeline (``pipeline.topr_stages``):
    the channel's |q| registered, the head_dim comparisons with every other channel's (ties to
    the lower index) registered, their count (its rank) added up a register per level; at the
    end the rank decides whether it is one of the top_r (then in ``sel``); ``ranks`` carries
    each channel's |q| in fp32 for the sums, whether it is selected, and whether it is the
    last; ``first_c`` is the first selected. ``stepping``: channels are left to issue."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p = cfg.p
        super().__init__({
            "q": In(data.ArrayLayout(16, p.head_dim)),
            "start": In(1),
            "step": In(1),
            "stepping": Out(1),
            "ranks": Out(strobes(rank_layout())),
            "sel": Out(p.head_dim),
            "first_c": Out(range(p.head_dim)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.cfg.p
        ops = Operators(m, self.cfg.D)
        i = Signal(range(p.head_dim + 1))
        m.d.comb += self.stepping.eq(i < p.head_dim)
        with m.If(self.step):
            m.d.sync += i.eq(i + 1)
        keys = [self.q[j][:15] for j in range(p.head_dim)]
        tag_layout = data.StructLayout({"valid": 1, "channel": range(p.head_dim), "key": 15})
        issued = Signal(tag_layout)
        m.d.comb += [issued.valid.eq(self.step), issued.channel.eq(i), issued.key.eq(select(keys, i))]
        line = TagLine(m, tag_layout)
        tag = line.follow(issued, 1, "topr_key")
        ahead = Signal(p.head_dim)
        # channel j ranks ahead with a greater key, or an equal one and a lower index (the
        # last channel's index is never lower)
        m.d.sync += ahead.eq(Cat(*((keys[j] > tag.key) | ((keys[j] == tag.key) & (j < tag.channel))
                                   if j < p.head_dim - 1 else keys[j] > tag.key
                                   for j in range(p.head_dim))))
        tag = line.follow(tag, 1, "topr_ahead")
        counts = [ahead[j] for j in range(p.head_dim)]
        for level in range(levels(p.head_dim)):
            summed = [Signal(level + 2, name=f"topr_count{level}_{k}") for k in range(len(counts) // 2)]
            m.d.sync += [x.eq(counts[2 * k] + counts[2 * k + 1]) for k, x in enumerate(summed)]
            counts = summed
            tag = line.follow(tag, 1, f"topr_level{level}")
        rank = counts[0]
        out = self.ranks.payload
        m.d.comb += [self.ranks.valid.eq(tag.valid), out.last.eq(tag.channel == p.head_dim - 1),
                     out.selected.eq(rank < p.top_r),
                     out.abs_q.eq(ops.cvt(tag.key, self.cfg.D, F32, "abs_q"))]
        have_first = Signal()
        with m.If(self.ranks.valid & out.selected):
            m.d.sync += self.sel.eq(with_bit(self.sel, tag.channel))
            with m.If(~have_first):
                m.d.sync += [have_first.eq(1), self.first_c.eq(tag.channel)]
        with m.If(self.start):
            m.d.sync += [i.eq(0), have_first.eq(0), self.sel.eq(0)]
        return m


class TopK(wiring.Component):
    """SparF: a ``top_k``-entry insertion sorter over the approximate scores of the TOPK scan
    (``sorting``; a candidate each cycle the scan has a token), then BITMAP (``marking``): the
    sorter shifts out towards entry 0, an entry a cycle; entry 0 is registered, and a cycle
    later its token's bit is set in the token bitmap and its page's in the bitmap of pages
    holding a kept token (the last bit lands in EXPSCAN's first cycle; the scan reads the
    bitmap two stages in). ``max_hat``: the top score, taken at ``mark_begin``."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        p, geo = cfg.p, cfg.geo
        super().__init__({
            "start": In(1),
            "sorting": In(1),
            "candidates": In(strobes(candidate_layout(cfg))),
            "busy": Out(1),
            "mark_begin": In(1),
            "marking": In(1),
            "last": Out(1),
            "max_hat": Out(32),
            "bitmap": Out(p.max_seq_len),
            "pagebit": Out(geo.token_pages),
        })

    def elaborate(self, platform):
        m = Module()
        k, geo = self.cfg.p.top_k, self.cfg.geo
        token_bits = geo.token_bits
        sort_key = [Signal(32, name=f"sort_key{i}") for i in range(k)]
        sort_idx = [Signal(token_bits, name=f"sort_idx{i}") for i in range(k)]
        sort_v = [Signal(name=f"sort_v{i}") for i in range(k)]
        cand_v, cand_key, cand_idx = Signal(), Signal(32), Signal(token_bits)
        candidate = self.candidates.payload
        m.d.sync += [cand_v.eq(self.sorting & self.candidates.valid), cand_key.eq(order_key(candidate.s_hat)),
                     cand_idx.eq(candidate.token)]
        m.d.comb += self.busy.eq(cand_v)
        # entries ahead of the candidate: valid with a key >= its key (earlier tokens win ties)
        ahead = [sort_v[i] & (sort_key[i] >= cand_key) for i in range(k)]
        with m.If(cand_v):
            for i in range(k):
                here = ~ahead[i] & (ahead[i - 1] if i else 1)
                shift = ~ahead[i] & ~here
                with m.If(here):
                    m.d.sync += [sort_key[i].eq(cand_key), sort_idx[i].eq(cand_idx), sort_v[i].eq(1)]
                if i:
                    with m.If(shift):
                        m.d.sync += [sort_key[i].eq(sort_key[i - 1]), sort_idx[i].eq(sort_idx[i - 1]),
                                     sort_v[i].eq(sort_v[i - 1])]
        with m.Elif(self.marking):
            # shift out towards entry 0 (the keys are done with: max_hat was taken)
            for i in range(k):
                following = i + 1 < k
                m.d.sync += [sort_idx[i].eq(sort_idx[i + 1] if following else 0),
                             sort_v[i].eq(sort_v[i + 1] if following else 0)]

        # the bitmaps: entry 0 registered, then its bits set (a 2048-way decode of a token
        # chosen in the same cycle was the SparF engine's longest path)
        mark_v, mark_idx = Signal(), Signal(token_bits)
        m.d.sync += [mark_v.eq(self.marking & sort_v[0]), mark_idx.eq(sort_idx[0])]
        for w in range(geo.token_pages):
            word = self.bitmap[PAGE_TOKENS * w:PAGE_TOKENS * (w + 1)]
            with m.If(mark_v & equals(mark_idx[4:], w)):
                m.d.sync += [word.eq(with_bit(word, mark_idx[:4])), self.pagebit[w].eq(1)]
        with m.If(self.start):
            m.d.sync += [v.eq(0) for v in sort_v]
            m.d.sync += [self.bitmap.eq(0), self.pagebit.eq(0)]

        marked = Signal(range(k + 1))
        with m.If(self.mark_begin):
            m.d.sync += [marked.eq(0), self.max_hat.eq(key_bits(sort_key[0]))]
        with m.If(self.marking):
            m.d.sync += marked.eq(marked + 1)
        m.d.comb += self.last.eq(equals(marked, k - 1))
        return m


class SparfScales(wiring.Component):
    """SparF's scalars, each a pipeline whose phase waits for it: 1/total of |q|
    (``latch_total``, SCALE1), then ``scale_hat = rsqrt(cvt(head_dim * sel * recip(total)))``
    (``latch_scale``, SCALE2, ``pipeline.scale_stages``); at ALPHA (``latch_mix``,
    ``pipeline.alpha_stages`` after the reciprocal) ``alpha = sum1 * recip(sum0)`` and
    ``beta = 1 - alpha`` in D."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        super().__init__({
            "sum1": In(32),
            "recip": In(16),
            "latch_total": In(1),
            "latch_scale": In(1),
            "latch_mix": In(1),
            "scale_hat": Out(16),
            "alpha": Out(16),
            "beta": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        D = self.cfg.D
        lat = latencies(self.cfg.p.dtype)
        ops = Operators(m, D)

        def widen(x, name):
            return ops.staged(FloatConverter(D, F32, latency=lat["widen"]), name, a=x)

        def mul32(a, b, name):
            return ops.staged(FloatMultiplier(F32, latency=lat["mul32"]), name, a=a, b=b)

        def narrow(x, name):
            return ops.staged(FloatConverter(F32, D, latency=lat["narrow"]), name, a=x)

        total_recip = Signal(16)
        with m.If(self.latch_total):
            m.d.sync += total_recip.eq(self.recip)
        share = mul32(self.sum1, widen(total_recip, "total_recip32"), "share")
        scaled = mul32(share, Const(f32_bits(self.cfg.p.head_dim), 32), "share_d")
        scale_hat = ops.staged(FloatInverseSqrt(D, latency=lat["rsqrt"]), "scale_hat",
                               a=narrow(scaled, "share_d16"))
        with m.If(self.latch_scale):
            m.d.sync += self.scale_hat.eq(scale_hat)
        alpha32 = mul32(self.sum1, widen(self.recip, "den_recip32"), "alpha")
        one_minus = ops.staged(FloatAdder(F32, subtract=True, latency=lat["add32"]), "one_minus",
                               a=Const(ONE32, 32), b=alpha32)
        alpha, beta = narrow(alpha32, "alpha16"), narrow(one_minus, "beta16")
        with m.If(self.latch_mix):
            m.d.sync += [self.alpha.eq(alpha), self.beta.eq(beta)]
        return m
