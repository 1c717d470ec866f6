"""``fp_accumulate``: sums of a stream of floats, one element per cycle, at the clock of a
pipelined adder (:class:`~hwgen.numerics.rtl.FloatAccumulator`, docs/fp_accumulate.md).

Each beat on ``elements`` carries a bit pattern ``x`` and ``last`` (ending a sum); each beat on
``sums`` the pattern of one sum, in the accumulator's fixed order of summation (the twin
``hwgen.numerics.golden.fp_accumulate``). As in every floating-point block, one enable moves
every register unless a finished sum waits on a stalled consumer, and the block takes an
element in every cycle it is not stalled so, with no bubble between sums.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ....core.block import Block, register
from ....core.fields import unsigned_field
from ....numerics import golden
from ....numerics.accumulator import accumulator_geometry
from ....numerics.rtl import FloatAccumulator
from .. import golden as stimulus, model
from ..params import ACCUMULATE_PARAMS, float_format

__all__ = ["FpAccumulate"]


@register
class FpAccumulate(Block):
    name = "fp_accumulate"
    params = ACCUMULATE_PARAMS
    summary = "floating-point sums of a stream, one element per cycle (interleaved, pipelined)"
    # the formal checks at adder latency 1: a loop of two slots and one tree level, so a sum
    # leaves within 7 cycles (at the default latency, 33: beyond the suite's cover depth)
    formal_params = {"latency": 1}

    @property
    def fmt(self):
        return float_format(self.param_values)

    @property
    def slots(self) -> int:
        return accumulator_geometry(self.p.latency)["slots"]

    def signature_members(self):
        return {
            "elements": In(stream.Signature(data.StructLayout({
                "x": unsigned(self.fmt.width), "last": unsigned(1)}))),
            "sums": Out(stream.Signature(unsigned(self.fmt.width))),
        }

    def elaborate(self, platform):
        m = Module()
        m.submodules.accumulator = accumulator = FloatAccumulator(
            self.fmt, ftz=self.p.ftz, adder_latency=self.p.latency)
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.sums.valid | self.sums.ready),
            self.elements.ready.eq(advance),
            accumulator.en.eq(advance),
            accumulator.x.eq(self.elements.payload.x),
            accumulator.last.eq(self.elements.payload.last),
            accumulator.x_valid.eq(self.elements.valid),
        ]
        with m.If(advance):
            m.d.sync += [
                self.sums.valid.eq(accumulator.y_valid),
                self.sums.payload.eq(accumulator.y),
            ]
        return m

    def info(self):
        geometry = accumulator_geometry(self.p.latency)
        return {
            "latency": model.accumulate_latency(self.p.latency),
            "slots": geometry["slots"],
            "tree_levels": geometry["levels"],
            "adders": geometry["leaves"],
            "width": self.fmt.width,
        }

    def field_dtypes(self):
        return {"x": self.fmt, "y": self.fmt}

    # -- reference, stimulus, model ------------------------------------------------------------
    def _elements(self, fields):
        x = unsigned_field(self.name, "x", fields, (None,), self.fmt.width)
        last = unsigned_field(self.name, "last", fields, (len(x),), 1)
        if len(x) and not last[-1]:
            raise ValueError(f"{self.name} field 'last' must be 1 at the final element (it "
                             f"ends the last sum), got 0")
        return x, last

    def golden(self, inputs):
        x, last = self._elements(inputs)
        return {"y": golden.fp_accumulate(x, last, self.fmt, self.slots, self.p.ftz)}

    def stimulus(self, rng, n):
        # n sums of several lengths each
        return stimulus.accumulate_stimulus(rng, n, self.fmt, self.slots)

    def vector_count(self, inputs):
        return int(np.count_nonzero(self._elements(inputs)[1]))

    def workload(self, inputs):
        x, last = self._elements(inputs)
        return {"elements": len(x), "sums": int(np.count_nonzero(last))}

    def model(self, workload):
        return model.accumulate_estimate(workload["elements"], workload["sums"], self.fmt.width,
                                         self.p.latency)

    # -- fields <-> beats ----------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        if "x" in fields or "last" in fields:
            x, last = self._elements(fields)
            beats["elements"] = {"x": x, "last": last}
        if "y" in fields:
            beats["sums"] = unsigned_field(self.name, "y", fields, (None,), self.fmt.width)
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "elements" in beats:
            fields.update({key: np.asarray(beats["elements"][key]) for key in ("x", "last")})
        if "sums" in beats:
            fields["y"] = np.asarray(beats["sums"])
        return fields
