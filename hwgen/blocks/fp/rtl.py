"""``fp_mul`` and ``fp_add``: floating-point operators on a stream of operand pairs.

Each beat on ``operands`` carries two bit patterns ``a`` and ``b`` of the chosen format; each
beat on ``result`` the rounded ``a * b`` (``fp_mul``) or ``a + b`` / ``a - b`` (``fp_add``).
The operator (``hwgen.numerics.rtl``) holds ``latency`` pipeline registers; an output register
follows it. As in ``mac_array``, every register advances together whenever the output register
is empty or being emptied, so the block takes one pair per cycle unless ``result`` stalls.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ...core.block import Block, register
from ...numerics.formats import FloatFormat
from ...numerics.rtl import FloatAdder, FloatMultiplier
from . import model, stimulus
from .params import ADD_PARAMS, MUL_PARAMS, float_format


class _FloatBlock(Block):
    """What ``fp_mul`` and ``fp_add`` share: ports, handshake, fields, stimulus and model."""

    op: ClassVar[str]  # "mul", "add" or "sub": what the subclass computes

    @property
    def fmt(self) -> FloatFormat:
        return float_format(self.param_values)

    def operator(self):
        raise NotImplementedError

    def signature_members(self):
        word = unsigned(self.fmt.width)
        return {
            "operands": In(stream.Signature(data.StructLayout({"a": word, "b": word}))),
            "result": Out(stream.Signature(word)),
        }

    def info(self):
        fmt = self.fmt
        return {
            "latency": model.pipeline_latency(self.p.latency),
            "width": fmt.width,
            "exp_bits": fmt.exp_bits,
            "man_bits": fmt.man_bits,
        }

    def elaborate(self, platform):
        m = Module()
        m.submodules.operator = operator = self.operator()

        # One enable for every register, the operator's included: the pipeline moves as a
        # whole unless a finished result is waiting on a stalled consumer.
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.result.valid | self.result.ready),
            self.operands.ready.eq(advance),
            operator.a.eq(self.operands.payload.a),
            operator.b.eq(self.operands.payload.b),
        ]
        valid = self.operands.valid
        if self.p.latency:
            # The valid bits travel beside the operator's registers, one per stage.
            m.d.comb += operator.en.eq(advance)
            for index in range(self.p.latency):
                staged = Signal(name=f"valid{index}")
                with m.If(advance):
                    m.d.sync += staged.eq(valid)
                valid = staged
        with m.If(advance):
            m.d.sync += [
                self.result.valid.eq(valid),
                self.result.payload.eq(operator.y),
            ]
        return m

    # -- reference, stimulus, model ------------------------------------------------------------
    def _twin(self):
        raise NotImplementedError

    def golden(self, inputs):
        # The bit-exact NumPy twins are written independently of this RTL from the same rules.
        twin = self._twin()
        a = np.asarray(inputs["a"], dtype=np.uint64)
        b = np.asarray(inputs["b"], dtype=np.uint64)
        return {"y": np.asarray(twin(a, b, self.fmt, self.p.ftz), dtype=np.uint64)}

    def stimulus(self, rng, n):
        return stimulus.stimulus(rng, n, self.fmt, self.op)

    def workload(self, inputs):
        return {"pairs": int(np.shape(inputs["a"])[0])}

    def model(self, workload):
        return model.estimate(workload["pairs"], self.fmt.width, self.p.latency)

    # -- fields <-> beats ----------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        if "a" in fields or "b" in fields:
            beats["operands"] = {"a": self._check_operand(fields, "a"),
                                 "b": self._check_operand(fields, "b")}
        if "y" in fields:
            beats["result"] = np.asarray(fields["y"])
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "operands" in beats:
            fields["a"] = beats["operands"]["a"]
            fields["b"] = beats["operands"]["b"]
        if "result" in beats:
            fields["y"] = beats["result"]
        return fields

    def _check_operand(self, fields, key):
        # Reject what packing would silently wrap: wrong shape, non-integers, too-wide patterns.
        if key not in fields:
            raise ValueError(f"{self.name} inputs need both 'a' and 'b', '{key}' is missing")
        values = np.asarray(fields[key])
        if values.ndim != 1:
            raise ValueError(f"{self.name} field '{key}' must have shape (pairs,), "
                             f"got {values.shape}")
        if values.dtype != object and values.dtype.kind not in "iu":
            raise ValueError(f"{self.name} field '{key}' must hold integer bit patterns, "
                             f"got dtype {values.dtype}")
        width = self.fmt.width
        if values.size and (int(values.min()) < 0 or int(values.max()) >= 1 << width):
            raise ValueError(f"{self.name} field '{key}' holds values outside "
                             f"0..{(1 << width) - 1} ({width}-bit {self.fmt.name} bit patterns)")
        return values.astype(np.uint64)


@register
class FpMul(_FloatBlock):
    name = "fp_mul"
    params = MUL_PARAMS
    summary = "floating-point multiply, round to nearest even, any E,M format"
    op = "mul"

    def operator(self):
        return FloatMultiplier(self.fmt, ftz=self.p.ftz, latency=self.p.latency)

    def _twin(self):
        from ...numerics.golden import fp_mul
        return fp_mul


@register
class FpAdd(_FloatBlock):
    name = "fp_add"
    params = ADD_PARAMS
    summary = "floating-point add or subtract, round to nearest even, any E,M format"

    @property
    def op(self):
        return self.p.op

    def operator(self):
        return FloatAdder(self.fmt, ftz=self.p.ftz, latency=self.p.latency,
                          subtract=self.p.op == "sub")

    def _twin(self):
        from ...numerics import golden
        return golden.fp_sub if self.p.op == "sub" else golden.fp_add
