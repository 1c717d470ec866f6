"""``requant``: shift, round and saturate one sample per cycle.

The typical consumer of a ``mac_array``: it brings a wide accumulator back to an activation
width. One output register; ``samples`` is ready whenever that register is empty or emptying.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from ...core.block import Block, register
from ...core.ints import int_array
from ...numerics.rtl.fixed import requantize
from . import golden, model
from .params import PARAMS


@register
class Requant(Block):
    name = "requant"
    params = PARAMS
    summary = "shift, round and saturate a stream of integers to a narrower width"

    def _shape(self, width):
        return (signed if self.p.signed else unsigned)(width)

    def signature_members(self):
        return {
            "samples": In(stream.Signature(self._shape(self.p.in_width))),
            "scaled": Out(stream.Signature(self._shape(self.p.out_width))),
        }

    def info(self):
        return {"latency": model.LATENCY}

    def beat_relations(self):
        return [("scaled", "samples", model.LATENCY + 2)]

    def equivalent_variants(self):
        # against requant written again from its specification (spec.py), not from the
        # numerics library's shift_round and saturate (imported here: spec.py subclasses Requant)
        from .spec import RequantSpec
        return [(RequantSpec(**self.param_values), self)]

    def field_dtypes(self):
        # x: in_width-bit integers, y: out_width-bit; in int8..int64 (uint8..uint64 unsigned),
        # Python ints beyond 64 bits
        kind = "int" if self.p.signed else "uint"
        return {"x": f"{kind}{self.p.in_width}", "y": f"{kind}{self.p.out_width}"}

    def elaborate(self, platform):
        m = Module()
        p = self.p
        fmt_in, fmt_out = golden.formats(p.in_width, p.out_width, p.shift, p.signed)
        scaled = requantize(m, self.samples.payload, fmt_in, fmt_out, rounding=p.rounding,
                            overflow=p.overflow, name="requantized")

        m.d.comb += self.samples.ready.eq(~self.scaled.valid | self.scaled.ready)
        with m.If(self.samples.ready):
            m.d.sync += [
                self.scaled.valid.eq(self.samples.valid),
                self.scaled.payload.eq(scaled),
            ]
        return m

    def golden(self, inputs):
        p = self.p
        return {"y": golden.requantize(inputs["x"], p.shift, p.out_width, p.signed, p.rounding,
                                       p.overflow)}

    def stimulus(self, rng, n):
        return golden.stimulus(rng, n, self.p.in_width, self.p.signed, self.p.shift)

    def workload(self, inputs):
        return {"samples": int(len(inputs["x"]))}

    def model(self, workload):
        return model.estimate(workload["samples"], self.p.in_width, self.p.out_width)

    def fields_to_beats(self, fields):
        beats = {}
        if "x" in fields:
            beats["samples"] = self._check_samples(fields["x"])
        if "y" in fields:
            beats["scaled"] = fields["y"]
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "samples" in beats:
            fields["x"] = beats["samples"]
        if "scaled" in beats:
            fields["y"] = beats["scaled"]
        return fields

    def _check_samples(self, x):
        p = self.p
        x = np.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"requant field 'x' must have shape (samples,), got {x.shape}")
        if x.dtype != object and x.dtype.kind not in "iu":
            raise ValueError(f"requant field 'x' must hold integers, got dtype {x.dtype}")
        low, high = golden.limits(p.in_width, p.signed)
        if x.size and (int(x.min()) < low or int(x.max()) > high):
            raise ValueError(f"requant field 'x' holds values outside {low}..{high} "
                             f"({p.in_width}-bit {'signed' if p.signed else 'unsigned'})")
        return int_array(x, p.in_width, p.signed)
