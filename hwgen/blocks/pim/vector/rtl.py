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

The datapath is a pipeline that never stalls (``pipeline.Pipeline`` gives every stage): each
operator of ``hwgen.numerics.rtl`` runs at the smallest latency that reaches the clock target
and is followed by a register; every beat carries its kind (which op's which pass) down a tag
line beside the data. Results join one delay line at their stage and leave it into an output
FIFO; a beat that produces a result is accepted only while the FIFO has an entry for every
result in flight and its own (a credit count), so back-pressure on ``y`` never reaches the
pipeline. The running fp32 sums go through an interleaved accumulator (``FloatAccumulator``),
the running maximum through a one-cycle loop; between passes the controller waits for the
statistics (mean; rsqrt of the variance; the maximum; the reciprocal of the sum) to come out of
a short pipeline of their own.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream
from amaranth.lib.wiring import In, Out

from ....core.block import Block, register
from ....core.logic import StateMachine, SyncFIFO, delay, equals
from ....core.memories import simple_dual_port
from ....numerics.rtl import (FloatAccumulator, FloatAdder, FloatConverter, FloatExp, FloatFMA,
                             FloatGelu, FloatInverseSqrt, FloatMinMax, FloatMultiplier,
                             FloatReciprocal)
from . import golden
from . import model as vector_model
from .params import PARAMS
from .pipeline import KINDS, PRODUCING, RUNNING_MAX, SUMMING, pipeline
from .units import BF16, FP32, Units, attach, reciprocal_table, reduce_tree, staged


# The operators that read x (each from its own copy) and the beats each takes x for.
X_USERS = {
    "add": ("add", "softmax_middle"),     # x + r; x - max
    "gelu": ("gelu",),
    "scale": ("softmax_output",),         # e * (1 / sum)
    "fp32": ("layernorm_load", "layernorm_middle", "layernorm_output"),
}


class Op(enum.Enum, shape=2):
    LAYERNORM = golden.OP_CODES["layernorm"]
    SOFTMAX = golden.OP_CODES["softmax"]
    GELU = golden.OP_CODES["gelu"]
    ADD = golden.OP_CODES["add"]


PHASES = (
    "IDLE",     # waiting for an op beat
    "STREAM",   # ADD, GELU: a (and b) in, y out
    "LOAD",     # SOFTMAX, LAYERNORM: a into the buffer, first statistic
    "FIRST",    # waiting for the first statistic (the maximum; the mean)
    "MIDDLE",   # second statistic (and gamma into its buffer)
    "SECOND",   # waiting for the second (1 / sum; rsqrt(var + eps))
    "OUTPUT",   # y out (beta in)
)


@register
class PimVectorUnit(Block):
    name = "pim_vector_unit"
    params = PARAMS
    summary = "PIM-GPT ASIC vector unit: LayerNorm, softmax, GELU, residual add on bf16 vectors"
    # the formal checks' point: every operator at latency 0 (a target below the slowest one's
    # latency-0 Fmax), so that a result leaves within the bounded check's depth
    formal_params = {"target_mhz": 9.0}

    @property
    def buffer_depth(self) -> int:
        return golden.beats_of(self.p.max_len, self.p.lanes)

    @property
    def pipeline(self):
        return pipeline(self.p.lanes, self.p.target_mhz)

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
        return {"latency": self.pipeline.output_delay, "buffer_beats": self.buffer_depth,
                "buffer_bits": 2 * self.buffer_depth * self.p.lanes * 16,
                **self.pipeline.summary(), "operator_latencies": dict(self.pipeline.latency)}

    def field_dtypes(self):
        return {"a": "bfloat16", "b": "bfloat16", "y": "bfloat16"}

    def elaborate(self, platform):
        m = Module()
        p, pipe = self.p, self.pipeline
        L = p.lanes
        units = Units(m, p.ftz, pipe.latency)
        beat_shape = self.y.payload.shape()

        # -- control state: the op and where its pass is ----------------------------------------
        phase = StateMachine(m, PHASES)
        code = Signal(Op)
        length = Signal.like(self.op.payload.length)
        remaining = Signal.like(length)    # elements from this beat on, in this pass
        beat = Signal(range(self.buffer_depth))
        lane_on = [remaining > lane for lane in range(L)]   # padding lanes are off
        last_beat = remaining <= L
        streaming, loading = phase.is_in("STREAM"), phase.is_in("LOAD")
        middle_pass, output_pass = phase.is_in("MIDDLE"), phase.is_in("OUTPUT")
        is_softmax, is_add = code == Op.SOFTMAX, code == Op.ADD
        # (LAYERNORM's code is 0: a plain comparison would be a logical not of the 2-bit code,
        # which Verilator flags)
        is_layernorm = equals(code.as_value(), Op.LAYERNORM.value)

        # -- memories: read synchronously (a block RAM's output is slow), registered once more
        # before any logic --------------------------------------------------------------------
        # The unit never uses a read of a word in the cycle that word is written: a pass reads
        # the buffer only after the pass that wrote it has finished its writes (the middle pass
        # waits for the load pass's statistic, the output pass for the sum of the middle pass's
        # e), and the reads made while a pass writes (x in the load and middle passes, gamma in
        # the middle pass) are either discarded or of a beat other than the one being written
        # (the middle pass writes e a pipeline's length behind the beat it reads).
        depth = self.buffer_depth
        x_write, x_read = simple_dual_port(m, "x_buffer", shape=beat_shape, depth=depth)
        g_write, g_read = simple_dual_port(m, "g_buffer", shape=beat_shape, depth=depth)
        m.submodules.inv_n = inv_n_rom = reciprocal_table(p.max_len)
        inv_n_read = inv_n_rom.read_port()
        inv_n = Signal(32)
        m.d.comb += [x_read.addr.eq(beat), inv_n_read.addr.eq(length)]
        m.d.sync += inv_n.eq(inv_n_read.data)

        # -- the tag line: every beat's kind, lanes and position, one register per stage --------
        tag_layout = data.StructLayout({
            "kind": data.StructLayout({kind: 1 for kind in KINDS}),
            "last": 1, "lane_on": L, "beat": range(self.buffer_depth)})
        fire = Signal()      # the current pass takes one beat in this cycle
        tags = [Signal(tag_layout, name="tag0")]
        kind_now = {
            "add": streaming & is_add, "gelu": streaming & ~is_add,
            "softmax_load": loading & is_softmax, "softmax_middle": middle_pass & is_softmax,
            "softmax_output": output_pass & is_softmax,
            "layernorm_load": loading & is_layernorm,
            "layernorm_middle": middle_pass & is_layernorm,
            "layernorm_output": output_pass & is_layernorm,
        }
        m.d.comb += [getattr(tags[0].kind, kind).eq(fire & now) for kind, now in kind_now.items()]
        m.d.comb += [tags[0].last.eq(last_beat), tags[0].lane_on.eq(Cat(*lane_on)),
                     tags[0].beat.eq(beat)]
        for stage in range(1, pipe.tagged + 1):
            tag = Signal(tag_layout, name=f"tag{stage}")
            m.d.sync += tag.eq(tags[-1])
            tags.append(tag)

        def kind_at(stage: int, *kinds: str):
            """The beat at ``stage`` is of one of ``kinds``."""
            return Cat(*(getattr(tags[stage].kind, kind) for kind in kinds)).any()

        # -- INPUT: a and b registered (the x buffer's read data arrives beside them) -----------
        in_a, in_b = Signal(beat_shape), Signal(beat_shape)
        m.d.sync += [in_a.eq(self.a.payload), in_b.eq(self.b.payload)]

        # -- statistics registers (latched below, constant during the passes that read them) ---
        peak = Signal(16, init=BF16.inf(1))   # SOFTMAX: running maximum of x (load pass)
        mean, rs = Signal(32), Signal(32)     # LAYERNORM
        recip = Signal(16)                    # SOFTMAX: 1 / sum of e
        minus_peak = peak ^ 0x8000            # x - max as x + (-max): one adder for ADD, SOFTMAX

        # -- OPERAND: x from a or the buffer, the bf16 adder's second operand, max terms -------
        from_buffer = kind_at(pipe.INPUT, "softmax_middle", "softmax_output", "layernorm_middle",
                              "layernorm_output")
        input_tag = tags[pipe.INPUT]
        # x once per operator that reads it, each copy loaded only by the beats of the kinds that
        # use it. One register feeding four operators was the unit's critical path (77.2 MHz:
        # 9.5 ns of routing from x_3 through logic Yosys shared between the operators' unpacking
        # to the fp32 conversion's register); Yosys merges registers with the same input and
        # enable, so copies with one enable would be one register again.
        x = {user: [Signal(16, name=f"x_{user}_{lane}") for lane in range(L)] for user in X_USERS}
        add_b = [Signal(16, name=f"add_b_{lane}") for lane in range(L)]
        max_terms = [Signal(16, name=f"max_term_{lane}") for lane in range(L)]
        operand = Signal(beat_shape)
        m.d.comb += operand.eq(Mux(from_buffer, x_read.data, in_a))
        for user, kinds in X_USERS.items():
            with m.If(kind_at(pipe.INPUT, *kinds)):
                m.d.sync += [x[user][lane].eq(operand[lane]) for lane in range(L)]
        for lane in range(L):
            m.d.sync += [
                add_b[lane].eq(Mux(input_tag.kind.add, in_b[lane], minus_peak)),
                max_terms[lane].eq(Mux(input_tag.lane_on[lane], in_a[lane], BF16.inf(1))),
            ]

        # -- per lane: every op's element function, an operator and a register at a time ---------
        select_tag, gamma_tag = tags[pipe.d], tags[pipe.gamma_read]
        m.d.comb += g_read.addr.eq(gamma_tag.beat)
        results = {kind: [] for kind in PRODUCING}
        exps, terms = [], []
        for lane in range(L):
            # ADD: x + r; SOFTMAX middle pass: x - max, then exp; GELU; SOFTMAX output: e * r.
            added = staged(m, f"add_{lane}", units.make(FloatAdder, "add_bf16", BF16),
                           a=x["add"][lane], b=add_b[lane])
            e = staged(m, f"exp_{lane}", units.make(FloatExp, "exp", BF16), a=added)
            gelu = staged(m, f"gelu_{lane}", units.make(FloatGelu, "gelu", BF16),
                          a=x["gelu"][lane])
            scaled = staged(m, f"scale_{lane}", units.make(FloatMultiplier, "mul_bf16", BF16),
                            a=x["scale"][lane], b=recip)
            # LAYERNORM: d = x - mean; d*d in the middle pass, d*rs in the output pass.
            x32 = units.to_fp32(f"x32_{lane}", x["fp32"][lane])
            d = staged(m, f"d_{lane}", units.make(FloatAdder, "add_fp32", FP32, subtract=True),
                       a=x32, b=mean)
            factor_a = Signal(32, name=f"factor_a_{lane}")
            factor_b = Signal(32, name=f"factor_b_{lane}")
            m.d.sync += [factor_a.eq(d),
                         factor_b.eq(Mux(select_tag.kind.layernorm_output, rs, d))]
            prod = staged(m, f"prod_{lane}", units.make(FloatMultiplier, "mul_fp32", FP32),
                          a=factor_a, b=factor_b)
            gamma = Signal(16, name=f"gamma_{lane}")
            m.d.sync += gamma.eq(g_read.data[lane])
            beta = delay(m, in_b[lane], pipe.gamma - pipe.INPUT, f"beta_{lane}")
            affine = staged(m, f"affine_{lane}", units.make(FloatFMA, "fma_fp32", FP32), a=prod,
                            b=units.to_fp32(f"gamma32_{lane}", gamma),
                            c=units.to_fp32(f"beta32_{lane}", beta))
            normed = units.to_bf16(f"normed_{lane}", affine)
            for kind, value in (("add", added), ("gelu", gelu), ("softmax_output", scaled),
                                ("layernorm_output", normed)):
                results[kind].append(value)
            exps.append(e)

            # The running sum's term: x (LAYERNORM load), d*d (its middle pass), e (SOFTMAX
            # middle pass), each where its pass has it; padding lanes +0.
            e32 = units.to_fp32(f"e32_{lane}", e)
            term = Signal(32, name=f"term_{lane}")
            choices = Const(0, 32)
            for kind, value in (("softmax_middle", e32), ("layernorm_middle", prod),
                                ("layernorm_load", x32)):
                tag = tags[pipe.term[kind] - 1]
                choices = Mux(getattr(tag.kind, kind) & tag.lane_on[lane], value, choices)
            m.d.sync += term.eq(choices)
            terms.append(term)

        # -- the buffers: x while loading, e over it in SOFTMAX's middle pass, gamma in
        # LAYERNORM's middle pass -----------------------------------------------------------
        loads = kind_at(pipe.INPUT, "softmax_load", "layernorm_load")
        exp_tag = tags[pipe.exp]
        m.d.comb += [
            x_write.en.eq(loads | exp_tag.kind.softmax_middle),
            x_write.addr.eq(Mux(loads, input_tag.beat, exp_tag.beat)),
            x_write.data.eq(Mux(loads, in_a, Cat(*exps))),
            g_write.en.eq(input_tag.kind.layernorm_middle),
            g_write.addr.eq(input_tag.beat),
            g_write.data.eq(in_b),
        ]

        # -- the running sum: the beat's tree, then the interleaved accumulator ------------------
        term_valid, term_last = Signal(), Signal()
        last_of = Const(0)
        for kind in SUMMING:
            tag = tags[pipe.term[kind] - 1]
            last_of = Mux(getattr(tag.kind, kind), tag.last, last_of)
        m.d.sync += [term_valid.eq(Cat(*(getattr(tags[pipe.term[kind] - 1].kind, kind)
                                         for kind in SUMMING)).any()),
                     term_last.eq(last_of)]
        beat_sum = reduce_tree(m, "sum_tree", terms, units.fp32_adder())
        tree_stages = pipe.tree_levels * pipe.step("add_fp32")
        m.submodules.sum_acc = accumulator = FloatAccumulator(
            FP32, ftz=p.ftz, adder_latency=pipe.latency["accumulate"])
        m.d.comb += [accumulator.x.eq(beat_sum),
                     accumulator.x_valid.eq(delay(m, term_valid, tree_stages, "sum_valid")),
                     accumulator.last.eq(delay(m, term_last, tree_stages, "sum_last"))]

        # -- the running maximum: the beat's tree, then a one-cycle loop -------------------------
        beat_max = reduce_tree(m, "max_tree", max_terms,
                               lambda: units.make(FloatMinMax, "max", BF16, op="max"))
        _, _, loop_latency = RUNNING_MAX
        running_max = attach(m, "max_acc",
                             FloatMinMax(BF16, op="max", ftz=p.ftz, latency=loop_latency),
                             a=peak, b=beat_max)
        max_tag = tags[pipe.beat_max]
        with m.If(max_tag.kind.softmax_load):
            m.d.sync += peak.eq(running_max.y)

        # -- statistics between passes: from the accumulator's sum, one operator and one
        # register at a time; the controller waits for the one the next pass needs -----------
        waiting_first, waiting_second = phase.is_in("FIRST"), phase.is_in("SECOND")
        scale = attach(m, "scale", units.make(FloatMultiplier, "mul_fp32", FP32),
                       a=accumulator.y, b=inv_n)
        scaled_now = delay(m, accumulator.y_valid, pipe.latency["mul_fp32"], "scale_valid")
        mean_now = scaled_now & waiting_first & is_layernorm
        var_now = scaled_now & waiting_second & is_layernorm
        var = Signal(32)
        with m.If(mean_now):
            m.d.sync += mean.eq(scale.y)
        with m.If(var_now):
            m.d.sync += var.eq(scale.y)
        var_eps = staged(m, "var_eps", units.make(FloatAdder, "add_fp32", FP32), a=var,
                         b=Const(p.eps, 32))
        rsqrt = staged(m, "rsqrt", units.make(FloatInverseSqrt, "rsqrt", BF16),
                       a=units.to_bf16("var_eps_bf16", var_eps))
        rs_unit = attach(m, "rs_fp32", units.make(FloatConverter, "to_fp32", BF16, FP32), a=rsqrt)
        rs_now = delay(m, var_now, 1 + pipe.step("add_fp32") + pipe.step("to_bf16")
                       + pipe.step("rsqrt") + pipe.latency["to_fp32"], "rs_valid")
        with m.If(rs_now):
            m.d.sync += rs.eq(rs_unit.y)
        recip_unit = attach(m, "recip", units.make(FloatReciprocal, "recip", BF16),
                            a=units.to_bf16("sum_bf16", accumulator.y))
        recip_now = delay(m, accumulator.y_valid & waiting_second & is_softmax,
                          pipe.step("to_bf16") + pipe.latency["recip"], "recip_valid")
        with m.If(recip_now):
            m.d.sync += recip.eq(recip_unit.y)
        first_done = mean_now | (max_tag.kind.softmax_load & max_tag.last)
        second_done = rs_now | recip_now

        # -- the output: one delay line the results join at their stages, then the FIFO -------
        m.submodules.results = results_fifo = SyncFIFO(width=16 * L, depth=pipe.fifo_depth)
        line = Const(0, 16 * L)
        for stage in range(min(pipe.results.values()), pipe.output + 1):
            if stage > min(pipe.results.values()):
                registered = Signal(16 * L, name=f"line{stage}")
                m.d.sync += registered.eq(line)
                line = registered
            for kind, at in pipe.results.items():
                if at == stage:
                    line = Mux(getattr(tags[stage].kind, kind), Cat(*results[kind]), line)
        out_tag = tags[pipe.output]
        padded = [Mux(out_tag.lane_on[lane], line[16 * lane:16 * (lane + 1)], 0) for lane in range(L)]
        m.d.comb += [
            results_fifo.w_en.eq(kind_at(pipe.output, *PRODUCING)),
            results_fifo.w_data.eq(Cat(*padded)),
            self.y.valid.eq(results_fifo.r_rdy),
            self.y.payload.eq(results_fifo.r_data),
            results_fifo.r_en.eq(self.y.ready),
        ]

        # Credits: a beat that produces a result is taken only if the FIFO is sure to have an
        # entry for it and for every result already in flight. ``free`` (entries neither
        # occupied nor promised) is one register, so the condition is not a sum away.
        free = Signal(range(pipe.fifo_depth + 1), init=pipe.fifo_depth)
        room = free.any()
        produce = Signal()
        handed = self.y.valid & self.y.ready
        with m.If(produce & ~handed):
            m.d.sync += free.eq(free - 1)
        with m.Elif(handed & ~produce):
            m.d.sync += free.eq(free + 1)

        # -- sequencing -------------------------------------------------------------------------
        needs_b = Signal()   # this pass takes a beat from b
        m.d.comb += needs_b.eq((streaming & is_add) | ((middle_pass | output_pass) & is_layernorm))
        with phase.state("IDLE"):
            m.d.comb += self.op.ready.eq(1)
            with m.If(self.op.valid):
                op = self.op.payload
                m.d.sync += [code.eq(op.code), length.eq(op.length), remaining.eq(op.length),
                             beat.eq(0), peak.eq(BF16.inf(1))]
                with m.If((op.code == Op.ADD) | (op.code == Op.GELU)):
                    phase.goto("STREAM")
                with m.Else():
                    phase.goto("LOAD")
        with m.Elif(streaming):
            m.d.comb += fire.eq(self.a.valid & room & (self.b.valid | ~needs_b))
        with m.Elif(loading):
            m.d.comb += fire.eq(self.a.valid)
        with m.Elif(waiting_first):
            with m.If(first_done):
                phase.goto("MIDDLE")
        with m.Elif(middle_pass):
            m.d.comb += fire.eq(self.b.valid | ~needs_b)
        with m.Elif(waiting_second):
            with m.If(second_done):
                phase.goto("OUTPUT")
        with m.Elif(output_pass):
            m.d.comb += fire.eq(room & (self.b.valid | ~needs_b))
        m.d.comb += [
            produce.eq(fire & (streaming | output_pass)),
            self.a.ready.eq(fire & (streaming | loading)),
            self.b.ready.eq(fire & needs_b),
        ]

        # Next beat, or the wait before the next pass, or back to idle.
        with m.If(fire):
            m.d.sync += [beat.eq(beat + 1), remaining.eq(remaining - L)]
            with m.If(last_beat):
                m.d.sync += [beat.eq(0), remaining.eq(length)]
                with m.If(loading):
                    phase.goto("FIRST")
                with m.Elif(middle_pass):
                    phase.goto("SECOND")
                with m.Else():   # the stream or output pass is done
                    phase.goto("IDLE")
        return m

    # -- reference, stimulus, model ------------------------------------------------------------
    def golden(self, inputs):
        return golden.run_sequence(inputs, lanes=self.p.lanes, eps=self.p.eps, ftz=self.p.ftz,
                                   slots=self.pipeline.sum_slots)

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
        return vector_model.estimate(workload, self.p.lanes, self.op_layout().size,
                                     self.p.target_mhz)

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
