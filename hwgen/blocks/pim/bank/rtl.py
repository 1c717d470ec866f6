"""``pim_bank_mac``: one DRAM bank's MAC unit (``BankMac``) behind a stream of operations.

Each beat on ``ops`` is one operation: ``MAC`` (accumulate ``w . x``), ``LOAD`` (``acc <- bias``),
``READ`` (return ``acc``) or ``READ_CLEAR`` (return ``acc``, then ``acc <- 0``). Operations act
in stream order; each read returns the accumulator after every earlier operation and before its
own clear, on ``reads``. The core never stalls; reads leave through a FIFO, and ``ops`` is ready
only while the FIFO has room for every read still in the pipeline, so back-pressure on ``reads``
holds the operations back instead of losing results. With ``acc_latency`` > 0 (an interleaved
float accumulator) ``ops`` is also held ``hold`` cycles after each load or read, while the core
closes the sum and starts the next.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream
from amaranth.lib.wiring import In, Out

from ....core.block import Block, register
from ....numerics import golden as twins
from . import golden as mac_golden, model
from ...common.dtypes import acc_bits, acc_format, acc_kind, element_bits, element_format, is_float
from ...common.bank_mac.rtl import BankMac
from ....core.logic import SyncFIFO
from .params import PARAMS, control_hold, mac_latency, tree_depth


class Op(enum.Enum, shape=2):
    """Operation codes: bit 0 = load the accumulator (the bias, or 0 for a read-and-clear),
    bit 1 = read it first."""
    MAC = 0
    LOAD = 1
    READ = 2
    READ_CLEAR = 3


@register
class PimBankMac(Block):
    name = "pim_bank_mac"
    params = PARAMS
    # the formal checks' point: an interleaved accumulator of two partial sums with no other
    # pipeline registers, so that a read comes out (7 cycles) well within a bounded check
    formal_params = {"mul_latency": 0, "level_latency": 0, "acc_latency": 1}
    summary = ("one DRAM bank's MAC unit: lanes products, pairwise adder tree, accumulator; "
               "MAC / bias load / read / read-and-clear operations")

    # -- derived quantities --------------------------------------------------------------------
    @property
    def latency(self) -> int:
        """Edges from an accepted read to the edge that hands its value over: the core's
        mac_latency (the read samples the accumulator one cycle before an operation issued
        with it would land, and the FIFO hands it over one cycle later), plus ``hold`` for an
        interleaved accumulator (the sum's way round the loop and down its tree)."""
        p = self.p
        return mac_latency(p.dtype, p.acc, p.lanes, mul_latency=p.mul_latency,
                           level_latency=p.level_latency) + self.hold

    @property
    def hold(self) -> int:
        """Cycles after an accepted load or read in which no operation is accepted."""
        return control_hold(self.p.acc_latency)

    @property
    def element_bits(self) -> int:
        return element_bits(self.p.dtype)

    @property
    def acc_bits(self) -> int:
        p = self.p
        return acc_bits(p.dtype, p.acc, p.acc_width, p.max_beats * p.lanes)

    @property
    def fifo_depth(self) -> int:
        # A stream of back-to-back reads has latency - 1 of them in flight and one in the FIFO
        # at any time; the next one needs a free entry beyond those. Reads held hold + 1
        # cycles apart have fewer in flight.
        return -(-self.latency // (self.hold + 1)) + 1

    @property
    def _is_int(self) -> bool:
        return acc_kind(self.p.dtype, self.p.acc) == "int"

    def _element_shape(self):
        bits = self.element_bits
        return unsigned(bits) if is_float(self.p.dtype) else signed(bits)

    def _acc_shape(self):
        return signed(self.acc_bits) if self._is_int else unsigned(self.acc_bits)

    # -- hardware ------------------------------------------------------------------------------
    def signature_members(self):
        lanes = data.ArrayLayout(self._element_shape(), self.p.lanes)
        op = data.StructLayout({"op": Op, "w": lanes, "x": lanes, "bias": self._acc_shape()})
        return {
            "ops": In(stream.Signature(op)),
            "reads": Out(stream.Signature(self._acc_shape())),
        }

    def info(self):
        return {"latency": self.latency, "acc_bits": self.acc_bits,
                "acc": acc_kind(self.p.dtype, self.p.acc), "tree_depth": tree_depth(self.p.lanes),
                "fifo_depth": self.fifo_depth, "hold": self.hold}

    def field_dtypes(self):
        # elements in dtype (bf16, fp16, int8, int16); bias and y in the accumulator's format
        p = self.p
        element = element_format(p.dtype) or p.dtype
        acc = acc_format(p.dtype, p.acc) or f"int{self.acc_bits}"
        return {"w": element, "x": element, "bias": acc, "y": acc}

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = BankMac(**self.param_values)
        m.submodules.fifo = results = SyncFIFO(width=self.acc_bits, depth=self.fifo_depth)
        beat = self.ops.payload

        # Credits: accept an operation only if every read already in the pipeline, plus this
        # one, is sure of a FIFO entry when it arrives.
        # free: FIFO entries neither occupied nor promised to a read in flight. Kept as one
        # register (a read taken costs one, a result handed over frees one) rather than
        # summed from in-flight count and FIFO level, so ready is not a carry chain away.
        free = Signal(range(self.fifo_depth + 1), init=self.fifo_depth)
        room = free.any()
        if self.hold:
            holding = Signal(range(self.hold + 1))   # cycles left in which nothing is accepted
            m.d.comb += self.ops.ready.eq(room & ~holding.any())
        else:
            m.d.comb += self.ops.ready.eq(room)
        accept = Signal()
        m.d.comb += accept.eq(self.ops.valid & self.ops.ready)

        # The encoding is two flags (see Op): bit 0 loads, bit 1 reads; neither is a MAC.
        loads, reads = beat.op.as_value()[0], beat.op.as_value()[1]
        read = Signal()
        m.d.comb += [
            core.weights.eq(beat.w),
            core.vector.eq(beat.x),
            core.mac.eq(accept & ~(loads | reads)),
            core.load.eq(accept & loads),
            # A read-and-clear loads 0; its read samples the accumulator in the cycle before
            # that load lands.
            core.bias.eq(Mux(reads, 0, beat.bias)),
            read.eq(accept & reads),
            core.read.eq(read),
        ]
        if self.hold:
            with m.If(accept & (loads | reads)):
                m.d.sync += holding.eq(self.hold)
            with m.Elif(holding != 0):
                m.d.sync += holding.eq(holding - 1)
        m.d.comb += [results.w_en.eq(core.result_valid), results.w_data.eq(core.result)]
        handed = Signal()
        m.d.comb += handed.eq(self.reads.valid & self.reads.ready)
        with m.If(read & ~handed):
            m.d.sync += free.eq(free - 1)
        with m.Elif(handed & ~read):
            m.d.sync += free.eq(free + 1)

        m.d.comb += [
            self.reads.valid.eq(results.r_rdy),
            self.reads.payload.eq(results.r_data),
            results.r_en.eq(self.reads.ready),
        ]
        return m

    # -- reference, stimulus, model ------------------------------------------------------------
    def golden(self, inputs):
        p = self.p
        ops = np.asarray(inputs["op"])
        macs = ops == Op.MAC.value
        sums = mac_golden.bank_dot(np.asarray(inputs["w"])[macs], np.asarray(inputs["x"])[macs],
                                   p.dtype, p.acc, p.ftz)
        if p.acc_latency:
            return {"y": mac_golden.interleaved_reads(
                ops, sums, np.asarray(inputs["bias"]), acc_format(p.dtype, p.acc),
                p.acc_latency + 1, p.ftz)}
        zero = np.zeros(1, np.int64 if self._is_int else np.uint64)
        total, index, reads = zero, 0, []
        for op, bias in zip(ops.tolist(), np.asarray(inputs["bias"])):
            if op == Op.MAC.value:
                total = mac_golden.accumulate(total, sums[index:index + 1], p.dtype, p.acc,
                                              p.ftz, self.acc_bits)
                index += 1
            elif op == Op.LOAD.value:
                total = np.asarray([bias], dtype=zero.dtype)
            else:
                reads.append(total[0])
                if op == Op.READ_CLEAR.value:
                    total = zero
        return {"y": np.asarray(reads, dtype=zero.dtype)}

    def stimulus(self, rng, n):
        return _stimulus(rng, n, self.p, self.acc_bits)

    def workload(self, inputs):
        ops = np.asarray(inputs["op"])
        reads = np.flatnonzero((ops == Op.READ.value) | (ops == Op.READ_CLEAR.value))
        controls = np.flatnonzero(ops != Op.MAC.value)
        last = int(reads[-1]) if len(reads) else -1
        return {"ops": len(ops), "macs": int((ops == Op.MAC.value).sum()),
                "loads": int((ops == Op.LOAD.value).sum()), "reads": len(reads),
                "last_read": last, "controls_before_last_read": int((controls < last).sum())}

    def model(self, workload):
        return model.estimate(workload, self.latency, self.p.lanes, self.element_bits, self.acc_bits,
                              self.hold)

    # -- fields <-> beats ----------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        if any(key in fields for key in ("op", "w", "x", "bias")):
            beats["ops"] = self._check_ops(fields)
        if "y" in fields:
            beats["reads"] = np.asarray(fields["y"])
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "ops" in beats:
            fields.update({key: beats["ops"][key] for key in ("op", "w", "x", "bias")})
        if "reads" in beats:
            fields["y"] = beats["reads"]
        return fields

    def _check_ops(self, fields):
        p = self.p
        missing = [key for key in ("op", "w", "x", "bias") if key not in fields]
        if missing:
            raise ValueError(f"pim_bank_mac inputs need 'op', 'w', 'x' and 'bias'; "
                             f"missing {', '.join(repr(k) for k in missing)}")
        op = np.asarray(fields["op"])
        if op.ndim != 1:
            raise ValueError(f"pim_bank_mac field 'op' must have shape (ops,), got {op.shape}")
        n = len(op)
        shapes = {"op": (n,), "w": (n, p.lanes), "x": (n, p.lanes), "bias": (n,)}
        checked = {}
        for key, shape in shapes.items():
            values = np.asarray(fields[key])
            if values.shape != shape:
                raise ValueError(f"pim_bank_mac field '{key}' must have shape {shape}, got {values.shape}")
            if values.dtype != object and values.dtype.kind not in "iu" and values.size:
                raise ValueError(f"pim_bank_mac field '{key}' must hold integers, got dtype {values.dtype}")
            checked[key] = values
        if n and (int(op.min()) < 0 or int(op.max()) > 3):
            raise ValueError("pim_bank_mac field 'op' holds values outside 0..3 "
                             "(0 MAC, 1 LOAD, 2 READ, 3 READ_CLEAR)")
        checked["op"] = op.astype(np.int64)
        element = element_format(p.dtype)
        bits = self.element_bits
        for key in ("w", "x"):
            checked[key] = self._checked(checked[key], element, bits, key, "elements")
        fmt = acc_format(p.dtype, p.acc)
        checked["bias"] = self._checked(checked["bias"], fmt, self.acc_bits, "bias", "accumulator")
        return checked

    @staticmethod
    def _checked(values, fmt, bits, key, what):
        # Reject what packing would silently wrap.
        if fmt is not None:
            if values.size and (int(values.min()) < 0 or int(values.max()) >> bits):
                raise ValueError(f"pim_bank_mac field '{key}' holds values outside 0..{(1 << bits) - 1} "
                                 f"({fmt.name} bit patterns)")
            return values.astype(np.uint64)
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if values.size and (int(values.min()) < low or int(values.max()) > high):
            raise ValueError(f"pim_bank_mac field '{key}' holds values outside {low}..{high} "
                             f"({bits}-bit signed {what})")
        return values.astype(np.int64)


# -- stimulus ----------------------------------------------------------------------------------

# Operation orders that must work, played first: a read right after a load and after a MAC, a
# load right after a MAC, back-to-back MACs, reads of a cleared accumulator, a bias followed by
# MACs, and a clear of a bias.
_PROLOGUE = (Op.READ, Op.LOAD, Op.READ, Op.MAC, Op.READ, Op.MAC, Op.MAC, Op.LOAD, Op.MAC,
             Op.READ_CLEAR, Op.READ, Op.READ_CLEAR, Op.LOAD, Op.READ_CLEAR, Op.READ)


def _stimulus(rng, n, p, acc_bits):
    lanes = p.lanes
    ops = rng.choice([Op.MAC.value, Op.LOAD.value, Op.READ.value, Op.READ_CLEAR.value],
                     p=[0.7, 0.08, 0.1, 0.12], size=n)
    if is_float(p.dtype):
        fmt, acc_fmt = element_format(p.dtype), acc_format(p.dtype, p.acc)
        w = _float_beats(rng, n, lanes, fmt)
        x = _float_beats(rng, n, lanes, fmt)
        bias = _float_values(rng, (n,), acc_fmt, spread=20)
        special = rng.random(n) < 0.1
        bias[special] = rng.choice(twins.special_values(acc_fmt), int(special.sum()))
        scenarios = _float_scenarios(fmt, acc_fmt, lanes)
    else:
        bits = int(p.dtype[3:])
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        w = rng.integers(low, high, size=(n, lanes), endpoint=True)
        x = rng.integers(low, high, size=(n, lanes), endpoint=True)
        extreme = rng.random(n) < 0.2
        w[extreme] = rng.choice([low, high, -1, 0, 1], size=(int(extreme.sum()), lanes))
        x[extreme] = rng.choice([low, high, -1, 0, 1], size=(int(extreme.sum()), lanes))
        acc_low, acc_high = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
        small = rng.integers(-(1 << 20), 1 << 20, size=n, endpoint=True)
        bias = np.where(rng.random(n) < 0.1, rng.choice([acc_low, acc_high, -1, 0], size=n),
                        np.clip(small, acc_low, acc_high))
        scenarios = _int_scenarios(low, high, lanes, p.max_beats)
    # The prologue, then the scenarios with known hard answers, then random operations.
    row = 0
    for op in _PROLOGUE[:n]:
        ops[row] = op.value
        row += 1
    if row + len(scenarios) < n:
        for op, a, b, value in scenarios:
            ops[row] = op.value
            if a is not None:
                w[row], x[row] = a, b
            if value is not None:
                bias[row] = value
            row += 1
    if n:
        ops[-1] = Op.READ_CLEAR.value  # the run ends on a read, so its cycle count is the model's
    return {"op": ops.astype(np.int64), "w": w, "x": x, "bias": bias}


def _int_scenarios(low, high, lanes, max_beats):
    """The accumulator's checked extremes: max_beats beats of the largest product, then of the
    most negative one."""
    largest = [(Op.MAC, np.full(lanes, low), np.full(lanes, low), None)] * max_beats
    most_negative = [(Op.MAC, np.full(lanes, low), np.full(lanes, high), None)] * max_beats
    clear = [(Op.READ_CLEAR, None, None, None)]
    return largest + clear + most_negative + clear


def _float_scenarios(fmt, acc_fmt, lanes):
    """Operation sequences with a known hard answer: signed zeros, maxima, exact cancellation,
    subnormal products, a subnormal and a NaN bias (read back as loaded, then added to)."""
    sign = 1 << (fmt.width - 1)
    one = fmt.bias << fmt.man_bits
    max_finite = fmt.inf() - 1

    def beat(a, b):
        return (Op.MAC, np.asarray(a, np.uint64) + np.zeros(lanes, np.uint64),
                np.asarray(b, np.uint64) + np.zeros(lanes, np.uint64), None)

    def load(value):
        return (Op.LOAD, None, None, value)

    read, read_clear = (Op.READ, None, None, None), (Op.READ_CLEAR, None, None, None)
    alternating = np.arange(lanes, dtype=np.uint64) % 2 * np.uint64(sign) | np.uint64(one)
    acc_sign = 1 << (acc_fmt.width - 1)
    return [
        load(acc_sign), beat(sign, 0), read,                   # -0 + (-0 products) = -0
        beat(0, 0), read_clear,                                # -0 + (+0) = +0
        beat(max_finite, max_finite), read_clear,              # largest products
        beat(max_finite, one | sign), beat(max_finite, one), read_clear,  # -big + big = +0
        beat(1, one), read_clear,                              # smallest subnormal products
        beat(alternating, one), read_clear,                    # +1 -1 +1 ... cancels exactly
        load(1), read, beat(0, 0), read_clear,                 # a subnormal bias
        load(acc_fmt.canonical_nan | 1), read, beat(0, 0), read_clear,  # a NaN bias
        load(acc_fmt.inf(1)), beat(max_finite, max_finite), read_clear,  # -Inf + Inf = NaN
    ]


def _float_values(rng, shape, fmt, spread):
    """Finite values with exponents within ``spread`` binades of 1, random signs and fractions,
    so sums stay finite for long runs and cancel now and then."""
    sign = rng.integers(0, 2, size=shape, dtype=np.uint64) << np.uint64(fmt.width - 1)
    exp = np.clip(fmt.bias + rng.integers(-spread, spread, size=shape, endpoint=True), 1, fmt.exp_max - 1)
    man = rng.integers(0, 1 << fmt.man_bits, size=shape, dtype=np.uint64)
    return sign | (exp.astype(np.uint64) << np.uint64(fmt.man_bits)) | man


def _float_beats(rng, n, lanes, fmt):
    values = _float_values(rng, (n, lanes), fmt, spread=6)
    # A few beats of fully random patterns (any exponent, NaN and Inf included) and a few with
    # special values (zeros, subnormals, maxima, Inf, NaN) in some lanes: rare, because one NaN
    # or Inf holds the accumulator until the next load or clear.
    wild = rng.random(n) < 0.03
    values[wild] = rng.integers(0, 1 << fmt.width, size=(int(wild.sum()), lanes), dtype=np.uint64)
    spiced = (rng.random((n, lanes)) < 0.3) & (rng.random(n) < 0.05)[:, None]
    values[spiced] = rng.choice(twins.special_values(fmt), int(spiced.sum()))
    return values
