"""Adapters that join ``pim_channel`` and ``pim_vector_unit`` streams in a dataflow graph
(docs/pim_decoder.md; the generic ``stream_split`` and ``stream_fork`` are the ``stream``
family):

* ``pim_acc_to_bf16``: a channel's ``y`` beats (``banks`` accumulators, ``count`` of them
  valid, ``last`` ending a GEMV) -> dense bf16 vectors, ``lanes`` per beat, each vector's last
  beat padded with +0: what a vector unit's ``a`` or the next channel's ``x`` expects.
* ``pim_host_splice``: host beats for a channel in, run-time elements in, host beats out: a
  LOAD beat flagged ``splice`` takes its data from a run-time element, so an activation
  computed during the run (a new token's key or value) is written into the channel's arrays.

Every block registers its output (one beat per cycle; ``ready = ~out.valid | out.ready``) and
is checked bit-exactly against a golden model written from the definition.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ....core.block import Block, register
from ....numerics import golden as g
from ....numerics.formats import PRESETS
from ....numerics.rtl import FloatConverter
from ....core.fields import unsigned_field
from ....core.ints import index_bits
from ....core.logic import counter, equals, select
from ...common import dtypes
from ...common.stream import column_layout
from . import golden, model
from .params import ACC_TO_BF16_PARAMS, HOST_FIELDS, SPLICE_FIELDS, SPLICE_PARAMS

BF16 = PRESETS["bf16"]


# -- pim_acc_to_bf16 ----------------------------------------------------------------------------

def acc_beat_layout(banks: int, acc_bits: int) -> data.StructLayout:
    """The layout of ``pim_channel``'s ``y`` beats."""
    return data.StructLayout({
        "acc": data.ArrayLayout(unsigned(acc_bits), banks),
        "count": unsigned(index_bits(banks + 1)),
        "last": unsigned(1),
    })


@register
class AccToBf16(Block):
    name = "pim_acc_to_bf16"
    params = ACC_TO_BF16_PARAMS
    summary = "pim_channel y beats -> dense bf16 vectors (RNE), last beat of a vector padded +0"

    LATENCY = model.ACC_TO_BF16_LATENCY

    @property
    def acc_format(self):
        return PRESETS[self.p.acc]

    def field_dtypes(self):
        return {"acc": self.acc_format, "y": "bfloat16"}

    def signature_members(self):
        return {
            "acc": In(stream.Signature(acc_beat_layout(self.p.banks, self.acc_format.width))),
            "y": Out(stream.Signature(column_layout(self.p.lanes, 16))),
        }

    def elaborate(self, platform):
        m = Module()
        p = self.p
        # One accumulator per cycle: a channel delivers a y beat per RD_MAC, many cycles apart,
        # so a single converter keeps up and the packing stays a shift into a staging beat.
        held = Signal(self.acc.payload.shape())      # the beat being unpacked
        holding = Signal()
        index = counter(p.banks)                    # its next accumulator
        stage = Signal(column_layout(p.lanes, 16))         # the output beat being filled
        fill = counter(p.lanes)

        element = Signal(16)
        if p.acc == "fp32":
            m.submodules.round = converter = FloatConverter(PRESETS["fp32"], BF16, ftz=p.ftz)
            m.d.comb += [converter.a.eq(select(held.acc, index)), element.eq(converter.y)]
        else:
            m.d.comb += element.eq(select(held.acc, index))

        out_free = ~self.y.valid | self.y.ready
        step = holding & out_free
        has_element = index < held.count
        # A beat takes max(1, count) steps: one per valid accumulator, one if it has none.
        finishing = step & (index + 1 >= held.count)
        full = has_element & equals(fill, p.lanes - 1)
        flush = held.last & (has_element | fill.any())
        emit = step & (full | (finishing & flush))

        with m.If(out_free):
            m.d.sync += self.y.valid.eq(emit)
        for lane in range(p.lanes):
            placed = Mux(has_element & equals(fill, lane), element, stage[lane])
            with m.If(emit):
                m.d.sync += self.y.payload[lane].eq(placed)
            with m.If(step):
                # After an emitted beat the stage is cleared, so padding lanes are +0.
                m.d.sync += stage[lane].eq(Mux(emit, 0, placed))
        with m.If(step):
            m.d.sync += fill.eq(Mux(emit, 0, fill + has_element))
            m.d.sync += index.eq(Mux(finishing, 0, index + 1))
            with m.If(finishing):
                m.d.sync += holding.eq(0)

        m.d.comb += self.acc.ready.eq(~holding | finishing)
        with m.If(self.acc.valid & self.acc.ready):
            m.d.sync += [held.eq(self.acc.payload), holding.eq(1), index.eq(0)]
        return m

    # -- reference, stimulus, model -------------------------------------------------------
    def _beats(self, fields):
        p = self.p
        bits = self.acc_format.width
        acc = unsigned_field(self.name, "acc", fields, (None, p.banks), bits)
        count = unsigned_field(self.name, "count", fields, (len(acc),), index_bits(p.banks + 1))
        last = unsigned_field(self.name, "last", fields, (len(acc),), 1)
        if count.size and int(count.max()) > p.banks:
            raise ValueError(f"{self.name} field 'count' holds counts above banks={p.banks}")
        return acc, count.astype(np.int64), last.astype(np.int64)

    def golden(self, inputs):
        acc, count, last = self._beats(inputs)
        return {"y": golden.acc_to_bf16(acc, count, last, self.acc_format, self.p.lanes, self.p.ftz)}

    def stimulus(self, rng, n):
        """Channel-like beats: mostly full, a short count before each `last`, some beats with
        no valid accumulator; values near 1 with fp32 specials and round-to-nearest-even
        ties (bf16 keeps the top 16 bits: low halves 0x8000 and 0x7FFF/0x8001 around it)."""
        p = self.p
        bits = self.acc_format.width
        last = (rng.random(n) < 0.3).astype(np.int64)
        if n:
            last[-1] = 1
        count = np.where(last == 1, rng.integers(0, p.banks, size=n, endpoint=True), p.banks)
        count[rng.random(n) < 0.05] = 0
        fmt = self.acc_format
        acc = g.encode(rng.normal(0.0, 3.0, size=(n, p.banks)), fmt)
        if bits == 32:
            ties = rng.random(acc.shape) < 0.2
            acc[ties] = (acc[ties] & np.uint64(0xFFFF0000)) | rng.choice(
                np.array([0x8000, 0x7FFF, 0x8001, 0], dtype=np.uint64), size=int(ties.sum()))
        specials = g.special_values(fmt)
        hit = rng.random(acc.shape) < 0.1
        acc[hit] = rng.choice(specials, size=int(hit.sum()))
        return {"acc": acc.astype(np.uint64), "count": count, "last": last}

    def workload(self, inputs):
        """Steps (cycles after the first accept) the unpacking takes, unstalled, and the step
        that emits the last output beat: each input beat takes max(1, count) steps and the
        next beat is accepted in its last step."""
        _, count, last = self._beats(inputs)
        return model.acc_to_bf16_steps(count, last, self.p.lanes)

    def model(self, workload):
        return model.acc_to_bf16(workload, self.p.banks, self.p.lanes, self.acc_format.width)

    # -- fields <-> beats --------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        if "acc" in fields:
            acc, count, last = self._beats(fields)
            beats["acc"] = {"acc": acc, "count": count, "last": last}
        if "y" in fields:
            beats["y"] = unsigned_field(self.name, "y", fields, (None, self.p.lanes), 16)
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "acc" in beats:
            fields.update({key: np.asarray(beats["acc"][key]) for key in ("acc", "count", "last")})
        if "y" in beats:
            fields["y"] = np.asarray(beats["y"])
        return fields


