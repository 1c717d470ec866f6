"""The attention engine's hardware: one head's decode-step attention over a flash-resident KV
cache (docs/attention.md has the dataflow and the exact arithmetic).

``AttentionCore`` is a tree of components, connected top to bottom in its ``elaborate``:

* the **page lists** (``flash.TokenPages``; SparF's first list, ``flash.ChannelMajorPages``)
  walk the pages of the current phase, and the **page issuer** (``flash.PageIssuer``) sends
  each to its flash channel's request port, at most ``flash_queue`` pages outstanding per
  channel;
* one **filter** per channel (``flash.PageFilter``) knows, from a FIFO of the pages it asked
  for, which page and beat each returned beat is; it drops beats the engine does not need
  (padding past ``seq_len``, SparF's unselected tokens) at the channel's own pace and hands the
  rest on;
* two **consumers** (``flash.Consumers``) take the needed beats in page order: side A the K
  pages (score GeMV) and SparF's channel-major K pages (approximate scores), side B the V pages
  (V GeMV) and the V-mean page. A FIFO per side lists the channels of its pages in issue order,
  so a consumer always knows which channel its next beat comes from, and the two sides run
  concurrently (online softmax reads K and V in one pass);
* the **score GeMV** (``scores.ScoreGemv``) is the PIM bank MAC core (lanes products, pairwise
  fp32 tree, fp32 accumulator); the **V GeMV** (``values.VGemv``) is ``lanes`` fp32 FMAs over
  an fp32 output row;
* the score memory or the online softmax between them, and the scalar units (``scalars``):
  the exp-and-sum scans, the shared reciprocal, top-r channel ranking, the top-k insertion
  sorter;
* the **sequencer** (``sequencer.Sequencer``) steps through a query's phases.

Units exchange streams (``amaranth.lib.stream``; the ones without back-pressure carry
``always_ready``) through ``wiring.connect``; the sequencer's commands and the values units
read from one another are plain assignments. Every arithmetic step is a ``hwgen.numerics``
operator, in the order the golden twin (``golden.py``) follows from the spec.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .common import SIDE_A, SIDE_B, Config, query_layout
from .flash import PageFetch
from .scalars import Reciprocal, Scans, SparfScales, TopK, TopR
from .scores import ChannelMajor, OnlineSoftmax, ScoreGemv, ScoreMemory
from .sequencer import Sequencer
from .values import OutputPort, QueryRegister, VGemv


class AttentionCore(wiring.Component):
    """The engine, with the block's ports: ``query``, ``o``, and per flash channel
    ``flash<c>_req`` and ``flash<c>_data``."""

    def __init__(self, p):
        self.cfg = cfg = Config(p)
        members = {
            "query": In(stream.Signature(query_layout(cfg))),
            "o": Out(stream.Signature(data.ArrayLayout(16, p.head_dim))),
        }
        for c in range(p.flash_channels):
            members[f"flash{c}_req"] = Out(stream.Signature(cfg.geo.page_id_bits))
            members[f"flash{c}_data"] = In(stream.Signature(data.ArrayLayout(16, p.lanes)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg

        # the query and the phases
        m.submodules.query = query = QueryRegister(cfg)
        m.submodules.sequencer = seq = Sequencer(cfg)
        wiring.connect(m, wiring.flipped(self.query), query.query)
        m.d.comb += seq.start.eq(query.start)

        # pages out, beats back
        m.submodules.fetch = fetch = PageFetch(cfg)
        for c in range(cfg.p.flash_channels):
            wiring.connect(m, fetch.flash_req[c], wiring.flipped(getattr(self, f"flash{c}_req")))
            wiring.connect(m, wiring.flipped(getattr(self, f"flash{c}_data")), fetch.flash_data[c])
        m.d.comb += [fetch.cur_gen.eq(query.gen), fetch.taken.eq(query.start),
                     seq.lists_busy.eq(fetch.lists_busy),
                     seq.a_idle.eq(fetch.idle[SIDE_A]), seq.b_idle.eq(fetch.idle[SIDE_B])]
        if cfg.sparse:
            m.d.comb += [query.accept.eq(seq.phase.idle), fetch.list_b.eq(seq.list_b),
                         fetch.seq_len.eq(query.seq_len), fetch.head.eq(query.head)]
        else:
            # the token list walks the query on the stream before it is taken (the next head's
            # pages while this one computes); a query is taken once its walk has begun
            m.d.comb += [fetch.next_valid.eq(self.query.valid),
                         fetch.next_seq_len.eq(self.query.payload.seq_len),
                         query.accept.eq(seq.phase.idle & fetch.ready_to_take)]

        # side A makes scores, side B the output row
        m.submodules.score_gemv = score = ScoreGemv(cfg)
        m.submodules.v_gemv = v_gemv = VGemv(cfg)
        wiring.connect(m, fetch.side[SIDE_A], score.beats)
        wiring.connect(m, fetch.side[SIDE_B], v_gemv.beats)
        m.d.comb += [score.q.eq(query.q), score.enable.eq(seq.enable_a), seq.score_busy.eq(score.busy),
                     v_gemv.start.eq(query.start), v_gemv.enable_v.eq(seq.enable_b_v),
                     seq.v_busy.eq(v_gemv.busy)]
        if cfg.online or cfg.sparse:
            m.d.comb += [v_gemv.word.eq(seq.word), v_gemv.issue.eq(seq.issue)]

        # between them: the online softmax (online), the score memory and its scans (two_pass, SparF)
        m.submodules.recip = recip = Reciprocal(cfg)
        if cfg.online:
            m.submodules.online_softmax = softmax = OnlineSoftmax(cfg, score.inflight.shape())
            wiring.connect(m, score.scores, softmax.scores)
            wiring.connect(m, softmax.weights, v_gemv.weights)
            m.d.comb += [softmax.start.eq(query.start), softmax.inflight.eq(score.inflight),
                         score.credit.eq(softmax.credit), seq.online_busy.eq(softmax.busy),
                         recip.l.eq(softmax.l), recip.of_l.eq(seq.phase.recip),
                         v_gemv.normalize.eq(seq.phase.norm)]
        else:
            m.d.comb += [score.start.eq(query.start), seq.k_done.eq(fetch.k_done)]
        m.d.comb += [recip.hold.eq(seq.phase.recip & seq.settled), v_gemv.r.eq(recip.held)]
        if cfg.uses_memory:
            m.submodules.scans = scans = Scans(cfg)
            m.d.comb += [scans.start.eq(query.start), scans.seq_len.eq(query.seq_len),
                         scans.begin.eq(seq.scan_begin), scans.end.eq(seq.scan_end),
                         seq.scan_done.eq(scans.done), recip.sum.eq(scans.sum0)]
            # the score memory's requests, each kind in priority order; two_pass's exps go to
            # a memory of their own, which the V pass reads (so no memory is ever read and
            # written at one word in one cycle)
            reads, words, tokens = [scans.read], [], []
            readers = [scans]
            if not cfg.online:
                m.d.comb += [scans.softmax.eq(seq.phase.softmax), scans.max.eq(score.max)]
                tokens.append(score.scores)
                m.submodules.exp_memory = exps = ScoreMemory(cfg, reads=1, words=0, tokens=1, lane_bits=16)
                wiring.connect(m, scans.exps, exps.tokens[0])
                wiring.connect(m, v_gemv.read, exps.reads[0])
                m.d.comb += v_gemv.rd_data.eq(exps.rd_data)
            if cfg.sparse:
                cm = self.sparf(m, query, seq, fetch, score, v_gemv, scans, recip)
                reads.append(cm.read)
                readers.append(cm)
                words.append(cm.write)
            m.submodules.memory = memory = ScoreMemory(cfg, reads=len(reads), words=len(words),
                                                       tokens=len(tokens))
            for ports, requests in ((memory.reads, reads), (memory.words, words), (memory.tokens, tokens)):
                for port, request in zip(ports, requests):
                    wiring.connect(m, request, port)
            m.d.comb += [reader.rd_data.eq(memory.rd_data) for reader in readers]

        # the result
        m.submodules.output = output = OutputPort(cfg)
        wiring.connect(m, output.o, wiring.flipped(self.o))
        m.d.comb += [v_gemv.out_read.eq(output.read), v_gemv.out_word.eq(output.read_word),
                     output.row_data.eq(v_gemv.out_data)]
        m.d.comb += [output.word.eq(seq.word), output.convert.eq(seq.phase.convert),
                     output.issue.eq(seq.issue), seq.out_busy.eq(output.busy),
                     output.present.eq(seq.phase.out), seq.sent.eq(output.sent)]
        return m

    def sparf(self, m: Module, query, seq, fetch, score, v_gemv, scans, recip) -> ChannelMajor:
        """SparF's units: the top-r channels (TOPR), the scale factors, the channel-major
        scores (RUN_A), the top-k tokens (TOPK, BITMAP); and what they decide for the page
        lists, the filters, the scans and the V GeMV. Returns the channel-major unit (a client
        of the score memory)."""
        cfg = self.cfg
        phase = seq.phase
        m.submodules.top_r = top_r = TopR(cfg)
        m.submodules.scales = scales = SparfScales(cfg)
        m.submodules.cm = cm = ChannelMajor(cfg)
        m.submodules.top_k = top_k = TopK(cfg)
        wiring.connect(m, score.cm, cm.beats)
        wiring.connect(m, top_r.ranks, scans.ranks)
        wiring.connect(m, scans.candidates, top_k.candidates)
        m.d.comb += [
            top_r.q.eq(query.q), top_r.start.eq(query.start),
            top_r.step.eq(phase.topr & top_r.stepping), seq.sums_ready.eq(scans.sums_ready),
            scans.ranking.eq(phase.topr),

            scales.sum1.eq(scans.sum1), scales.recip.eq(recip.y),
            scales.latch_total.eq(phase.scale1 & seq.settled),
            scales.latch_scale.eq(phase.scale2 & seq.settled),
            scales.latch_mix.eq(phase.alpha & seq.settled),
            scans.scale_hat.eq(scales.scale_hat),

            fetch.list_a.eq(seq.list_a), fetch.sel.eq(top_r.sel), fetch.cm_used.eq(query.cm_used),
            cm.q.eq(query.q), cm.first_c.eq(top_r.first_c), seq.cm_busy.eq(cm.busy),
            fetch.recent.eq(cm.recent),

            top_k.start.eq(query.start), top_k.sorting.eq(phase.topk), seq.cand_busy.eq(top_k.busy),
            top_k.mark_begin.eq(seq.mark_begin), top_k.marking.eq(phase.bitmap),
            seq.mark_last.eq(top_k.last),
            fetch.pagebit.eq(top_k.pagebit), fetch.bitmap.eq(top_k.bitmap),

            scans.exp_sums.eq(phase.expscan), scans.max_hat.eq(top_k.max_hat),
            scans.bitmap.eq(top_k.bitmap),
            v_gemv.enable_mean.eq(seq.enable_b_mean), v_gemv.mix.eq(phase.mix),
            v_gemv.alpha.eq(scales.alpha), v_gemv.beta.eq(scales.beta),
        ]
        return cm
