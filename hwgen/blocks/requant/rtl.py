"""``requant``: shift, round and saturate one sample per cycle.

The typical consumer of a ``mac_array``: it brings a wide accumulator back to an activation
width. One output register; ``samples`` is ready whenever that register is empty or emptying.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, signed, unsigned
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from ...core.block import Block, register
from ...core.ints import int_array
from . import golden, model
from .params import PARAMS


def saturate(value, low, high):
    """Clamp ``value`` to low..high, comparing only against bounds it can actually cross (a
    comparison that is constant by its operand width is a lint error, and wasted logic)."""
    shape = value.shape()
    reach_low = -(1 << (shape.width - 1)) if shape.signed else 0
    reach_high = (1 << (shape.width - shape.signed)) - 1
    if reach_high > high:
        value = Mux(value > high, high, value)
    if reach_low < low:
        value = Mux(value < low, low, value)
    return value


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

    def elaborate(self, platform):
        m = Module()
        p = self.p
        x = self.samples.payload
        if p.rounding == "half_up" and p.shift:
            x = x + Const(1 << (p.shift - 1))
        shifted = x >> p.shift
        saturated = saturate(shifted, *golden.limits(p.out_width, p.signed))

        m.d.comb += self.samples.ready.eq(~self.scaled.valid | self.scaled.ready)
        with m.If(self.samples.ready):
            m.d.sync += [
                self.scaled.valid.eq(self.samples.valid),
                self.scaled.payload.eq(saturated),
            ]
        return m

    def golden(self, inputs):
        p = self.p
        return {"y": golden.requantize(inputs["x"], p.shift, p.out_width, p.signed, p.rounding)}

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
