"""The phase sequencer: one query's phases, in order, and the commands that start each unit's
work; the units' status says when a phase is over."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import StateMachine, equals
from ..pipeline import alpha_stages, recip_stages, scale_stages
from .common import Config


def phases(cfg: Config) -> list[str]:
    """The phases of one query, in order: SparF's front (TOPR .. ALPHA) picks the channels and
    tokens; RUN_B is the K (and online the V) pass; two_pass then scans the scores (SOFTMAX),
    takes 1/sum (RECIP) and runs the V pass (VPASS), online normalizes the row (NORM); SparF
    mixes in the V mean (MIX); CONVERT rounds the row to D, OUT offers it."""
    names = ["IDLE"]
    if cfg.sparse:
        names += ["TOPR", "SCALE1", "SCALE2", "RUN_A", "TOPK", "BITMAP", "EXPSCAN", "ALPHA"]
    names += ["RUN_B"]
    names += ["RECIP", "NORM"] if cfg.online else ["SOFTMAX", "RECIP", "VPASS"]
    if cfg.sparse:
        names += ["MIX"]
    return names + ["CONVERT", "OUT"]


class Sequencer(wiring.Component):
    """The phase register (``phase``: one flag per phase) and the word counter of the passes
    over the output row (``word``). Commands, high in the cycle a phase ends: SparF's ``list_a`` and
    ``list_b`` start a page list, ``scan_begin`` and ``scan_end`` a token scan,
    ``mark_begin`` the bitmap readout. ``enable_a`` and ``enable_b_*``: the phases in which side
    A takes beats, side B V beats or the V-mean page. ``issue``: a pass over the output row
    (NORM, MIX, CONVERT) is issuing words (then it waits for its pipeline to drain);
    ``settled``: the last cycle of a phase that waits for a scalar pipeline (RECIP, SCALE1,
    SCALE2, ALPHA), in which its result is taken.

    Status in: ``start`` (a query was taken), ``lists_busy`` and ``k_done`` (the page lists),
    ``a_idle`` and ``b_idle`` (no page pending on a side), the units' ``*_busy``,
    ``scan_done``, ``sums_ready`` (TOPR's sums are held), the last step of BITMAP, and
    ``sent`` (the output was taken)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.phases = phases(cfg)
        members = {
            "start": In(1), "lists_busy": In(1), "a_idle": In(1), "b_idle": In(1),
            "score_busy": In(1), "v_busy": In(1), "out_busy": In(1), "sent": In(1),
            "phase": Out(data.StructLayout({name.lower(): 1 for name in self.phases})),
            "word": Out(range(max(2, cfg.geo.beats_per_row))),
            "enable_a": Out(1), "enable_b_v": Out(1), "issue": Out(1),
            "settled": Out(1),
        }
        if cfg.online:
            members["online_busy"] = In(1)
        else:
            members["k_done"] = In(1)
        if cfg.uses_memory:
            members |= {"scan_done": In(1), "scan_begin": Out(1), "scan_end": Out(1)}
        if cfg.sparse:
            members |= {"sums_ready": In(1), "cm_busy": In(1), "cand_busy": In(1), "mark_last": In(1),
                        "enable_b_mean": Out(1), "list_a": Out(1), "list_b": Out(1),
                        "mark_begin": Out(1)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        fsm = StateMachine(m, self.phases)
        m.d.comb += [self.phase[name.lower()].eq(fsm.is_in(name)) for name in self.phases]
        runs = [fsm.is_in("RUN_A"), fsm.is_in("RUN_B")] if cfg.sparse else [fsm.is_in("RUN_B")]
        m.d.comb += [self.enable_a.eq(Cat(*runs).any()),
                     self.enable_b_v.eq(fsm.is_in("RUN_B" if cfg.online else "VPASS"))]
        if cfg.sparse:
            m.d.comb += self.enable_b_mean.eq(fsm.is_in("RUN_A"))
        last_word = equals(self.word, cfg.geo.beats_per_row - 1)
        # A pass over the output row (NORM, MIX, CONVERT) issues a word a cycle, then waits
        # for its pipeline to drain (``busy``) before the next phase reads the row.
        issued = Signal()
        m.d.comb += self.issue.eq(~issued)

        # A phase that waits for a scalar pipeline (RECIP, SCALE1, SCALE2, ALPHA) lasts its
        # stages and one more cycle, ``settled``, in which its result is right and taken.
        dtype = cfg.p.dtype
        longest = max(recip_stages(dtype) + alpha_stages(dtype), scale_stages(dtype))
        wait = Signal(range(longest + 1))

        def timed(then: str, stages: int = recip_stages(dtype)):
            m.d.comb += self.settled.eq(wait == stages)
            with m.If(self.settled):
                m.d.sync += wait.eq(0)
                fsm.goto(then)
            with m.Else():
                m.d.sync += wait.eq(wait + 1)

        def row_pass(busy, then: str):
            with m.If(~issued):
                m.d.sync += self.word.eq(Mux(last_word, 0, self.word + 1))
                with m.If(last_word):
                    m.d.sync += issued.eq(1)
            with m.Elif(~busy):
                m.d.sync += issued.eq(0)
                fsm.goto(then)

        with fsm.state("IDLE"):
            with m.If(self.start):
                # (dense: the token list was started when the query reached the stream)
                fsm.goto("TOPR" if cfg.sparse else "RUN_B")
        if cfg.sparse:
            self.sparse_front(m, fsm, timed)
        with fsm.state("RUN_B"):
            if cfg.online:
                with m.If(~self.lists_busy & self.a_idle & self.b_idle & ~self.score_busy &
                          ~self.online_busy & ~self.v_busy):
                    m.d.sync += self.word.eq(0)
                    fsm.goto("RECIP")
            else:
                with m.If(self.k_done & self.a_idle & ~self.score_busy):
                    m.d.comb += self.scan_begin.eq(1)
                    fsm.goto("SOFTMAX")
        after_v = "MIX" if cfg.sparse else "CONVERT"
        if cfg.online:
            with fsm.state("RECIP"):
                timed("NORM")
            with fsm.state("NORM"):
                row_pass(self.v_busy, after_v)
        else:
            with fsm.state("SOFTMAX"):
                with m.If(self.scan_done):
                    m.d.comb += self.scan_end.eq(1)
                    fsm.goto("RECIP")
            with fsm.state("RECIP"):
                timed("VPASS")
            with fsm.state("VPASS"):
                with m.If(~self.lists_busy & self.b_idle & ~self.v_busy):
                    m.d.sync += self.word.eq(0)
                    fsm.goto(after_v)
        if cfg.sparse:
            with fsm.state("MIX"):
                row_pass(self.v_busy, "CONVERT")
        with fsm.state("CONVERT"):
            row_pass(self.out_busy, "OUT")
        with fsm.state("OUT"):
            with m.If(self.sent):
                fsm.goto("IDLE")
        return m

    def sparse_front(self, m: Module, fsm: StateMachine, timed):
        """TOPR -> SCALE1 -> SCALE2 -> RUN_A -> TOPK -> BITMAP -> EXPSCAN -> ALPHA -> RUN_B."""
        with fsm.state("TOPR"):       # one channel a cycle (TopR), then its sums
            with m.If(self.sums_ready):
                fsm.goto("SCALE1")
        with fsm.state("SCALE1"):     # 1/total of |q|
            timed("SCALE2")
        with fsm.state("SCALE2"):     # scale_hat; then the channel-major pages
            with m.If(self.settled):
                m.d.comb += self.list_a.eq(1)
            timed("RUN_A", scale_stages(self.cfg.p.dtype))
        with fsm.state("RUN_A"):
            with m.If(~self.lists_busy & self.a_idle & self.b_idle & ~self.cm_busy):
                m.d.comb += self.scan_begin.eq(1)
                fsm.goto("TOPK")
        with fsm.state("TOPK"):       # the approximate scores into the sorter
            with m.If(self.scan_done & ~self.cand_busy):
                m.d.comb += [self.scan_end.eq(1), self.mark_begin.eq(1)]
                fsm.goto("BITMAP")
        with fsm.state("BITMAP"):
            with m.If(self.mark_last):
                m.d.comb += self.scan_begin.eq(1)
                fsm.goto("EXPSCAN")
        with fsm.state("EXPSCAN"):
            with m.If(self.scan_done):
                m.d.comb += self.scan_end.eq(1)
                fsm.goto("ALPHA")
        with fsm.state("ALPHA"):      # alpha, beta; then the selected tokens' pages
            with m.If(self.settled):
                m.d.comb += self.list_b.eq(1)
            timed("RUN_B", recip_stages(self.cfg.p.dtype) + alpha_stages(self.cfg.p.dtype))