# -- pim_host_splice ---------------------------------------------------------------------------



@register
class HostSplice(Block):
    name = "pim_host_splice"
    params = SPLICE_PARAMS
    summary = "splice run-time elements into a pim_channel's LOAD beats (KV-cache append)"

    LATENCY = model.SPLICE_LATENCY

    def channel_host_layout(self) -> data.StructLayout:
        """The channel's own host layout, taken from a channel of the same geometry so the
        two can never disagree."""
        from ..channel.rtl import PimChannel
        p = self.p
        channel = PimChannel(banks=p.banks, bank_groups=1, lanes=p.lanes, dtype=p.dtype,
                             row_columns=p.row_columns, bank_rows=p.bank_rows, gb_columns=p.gb_columns)
        return channel.signature.members["host"].signature.members["payload"].shape

    @property
    def element_bits(self) -> int:
        return dtypes.element_bits(self.p.dtype)

    def field_dtypes(self):
        # the elements (data columns, and the data of host beats) in dtype
        element = dtypes.element_format(self.p.dtype) or self.p.dtype
        return {"host_data": element, "data": element, "out_data": element}

    def _element_patterns(self, fields, key):
        """``fields`` with an integer dtype's elements given as two's complement values
        (an int8 array) turned into their patterns."""
        values = np.asarray(fields[key]) if key in fields else None
        if (values is None or dtypes.is_float(self.p.dtype) or values.dtype.kind != "i"
                or not values.size or int(values.min()) < -(1 << (self.element_bits - 1))):
            return fields
        mask = np.uint64((1 << self.element_bits) - 1)
        return {**fields, key: values.astype(np.int64).view(np.uint64) & mask}

    def signature_members(self):
        host = self.channel_host_layout()
        flagged = data.StructLayout({
            **{name: host.members[name] for name in HOST_FIELDS},
            "splice": unsigned(1),            # LOAD whose data is the next run-time element
            "lane": unsigned(index_bits(self.p.lanes)),   # which element of the run-time column
            "pop": unsigned(1),               # the last splice that uses this run-time column
        })
        return {
            "host": In(stream.Signature(flagged)),
            "data": In(stream.Signature(column_layout(self.p.lanes, self.element_bits))),
            "out": Out(stream.Signature(host)),
        }

    def elaborate(self, platform):
        m = Module()
        p = self.p
        beat = self.host.payload
        free = ~self.out.valid | self.out.ready
        m.d.comb += [
            self.host.ready.eq(free & (~beat.splice | self.data.valid)),
            self.data.ready.eq(self.host.valid & self.host.ready & beat.splice & beat.pop),
        ]
        take = self.host.valid & self.host.ready
        with m.If(free):
            m.d.sync += self.out.valid.eq(take)
        with m.If(take):
            for name in HOST_FIELDS[:-1]:
                m.d.sync += getattr(self.out.payload, name).eq(getattr(beat, name))
            element = select(self.data.payload, beat.lane)
            for bank in range(p.banks):
                for lane in range(p.lanes):
                    m.d.sync += self.out.payload.data[bank][lane].eq(
                        Mux(beat.splice, element, beat.data[bank][lane]))
        return m

    # -- reference, stimulus, model ----------------------------------------------------------
    def _field_bits(self, name) -> int:
        layout = self.signature.members["host"].signature.members["payload"].shape
        if name == "mask":
            return 1
        if name == "data":
            return self.element_bits
        return Shape.cast(layout.members[name]).width

    def _host(self, fields, prefix, names):
        n = len(np.asarray(fields[f"{prefix}kind"])) if f"{prefix}kind" in fields else 0
        p = self.p
        out = {}
        for name in names:
            shape = (n, p.banks, p.lanes) if name in ("mask", "data") else (n,)
            given = self._element_patterns(fields, f"{prefix}{name}") if name == "data" else fields
            out[name] = unsigned_field(self.name, f"{prefix}{name}", given, shape, self._field_bits(name))
        return out

    def _host_inputs(self, fields):
        host = self._host(fields, "host_", HOST_FIELDS + SPLICE_FIELDS)
        if host["lane"].size and int(host["lane"].max()) >= self.p.lanes:
            raise ValueError(f"{self.name} field 'host_lane' holds lanes above {self.p.lanes - 1}")
        return host

    def _columns(self, fields):
        return unsigned_field(self.name, "data", self._element_patterns(fields, "data"),
                              (None, self.p.lanes), self.element_bits)

    def _inputs(self, fields):
        return self._host_inputs(fields), self._columns(fields)

    def golden(self, inputs):
        host, columns = self._inputs(inputs)
        return golden.splice(host, columns)

    def stimulus(self, rng, n):
        """LOAD and GEMV beats with random fields; one LOAD in two spliced, popping every
        few splices, and the data columns those pops need."""
        p = self.p
        fields = {}
        for name in HOST_FIELDS + SPLICE_FIELDS:
            shape = (n, p.banks, p.lanes) if name in ("mask", "data") else (n,)
            bits = self._field_bits(name)
            fields[f"host_{name}"] = rng.integers(0, 1 << bits, size=shape, dtype=np.uint64)
        splice = (fields["host_kind"] == 0) & (rng.random(n) < 0.5)
        fields["host_splice"] = splice.astype(np.uint64)
        fields["host_lane"] = rng.integers(0, p.lanes, size=n).astype(np.uint64)
        pop = splice & (rng.random(n) < 0.4)
        spliced = np.flatnonzero(splice)
        if spliced.size:
            pop[spliced[-1]] = True
        fields["host_pop"] = pop.astype(np.uint64)
        fields["data"] = rng.integers(0, 1 << self.element_bits, size=(int(pop.sum()), p.lanes),
                                      dtype=np.uint64)
        return fields

    def workload(self, inputs):
        return {"beats": len(np.asarray(inputs["host_kind"])), "columns": len(np.asarray(inputs["data"]))}

    def model(self, workload):
        n = workload["beats"]
        beat_bytes = (self.signature.members["out"].signature.members["payload"].shape.size + 7) // 8
        column_bytes = self.p.lanes * ((self.element_bits + 7) // 8)
        return model.splice(n, workload["columns"], beat_bytes, column_bytes)

    # -- fields <-> beats --------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        # Either input alone converts: in a graph the data columns arrive from another block.
        if "host_kind" in fields:
            beats["host"] = self._host_inputs(fields)
        if "data" in fields:
            beats["data"] = self._columns(fields)
        if "out_kind" in fields:
            beats["out"] = self._host(fields, "out_", HOST_FIELDS)
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        for port, prefix in (("host", "host_"), ("out", "out_")):
            if port in beats:
                fields.update({f"{prefix}{name}": np.asarray(value) for name, value in beats[port].items()})
        if "data" in beats:
            fields["data"] = np.asarray(beats["data"])
        return fields

    def vector_count(self, inputs):
        key = "host_kind" if "host_kind" in inputs else "out_kind"
        return len(np.asarray(inputs[key]))
