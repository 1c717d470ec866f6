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

from ....core.block import Block, register
from ....numerics import golden
from ....numerics.formats import FloatFormat
from ....numerics.rtl import FloatAdder, FloatMultiplier
from .. import golden as stimulus, model
from ..params import ADD_PARAMS, MUL_PARAMS, float_format


class FloatBlock(Block):
    """What every floating-point block shares: ports, handshake, fields and model.

    A subclass names its operands (``operand_names``, each an ``in_width``-bit pattern on the
    ``operands`` stream), returns its operator component from ``operator()`` (ports named like
    the operands, plus ``y`` and, when ``latency > 0``, ``en``), computes the expected ``y``
    in ``reference()`` with the independent twins, and draws ``stimulus()``.
    """

    operand_names: ClassVar[tuple[str, ...]] = ("a", "b")
    op: ClassVar[str]  # what the subclass computes, e.g. "mul", "add" or "sub"

    @property
    def fmt(self) -> FloatFormat:
        return float_format(self.param_values)

    @property
    def in_width(self) -> int:
        return self.fmt.width

    @property
    def out_width(self) -> int:
        return self.fmt.width

    def operator(self):
        raise NotImplementedError

    def reference(self, operands: dict[str, np.ndarray]) -> np.ndarray:
        """The expected ``y`` patterns for the ``operands`` patterns (uint64 arrays)."""
        raise NotImplementedError

    def signature_members(self):
        word = unsigned(self.in_width)
        layout = data.StructLayout({name: word for name in self.operand_names})
        return {
            "operands": In(stream.Signature(layout)),
            "result": Out(stream.Signature(unsigned(self.out_width))),
        }

    def beat_relations(self):
        # one result per operand beat, latency register stages plus the output register behind
        return [("result", "operands", model.pipeline_latency(self.p.latency) + 2)]

    def equivalent_variants(self):
        # the pipeline registers move no bit: the unregistered unit is the reference
        if "latency" not in self.params.names():
            return []
        deepest = self.params["latency"].max
        return [(self.variant(latency=0), self.variant(latency=deepest))]

    def info(self):
        fmt = self.fmt
        return {
            "latency": model.pipeline_latency(self.p.latency),
            "width": fmt.width,
            "in_width": self.in_width,
            "out_width": self.out_width,
            "exp_bits": fmt.exp_bits,
            "man_bits": fmt.man_bits,
        }

    def field_dtypes(self):
        # operands and result in the format: float16, bfloat16, float32 (fp8 and other E,M
        # formats have no NumPy dtype and stay patterns)
        return {**{name: self.fmt for name in self.operand_names}, "y": self.fmt}

    def elaborate(self, platform):
        m = Module()
        m.submodules.operator = operator = self.operator()

        # One enable for every register, the operator's included: the pipeline moves as a
        # whole unless a finished result is waiting on a stalled consumer.
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.result.valid | self.result.ready),
            self.operands.ready.eq(advance),
        ]
        for name in self.operand_names:
            m.d.comb += getattr(operator, name).eq(getattr(self.operands.payload, name))
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
    def golden(self, inputs):
        # reference() uses the bit-exact NumPy twins, written independently of this RTL.
        operands = {name: np.asarray(inputs[name], dtype=np.uint64) for name in self.operand_names}
        return {"y": np.asarray(self.reference(operands), dtype=np.uint64)}

    def stimulus(self, rng, n):
        return stimulus.stimulus(rng, n, self.fmt, self.op)

    def workload(self, inputs):
        return {"pairs": int(np.shape(inputs[self.operand_names[0]])[0])}

    def model(self, workload):
        return model.estimate(workload["pairs"], (self.in_width,) * len(self.operand_names),
                              self.out_width, self.p.latency)

    # -- fields <-> beats ----------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        if any(name in fields for name in self.operand_names):
            beats["operands"] = {name: self._check_operand(fields, name)
                                 for name in self.operand_names}
        if "y" in fields:
            beats["result"] = np.asarray(fields["y"])
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "operands" in beats:
            fields.update({name: beats["operands"][name] for name in self.operand_names})
        if "result" in beats:
            fields["y"] = beats["result"]
        return fields

    def _check_operand(self, fields, key):
        # Reject what packing would silently wrap: wrong shape, non-integers, too-wide patterns.
        if key not in fields:
            names = ", ".join(repr(name) for name in self.operand_names)
            raise ValueError(f"{self.name} inputs need {names}; '{key}' is missing")
        values = np.asarray(fields[key])
        if values.ndim != 1:
            raise ValueError(f"{self.name} field '{key}' must have shape (vectors,), "
                             f"got {values.shape}")
        if values.dtype != object and values.dtype.kind not in "iu":
            raise ValueError(f"{self.name} field '{key}' must hold integer bit patterns, "
                             f"got dtype {values.dtype}")
        width = self.in_width
        if values.size and (int(values.min()) < 0 or int(values.max()) >= 1 << width):
            raise ValueError(f"{self.name} field '{key}' holds values outside "
                             f"0..{(1 << width) - 1} ({width}-bit patterns)")
        return values.astype(np.uint64)


class FunctionUnitBlock(FloatBlock):
    """A unary function unit (exp, reciprocal, ...): one operand ``a``; its stimulus is every
    bit pattern of the (16-bit) format, shuffled."""

    operand_names = ("a",)

    def stimulus(self, rng, n):
        return stimulus.unary_stimulus(rng, n, self.fmt)


@register
class FpMul(FloatBlock):
    name = "fp_mul"
    params = MUL_PARAMS
    summary = "floating-point multiply, round to nearest even, any E,M format"
    op = "mul"

    def operator(self):
        return FloatMultiplier(self.fmt, ftz=self.p.ftz, latency=self.p.latency)

    def reference(self, operands):
        return golden.fp_mul(operands["a"], operands["b"], self.fmt, self.p.ftz)


@register
class FpAdd(FloatBlock):
    name = "fp_add"
    params = ADD_PARAMS
    summary = "floating-point add or subtract, round to nearest even, any E,M format"

    @property
    def op(self):
        return self.p.op

    def operator(self):
        return FloatAdder(self.fmt, ftz=self.p.ftz, latency=self.p.latency,
                          subtract=self.p.op == "sub")

    def reference(self, operands):
        twin = golden.fp_sub if self.p.op == "sub" else golden.fp_add
        return twin(operands["a"], operands["b"], self.fmt, self.p.ftz)
