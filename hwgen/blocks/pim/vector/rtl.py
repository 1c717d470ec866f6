"""``pim_vector_unit``: PIM-GPT's ASIC vector unit. LayerNorm, softmax, GELU and the residual
add on bf16 vectors, between the in-memory GEMVs (docs/pim_vector_unit.md).

An op beat (``op``: code and length) starts one operation; its vector arrives on ``a``,
``lanes`` bf16 patterns per beat, and its second operand, if any, on ``b``: the residual for
ADD, gamma then beta for LAYERNORM. Results leave on ``y``, as many beats as the vector took.

ADD and GELU stream: one pass, one beat per cycle. SOFTMAX and LAYERNORM buffer the vector in a
memory and make three passes over it:

=========  =========================================  ============================================
pass       SOFTMAX                                    LAYERNORM
=========  =========================================  ============================================
load       x from ``a`` into the buffer; max          x from ``a`` into the buffer; fp32 sum of x
middle     e = exp(x - max) back into the buffer;     gamma from ``b`` into a second buffer; fp32
           fp32 sum of e                              sum of (x - mean)**2
output     y = e * recip(sum)                         y = (x - mean) * rsqrt(var + eps) * gamma
                                                      + beta, beta from ``b``
=========  =========================================  ============================================

Every operator is a latency-0 unit of ``hwgen.numerics.rtl``; the registers are the running
statistics, the buffers and the output register, so each pass moves one beat per cycle.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ....core.block import Block, register
from ....core.logic import StateMachine
from ....numerics.rtl import (FloatAdder, FloatExp, FloatFMA, FloatGelu, FloatInverseSqrt,
                             FloatMinMax, FloatMultiplier, FloatReciprocal)
from . import golden
from . import model as vector_model
from .params import PARAMS
from .units import BF16, FP32, Converters, fp32_adder, operator, reciprocal_table, reduce_tree


class Op(enum.Enum, shape=2):
    LAYERNORM = golden.OP_CODES["layernorm"]
    SOFTMAX = golden.OP_CODES["softmax"]
    GELU = golden.OP_CODES["gelu"]
    ADD = golden.OP_CODES["add"]


PHASES = (
    "IDLE",     # waiting for an op beat
    "STREAM",   # ADD, GELU: a (and b) in, y out
    "LOAD",     # SOFTMAX, LAYERNORM: a into the buffer, first statistic
    "MIDDLE",   # second statistic (and gamma into its buffer)
    "OUTPUT",   # y out (beta in)
)


@register
class PimVectorUnit(Block):
    name = "pim_vector_unit"
    params = PARAMS
    summary = "PIM-GPT ASIC vector unit: LayerNorm, softmax, GELU, residual add on bf16 vectors"

    @property
    def buffer_depth(self) -> int:
        return golden.beats_of(self.p.max_len, self.p.lanes)

    def op_layout(self):
        return data.StructLayout({"code": Op, "length": range(self.p.max_len + 1)})

    def signature_members(self):
        beat = data.ArrayLayout(unsigned(16), self.p.lanes)
        return {
            "op": In(stream.Signature(self.op_layout())),
            "a": In(stream.Signature(beat)),
            "b": In(stream.Signature(beat)),
            "y": Out(stream.Signature(beat)),
        }

    def info(self):
        return {"latency": vector_model.OUTPUT_REGISTER, "buffer_beats": self.buffer_depth,
                "buffer_bits": 2 * self.buffer_depth * self.p.lanes * 16}

    def field_dtypes(self):
        return {"a": "bfloat16", "b": "bfloat16", "y": "bfloat16"}

    def elaborate(self, platform):
        m = Module()
        p = self.p
        L = p.lanes
        convert = Converters(m, p.ftz)

        # -- control state: the op, where the pass is, the running statistics ---------------
        phase = StateMachine(m, PHASES)
        code = Signal(Op)
        length = Signal.like(self.op.payload.length)
        remaining = Signal.like(length)    # elements from this beat on, in this pass
        beat = Signal(range(self.buffer_depth))
        sum_x = Signal(32)                 # LAYERNORM: fp32 sum of x (load pass)
        sum_2 = Signal(32)                 # middle pass: SOFTMAX sum of e, LAYERNORM of d**2
        peak = Signal(16)                  # SOFTMAX: running maximum of x (load pass)

        lane_on = [remaining > lane for lane in range(L)]   # padding lanes are off
        last_beat = remaining <= L
        loading = phase.is_in("LOAD")
        streaming = phase.is_in("STREAM")
        middle_pass = phase.is_in("MIDDLE")
        output_pass = phase.is_in("OUTPUT")
        is_softmax = code == Op.SOFTMAX

        m.submodules.x_buffer = x_buffer = Memory(shape=self.y.payload.shape(),
                                                  depth=self.buffer_depth, init=[])
        m.submodules.g_buffer = g_buffer = Memory(shape=self.y.payload.shape(),
                                                  depth=self.buffer_depth, init=[])
        m.submodules.inv_n = inv_n_rom = reciprocal_table(p.max_len)
        x_read, g_read = x_buffer.read_port(domain="comb"), g_buffer.read_port(domain="comb")
        x_write, g_write = x_buffer.write_port(), g_buffer.write_port()
        inv_n = inv_n_rom.read_port(domain="comb")
        m.d.comb += [x_read.addr.eq(beat), g_read.addr.eq(beat), x_write.addr.eq(beat),
                     g_write.addr.eq(beat), inv_n.addr.eq(length)]

        # -- scalar statistics, combinational from the registers above ----------------------
        mean = operator(m, "mean", FloatMultiplier(FP32, ftz=p.ftz), a=sum_x, b=inv_n.data)
        var = operator(m, "var", FloatMultiplier(FP32, ftz=p.ftz), a=sum_2, b=inv_n.data)
        var_eps = operator(m, "var_eps", FloatAdder(FP32, ftz=p.ftz), a=var, b=Const(p.eps, 32))
        rsqrt = operator(m, "rsqrt", FloatInverseSqrt(BF16, ftz=p.ftz),
                         a=convert.to_bf16("var_eps_bf16", var_eps))
        rsqrt32 = convert.to_fp32("rsqrt_fp32", rsqrt)
        recip = operator(m, "recip", FloatReciprocal(BF16, ftz=p.ftz),
                         a=convert.to_bf16("sum_bf16", sum_2))
        # x - max as x + (-max): one adder serves ADD and SOFTMAX.
        minus_peak = Signal(16)
        m.d.comb += minus_peak.eq(peak ^ 0x8000)

        # -- per lane: every op's element function --------------------------------------------
        sum_terms, max_terms, results, exps = [], [], [], []
        for lane in range(L):
            x_in, x_buf = self.a.payload[lane], x_read.data[lane]
            b_in, g_buf = self.b.payload[lane], g_read.data[lane]
            # LAYERNORM: d = x - mean; d*d in the middle pass, d*rs in the output pass.
            x32 = convert.to_fp32(f"x32_{lane}", Mux(loading, x_in, x_buf))
            d = operator(m, f"d_{lane}", FloatAdder(FP32, ftz=p.ftz, subtract=True),
                         a=x32, b=mean)
            prod = operator(m, f"prod_{lane}", FloatMultiplier(FP32, ftz=p.ftz),
                            a=d, b=Mux(output_pass, rsqrt32, d))
            affine = operator(m, f"affine_{lane}", FloatFMA(FP32, ftz=p.ftz), a=prod,
                              b=convert.to_fp32(f"gamma32_{lane}", g_buf),
                              c=convert.to_fp32(f"beta32_{lane}", b_in))
            normed = convert.to_bf16(f"normed_{lane}", affine)
            # ADD: x + r; SOFTMAX middle pass: x - max, then exp.
            added = operator(m, f"add_{lane}", FloatAdder(BF16, ftz=p.ftz),
                             a=Mux(streaming, x_in, x_buf), b=Mux(streaming, b_in, minus_peak))
            e = operator(m, f"exp_{lane}", FloatExp(BF16, ftz=p.ftz), a=added)
            gelu = operator(m, f"gelu_{lane}", FloatGelu(BF16, ftz=p.ftz), a=x_in)
            scaled = operator(m, f"scale_{lane}", FloatMultiplier(BF16, ftz=p.ftz),
                              a=x_buf, b=recip)
            exps.append(e)

            term = Mux(loading, x32, Mux(is_softmax, convert.to_fp32(f"e32_{lane}", e), prod))
            sum_terms.append(Mux(lane_on[lane], term, 0))
            max_terms.append(Mux(lane_on[lane], x_in, BF16.inf(1)))
            result = Signal(16, name=f"result_{lane}")
            m.d.comb += result.eq(Mux(code == Op.ADD, added,
                                  Mux(code == Op.GELU, gelu,
                                  Mux(is_softmax, scaled, normed))))
            results.append(Mux(lane_on[lane], result, 0))

        # -- reductions: the beat's tree, then the running value --------------------------------
        beat_sum = reduce_tree(m, "sum_tree", sum_terms, fp32_adder(p.ftz))
        running_sum = operator(m, "sum_acc", FloatAdder(FP32, ftz=p.ftz),
                               a=Mux(loading, sum_x, sum_2), b=beat_sum)
        beat_max = reduce_tree(m, "max_tree", max_terms,
                               lambda: FloatMinMax(BF16, op="max", ftz=p.ftz))
        running_max = operator(m, "max_acc", FloatMinMax(BF16, op="max", ftz=p.ftz),
                               a=peak, b=beat_max)

        # -- sequencing -------------------------------------------------------------------------
        out_free = ~self.y.valid | self.y.ready
        needs_b = Signal()   # this pass takes a beat from b
        fire = Signal()      # this pass moves one beat in this cycle
        produce = Signal()   # ... and that beat's result goes to y
        # Only LAYERNORM and SOFTMAX reach the middle and output passes.
        m.d.comb += needs_b.eq(Mux(streaming, code == Op.ADD, ~is_softmax & ~loading))
        with phase.state("IDLE"):
            m.d.comb += self.op.ready.eq(1)
            with m.If(self.op.valid):
                op = self.op.payload
                m.d.sync += [
                    code.eq(op.code), length.eq(op.length), remaining.eq(op.length),
                    beat.eq(0), sum_x.eq(0), sum_2.eq(0), peak.eq(BF16.inf(1)),
                ]
                with m.If((op.code == Op.ADD) | (op.code == Op.GELU)):
                    phase.goto("STREAM")
                with m.Else():
                    phase.goto("LOAD")
        with m.Elif(streaming):
            m.d.comb += [fire.eq(self.a.valid & out_free & (self.b.valid | ~needs_b)),
                         produce.eq(fire)]
        with m.Elif(loading):
            m.d.comb += fire.eq(self.a.valid)
            with m.If(fire):
                m.d.sync += [sum_x.eq(running_sum), peak.eq(running_max)]
        with m.Elif(middle_pass):
            m.d.comb += fire.eq(self.b.valid | ~needs_b)
            with m.If(fire):
                m.d.sync += sum_2.eq(running_sum)
        with m.Elif(output_pass):
            m.d.comb += [fire.eq(out_free & (self.b.valid | ~needs_b)), produce.eq(fire)]
        m.d.comb += [
            self.a.ready.eq(fire & (streaming | loading)),
            self.b.ready.eq(fire & needs_b),
        ]

        # The buffers: x while loading, e over it in SOFTMAX's middle pass, gamma in
        # LAYERNORM's middle pass.
        m.d.comb += [
            x_write.en.eq(fire & (loading | (middle_pass & is_softmax))),
            g_write.en.eq(fire & middle_pass & ~is_softmax),
        ]
        for lane in range(L):
            m.d.comb += [x_write.data[lane].eq(Mux(loading, self.a.payload[lane], exps[lane])),
                         g_write.data[lane].eq(self.b.payload[lane])]

        # Next beat, or the next pass from the first beat, or back to idle.
        with m.If(fire):
            m.d.sync += [beat.eq(beat + 1), remaining.eq(remaining - L)]
            with m.If(last_beat):
                m.d.sync += [beat.eq(0), remaining.eq(length)]
                with m.If(loading):
                    phase.goto("MIDDLE")
                with m.Elif(middle_pass):
                    phase.goto("OUTPUT")
                with m.Else():   # the stream or output pass is done
                    phase.goto("IDLE")

        with m.If(out_free):
            m.d.sync += self.y.valid.eq(produce)
            for lane in range(L):
                m.d.sync += self.y.payload[lane].eq(results[lane])
        return m

    # -- reference, stimulus, model ------------------------------------------------------------
    def golden(self, inputs):
        return golden.run_sequence(inputs, lanes=self.p.lanes, eps=self.p.eps, ftz=self.p.ftz)

    def stimulus(self, rng, n):
        ops = golden.random_ops(rng, n, self.p.lanes, min(self.p.max_len, 40))
        return golden.pack_sequence(ops, self.p.lanes)

    def sequence(self, inputs) -> list[tuple[str, int]]:
        """``(op, length)`` of every op in ``inputs``."""
        return [(golden.OPS[int(c)], int(n)) for c, n in zip(np.asarray(inputs["op"]).tolist(),
                                                             np.asarray(inputs["length"]).tolist())]

    def workload(self, inputs):
        return vector_model.workload(self.sequence(inputs), self.p.lanes)

    def model(self, workload):
        return vector_model.estimate(workload, self.p.lanes, self.op_layout().size)

    # -- fields <-> beats ----------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        if any(key in fields for key in ("op", "length", "a", "b")):
            beats.update(self._check_inputs(fields))
        if "y" in fields:
            beats["y"] = self._patterns(fields, "y")
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "op" in beats:
            fields["op"], fields["length"] = beats["op"]["code"], beats["op"]["length"]
        for port in ("a", "b", "y"):
            if port in beats:
                fields[port] = beats[port]
        return fields

    def _patterns(self, fields, key):
        # Reject what packing would silently wrap: wrong shape, non-integers, too-wide patterns.
        values = np.asarray(fields[key])
        if values.ndim != 2 or values.shape[1] != self.p.lanes:
            raise ValueError(f"{self.name} field '{key}' must have shape (beats, {self.p.lanes}), "
                             f"got {values.shape}")
        if values.size and (values.dtype.kind not in "iu" or int(values.min()) < 0
                            or int(values.max()) > 0xFFFF):
            raise ValueError(f"{self.name} field '{key}' must hold bf16 bit patterns 0..65535")
        return values.astype(np.uint64)

    def _check_inputs(self, fields):
        missing = [key for key in ("op", "length", "a", "b") if key not in fields]
        if missing:
            raise ValueError(f"{self.name} inputs need op, length, a and b; missing "
                             f"{', '.join(repr(name) for name in missing)}")
        codes, lengths = np.asarray(fields["op"]), np.asarray(fields["length"])
        if codes.ndim != 1 or lengths.shape != codes.shape:
            raise ValueError(f"{self.name} fields 'op' and 'length' must be 1-d and equally long")
        if codes.size and (int(codes.min()) < 0 or int(codes.max()) >= len(golden.OPS)):
            raise ValueError(f"{self.name} field 'op' holds codes outside 0..{len(golden.OPS) - 1} "
                             f"({', '.join(golden.OPS)})")
        if lengths.size and (int(lengths.min()) < 1 or int(lengths.max()) > self.p.max_len):
            raise ValueError(f"{self.name} field 'length' holds lengths outside 1..{self.p.max_len} "
                             f"(max_len)")
        a, b = self._patterns(fields, "a"), self._patterns(fields, "b")
        need_a = need_b = 0
        for op, n in self.sequence(fields):
            beats_a, beats_b = golden.operand_beats(op, n, self.p.lanes)
            need_a, need_b = need_a + beats_a, need_b + beats_b
        if (len(a), len(b)) != (need_a, need_b):
            raise ValueError(f"{self.name}: the ops need {need_a} beats on a and {need_b} on b, "
                             f"the fields hold {len(a)} and {len(b)}")
        return {"op": {"code": codes.astype(np.uint64), "length": lengths.astype(np.uint64)},
                "a": a, "b": b}
