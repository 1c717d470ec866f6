"""``mac_array``: a streaming, fully pipelined dot-product unit.

Each beat on ``operands`` carries ``lanes`` pairs (a[i], b[i]). The pairs are multiplied
lane-wise into a row of product registers, reduced by a binary adder tree that holds
``tree_stages`` register levels, and accumulated over ``vector_length`` beats; the sum of each
vector leaves on ``result``. The whole pipeline advances together whenever its output register
is empty or being emptied, so it takes one beat per cycle unless ``result`` is back-pressured.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ...core.block import Block, register
from . import golden, model
from .params import PARAMS, acc_width, required_acc_width, tree_depth


def registered_levels(depth: int, stages: int) -> set[int]:
    """Adder levels followed by a register: spread evenly, the last level always registered
    when any is, so the accumulator adder sits alone in the final segment."""
    return {(k + 1) * depth // stages - 1 for k in range(stages)}


@register
class MacArray(Block):
    name = "mac_array"
    params = PARAMS
    summary = "streaming dot-product unit: lane-wise multiply, adder tree, accumulate"

    @property
    def operand_shape(self):
        return (signed if self.p.signed else unsigned)(self.p.width)

    @property
    def acc_shape(self):
        return (signed if self.p.signed else unsigned)(acc_width(self.param_values))

    def signature_members(self):
        lane_operands = data.ArrayLayout(self.operand_shape, self.p.lanes)
        return {
            "operands": In(stream.Signature(data.StructLayout({"a": lane_operands, "b": lane_operands}))),
            "result": Out(stream.Signature(self.acc_shape)),
        }

    def info(self):
        return {
            "acc_width": acc_width(self.param_values),
            "acc_width_required": required_acc_width(
                self.p.lanes, self.p.width, self.p.signed, self.p.vector_length),
            "latency": model.pipeline_latency(self.p.tree_stages),
        }

    def equivalent_variants(self):
        # registers in the adder tree delay the sums, they change none
        return [(self.variant(tree_stages=0), self.variant(tree_stages=tree_depth(self.p.lanes)))]

    def field_dtypes(self):
        # a, b: width-bit integers, y: acc_width-bit; in int8..int64 (uint8..uint64 unsigned),
        # Python ints beyond 64 bits
        kind = "int" if self.p.signed else "uint"
        operand = f"{kind}{self.p.width}"
        return {"a": operand, "b": operand, "y": f"{kind}{acc_width(self.param_values)}"}

    def elaborate(self, platform):
        m = Module()
        p = self.p

        # One enable for every register: the pipeline moves as a whole unless a finished
        # result is waiting on a stalled consumer.
        advance = Signal()
        m.d.comb += advance.eq(~self.result.valid | self.result.ready)
        m.d.comb += self.operands.ready.eq(advance)

        products = [Signal.like(a * b, name=f"product{lane}")
                    for lane, (a, b) in enumerate(zip(self.operands.payload.a, self.operands.payload.b))]
        products_valid = Signal()
        with m.If(advance):
            m.d.sync += products_valid.eq(self.operands.valid)
            for lane, product in enumerate(products):
                m.d.sync += product.eq(self.operands.payload.a[lane] * self.operands.payload.b[lane])

        level, level_valid = products, products_valid
        depth = tree_depth(p.lanes)
        registers_after = registered_levels(depth, p.tree_stages) if p.tree_stages else set()
        for index in range(depth):
            sums = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                sums.append(level[-1])
            if index in registers_after:
                staged = [Signal.like(s, name=f"tree{index}_{i}") for i, s in enumerate(sums)]
                staged_valid = Signal(name=f"tree{index}_valid")
                with m.If(advance):
                    m.d.sync += [reg.eq(s) for reg, s in zip(staged, sums)]
                    m.d.sync += staged_valid.eq(level_valid)
                level, level_valid = staged, staged_valid
            else:
                level = sums
        beat_sum = level[0]

        accumulator = Signal(self.acc_shape)
        if p.vector_length == 1:
            last_beat = 1
        else:
            beat = Signal(range(p.vector_length))
            last_beat = beat == p.vector_length - 1
            with m.If(advance & level_valid):
                m.d.sync += beat.eq(beat + 1)
                with m.If(last_beat):
                    m.d.sync += beat.eq(0)
        with m.If(advance):
            m.d.sync += self.result.valid.eq(level_valid & last_beat)
            with m.If(level_valid):
                m.d.sync += accumulator.eq(accumulator + beat_sum)
                with m.If(last_beat):
                    m.d.sync += [
                        self.result.payload.eq(accumulator + beat_sum),
                        accumulator.eq(0),
                    ]
        return m

    # -- reference, stimulus, model ------------------------------------------------------------
    def golden(self, inputs):
        return {"y": golden.dot_products(inputs["a"], inputs["b"])}

    def stimulus(self, rng, n):
        p = self.p
        return golden.stimulus(rng, n, p.vector_length, p.lanes, p.width, p.signed)

    def workload(self, inputs):
        return {"vectors": int(inputs["a"].shape[0])}

    def model(self, workload):
        p = self.p
        return model.estimate(workload["vectors"], p.vector_length, p.lanes, p.width,
                              p.tree_stages, acc_width(self.param_values))

    def fields_to_beats(self, fields):
        beats = {}
        if "a" in fields or "b" in fields:
            shape = (-1, self.p.lanes)
            beats["operands"] = {"a": self._check_operands(fields, "a").reshape(shape),
                                 "b": self._check_operands(fields, "b").reshape(shape)}
        if "y" in fields:
            beats["result"] = fields["y"]
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "operands" in beats:
            shape = (-1, self.p.vector_length, self.p.lanes)
            fields["a"] = beats["operands"]["a"].reshape(shape)
            fields["b"] = beats["operands"]["b"].reshape(shape)
        if "result" in beats:
            fields["y"] = beats["result"]
        return fields

    def _check_operands(self, fields, key):
        p = self.p
        values = fields.get(key)
        if values is None:
            raise ValueError(f"mac_array inputs need both 'a' and 'b', '{key}' is missing")
        values = np.asarray(values)
        if values.dtype != object and values.dtype.kind not in "iu":
            raise ValueError(f"mac_array field '{key}' must hold integers, got dtype {values.dtype}")
        expected = (p.vector_length, p.lanes)
        if values.ndim != 3 or values.shape[1:] != expected:
            raise ValueError(f"mac_array field '{key}' must have shape (vectors, {expected[0]}, "
                             f"{expected[1]}), got {values.shape}")
        low = -(1 << (p.width - 1)) if p.signed else 0
        high = (1 << (p.width - 1 if p.signed else p.width)) - 1
        if values.size and (int(values.min()) < low or int(values.max()) > high):
            raise ValueError(f"mac_array field '{key}' holds values outside {low}..{high} "
                             f"({p.width}-bit {'signed' if p.signed else 'unsigned'})")
        return values.astype(np.int64)
