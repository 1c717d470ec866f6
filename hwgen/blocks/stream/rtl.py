"""``stream_split`` and ``stream_fork``: generic adapters that deal one stream of columns out
to several (a fixed, repeating beat-count pattern) or copy it to several, each copy behind its
own FIFO so that a consumer that starts late does not stall the others. Both register their
outputs (``ready = ~out.valid | out.ready`` for the split). See docs/stream_split.md and
docs/stream_fork.md."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import fifo, stream
from amaranth.lib.wiring import In, Out

from ...core.block import Block, register
from ...core.fields import unsigned_field
from ...core.logic import counter, equals
from ..common.stream import column_layout
from . import golden, model
from .params import FORK_PARAMS, SPLIT_PARAMS, parse_counts


class _Fanout(Block):
    """Shared by split and fork: ``a`` in, ``y0 .. y<N-1>`` out, all ``lanes x width``."""

    outputs: int

    def signature_members(self):
        column = column_layout(self.p.lanes, self.p.width)
        return {"a": In(stream.Signature(column)),
                **{f"y{k}": Out(stream.Signature(column)) for k in range(self.outputs)}}

    def out_ports(self):
        return [getattr(self, f"y{k}") for k in range(self.outputs)]

    def _column_field(self, fields, name):
        return unsigned_field(self.name, name, fields, (None, self.p.lanes), self.p.width)

    def stimulus(self, rng, n):
        return {"a": rng.integers(0, 1 << self.p.width, size=(n, self.p.lanes), dtype=np.uint64)}

    def workload(self, inputs):
        return {"beats": len(inputs["a"])}

    def beat_bytes(self):
        return self.p.lanes * ((self.p.width + 7) // 8)

    def fields_to_beats(self, fields):
        return {name: self._column_field(fields, name) for name in ("a", *self._out_names())
                if name in fields}

    def beats_to_fields(self, beats):
        return {name: np.asarray(value) for name, value in beats.items()}

    def _out_names(self):
        return [f"y{k}" for k in range(self.outputs)]


@register
class StreamSplit(_Fanout):
    name = "stream_split"
    params = SPLIT_PARAMS
    summary = "deal a stream's beats to N outputs by a fixed, repeating beat-count pattern"

    LATENCY = model.SPLIT_LATENCY

    @property
    def counts(self) -> list[int]:
        return parse_counts(self.p.counts)

    @property
    def outputs(self) -> int:
        return len(self.counts)

    def elaborate(self, platform):
        m = Module()
        counts = self.counts
        target = Signal(range(self.outputs))          # the output taking the next beat
        beat = counter(max(counts))                  # beats it has taken in this turn
        turn_ends = Signal()
        for k, count in enumerate(counts):
            with m.If(equals(target, k)):
                m.d.comb += turn_ends.eq(equals(beat, count - 1))

        for k, port in enumerate(self.out_ports()):
            free = ~port.valid | port.ready
            take = self.a.valid & equals(target, k) & free
            with m.If(equals(target, k)):
                m.d.comb += self.a.ready.eq(free)
            with m.If(free):
                m.d.sync += port.valid.eq(take)
            with m.If(take):
                m.d.sync += port.payload.eq(self.a.payload)

        with m.If(self.a.valid & self.a.ready):
            m.d.sync += beat.eq(Mux(turn_ends, 0, beat + 1))
            with m.If(turn_ends):
                m.d.sync += target.eq(Mux(target == self.outputs - 1, 0, target + 1))
        return m

    def golden(self, inputs):
        return golden.split(self._column_field(inputs, "a"), self.counts)

    def model(self, workload):
        return model.split(workload["beats"], self.beat_bytes())


@register
class StreamFork(_Fanout):
    name = "stream_fork"
    params = FORK_PARAMS
    summary = "copy a stream to N outputs, each behind a FIFO of depth beats"

    LATENCY = model.FORK_LATENCY

    @property
    def outputs(self) -> int:
        return self.p.outputs

    def beat_relations(self):
        # every output gets every beat; a FIFO of depth beats drains behind it
        return [(name, "a", self.LATENCY + self.p.depth + 2) for name in self._out_names()]

    def formal_covers(self, m, port):
        # the input is refused only when some output's FIFO is full
        return [("a", "a FIFO full: the input waits", port("a__valid") & ~port("a__ready"))]

    def elaborate(self, platform):
        m = Module()
        width = self.p.lanes * self.p.width
        queues = []
        for k, port in enumerate(self.out_ports()):
            m.submodules[f"queue{k}"] = queue = fifo.SyncFIFOBuffered(width=width, depth=self.p.depth)
            m.d.comb += [port.valid.eq(queue.r_rdy), port.payload.eq(queue.r_data),
                         queue.r_en.eq(port.ready), queue.w_data.eq(self.a.payload)]
            queues.append(queue)
        # A beat enters every queue at once, so it waits until all have room.
        m.d.comb += self.a.ready.eq(Cat(q.w_rdy for q in queues).all())
        for queue in queues:
            m.d.comb += queue.w_en.eq(self.a.valid & self.a.ready)
        return m

    def golden(self, inputs):
        return golden.fork(self._column_field(inputs, "a"), self.outputs)

    def model(self, workload):
        return model.fork(workload["beats"], self.beat_bytes(), self.outputs)
