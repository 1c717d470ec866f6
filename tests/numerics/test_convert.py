"""Format conversions: ``FloatConverter``, ``IntToFloat``, ``FloatToInt`` and the ``fp_convert``
block.

Every simulation is scored bit-exactly against the golden twins (``golden.fp_convert``,
``int_to_fp``, ``fp_to_int``); the twins are checked here against NumPy and ml_dtypes casts
where ``tests/numerics/test_golden.py`` does not already do so.

Verilator builds are few on purpose (each costs tens of seconds): the many 16-bit-input
conversions run side by side in ONE build (``ConvertBundle``: one stream, every operator fed
the same 16-bit pattern, one output field each), exhaustively over all 65,536 patterns (two
such bundles); the 32-bit-input ones in a third bundle on specials plus >100,000 random patterns; the
``fp_convert`` block itself in a fourth build. The bundles use the same stream wrapper as the
block (``FloatBlock``), with idle gaps and backpressure. Other formats and latencies run on
Amaranth's simulator.
"""

from __future__ import annotations

import itertools

import ml_dtypes
import numpy as np
import pytest
from amaranth.hdl import Cat, Fragment, Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hwgen import blocks
from hwgen.blocks.fp.rtl.convert import convert_stimulus, int_patterns, int_values
from hwgen.blocks.fp.params import IntFormat, convert_format
from hwgen.blocks.fp.rtl import FloatBlock
from hwgen.core.params import Param, ParamError, ParamSet
from hwgen.numerics import golden
from hwgen.numerics.formats import PRESETS, FloatFormat
from hwgen.numerics.rtl import FloatConverter, FloatToInt, IntToFloat
from sim.pysim import simulate_pysim
from sim.runner import simulate
from tests.support.numerics import check_unstalled_cycles, lint_clean

FP16, FP32, BF16 = PRESETS["fp16"], PRESETS["fp32"], PRESETS["bf16"]
E4M3, E5M2 = PRESETS["fp8_e4m3"], PRESETS["fp8_e5m2"]


# -- references from NumPy / ml_dtypes -------------------------------------------------------------

NP_TYPES = {FP16: np.float16, FP32: np.float32, BF16: ml_dtypes.bfloat16,
            E4M3: ml_dtypes.float8_e4m3, E5M2: ml_dtypes.float8_e5m2}
UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32}


def to_float(bits, fmt) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint64).astype(UINT[fmt.width]).view(NP_TYPES[fmt])


def flush(bits, fmt) -> np.ndarray:
    """Subnormal patterns become the zero of their sign."""
    bits = np.asarray(bits, dtype=np.uint64)
    subnormal = (bits >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max) == 0
    return np.where(subnormal, bits & np.uint64(1 << (fmt.width - 1)), bits)


def numpy_convert(bits, fin, fout, ftz=False) -> np.ndarray:
    """The cast NumPy / ml_dtypes do, through float32 (every preset widens into it exactly, so
    the cast to ``fout`` is the only rounding), NaN made canonical, ftz around it."""
    x = to_float(flush(bits, fin) if ftz else bits, fin).astype(np.float32)
    with np.errstate(all="ignore"):
        y = x.astype(NP_TYPES[fout])
    out = y.view(UINT[fout.width]).astype(np.uint64)
    out = flush(out, fout) if ftz else out
    return np.where(np.isnan(x), np.uint64(fout.canonical_nan), out)


def numpy_to_int(bits, fin, ifmt: IntFormat) -> np.ndarray:
    """np.rint (ties to even) of the exact float64 value, saturated; NaN gives 0. As patterns."""
    low, high = ((-(1 << ifmt.width - 1), (1 << ifmt.width - 1) - 1) if ifmt.signed
                 else (0, (1 << ifmt.width) - 1))
    with np.errstate(invalid="ignore"):
        x = to_float(bits, fin).astype(np.float64)
        r = np.clip(np.nan_to_num(np.rint(x), nan=0.0, posinf=high, neginf=low), low, high)
    return int_patterns(r.astype(np.int64), ifmt)


def numpy_from_int(patterns, ifmt: IntFormat, fout) -> np.ndarray:
    """Integers up to 16 bits are exact in float32; the cast to ``fout`` rounds once."""
    x = int_values(patterns, ifmt).astype(np.float32)
    with np.errstate(all="ignore"):
        return x.astype(NP_TYPES[fout]).view(UINT[fout.width]).astype(np.uint64)


def twin(fin, fout, a, ftz=False) -> np.ndarray:
    """The golden twin for any pair of formats, on patterns."""
    if isinstance(fin, IntFormat):
        return golden.int_to_fp(int_values(a, fin), fin.signed, fin.width, fout)
    if isinstance(fout, IntFormat):
        return int_patterns(golden.fp_to_int(a, fin, fout.signed, fout.width), fout)
    return golden.fp_convert(a, fin, fout, ftz)


def mismatches(a, got, want, label, limit=8) -> str:
    bad = np.flatnonzero(np.asarray(got) != np.asarray(want))
    lines = [f"  {label}: a={int(a[i]):#x} got {int(got[i]):#x} expected {int(want[i]):#x}"
             for i in bad[:limit]]
    return f"{len(bad)} of {len(got)} differ:\n" + "\n".join(lines)


# -- several conversions side by side: one Verilator build for many ------------------------------

def operator_for(fin, fout, ftz, latency):
    if isinstance(fin, IntFormat):
        return IntToFloat(fin.width, fin.signed, fout, latency=latency)
    if isinstance(fout, IntFormat):
        return FloatToInt(fin, fout.width, fout.signed, latency=latency)
    return FloatConverter(fin, fout, ftz=ftz, latency=latency)


class Operators(wiring.Component):
    """Every conversion of a bundle on the same input ``a``; ``y`` concatenates the results."""

    def __init__(self, width, conversions, latency):
        self.conversions, self.latency = conversions, latency
        total = sum(fout.width for _, fout, _ in conversions.values())
        members = {"a": In(width), "y": Out(total)}
        if latency:
            members["en"] = In(1, init=1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        results = []
        for label, (fin, fout, ftz) in self.conversions.items():
            m.submodules[label] = op = operator_for(fin, fout, ftz, self.latency)
            m.d.comb += op.a.eq(self.a)
            if self.latency:
                m.d.comb += op.en.eq(self.en)
            results.append(op.y)
        m.d.comb += self.y.eq(Cat(*results))
        return m


def spec(text, ftz=False):
    fin, fout = text.split("->")
    return convert_format(fin), convert_format(fout), ftz


BUNDLES = {
    # Two 16-bit bundles, not one: a design large enough for Verilator to split its C++ into
    # several files makes it use precompiled headers, which this Verilator install cannot build.
    "16bit_a": {"fp16_fp32": spec("fp16->fp32"), "bf16_fp16": spec("bf16->fp16"),
                "fp16_bf16": spec("fp16->bf16"), "fp16_e4m3": spec("fp16->fp8_e4m3"),
                "e69_fp16": spec("6,9->fp16"), "fp16_e69": spec("fp16->6,9")},
    "16bit_b": {"fp16_bf16_ftz": spec("fp16->bf16", ftz=True), "int16_fp16": spec("int16->fp16"),
                "int16_bf16": spec("int16->bf16"), "uint16_fp16": spec("uint16->fp16"),
                "fp16_uint8": spec("fp16->uint8"), "fp16_int16": spec("fp16->int16")},
    "32bit": {"fp32_fp16": spec("fp32->fp16"), "fp32_bf16_ftz": spec("fp32->bf16", ftz=True),
         "fp32_e5m2": spec("fp32->fp8_e5m2"), "int32_fp32": spec("int32->fp32"),
         "uint32_fp32": spec("uint32->fp32"), "int32_fp16": spec("int32->fp16"),
         "fp32_int32": spec("fp32->int32"), "fp32_uint32": spec("fp32->uint32")},
}
# Small input formats, exhaustively on pysim: into formats of every kind.
SMALL_TARGETS = [("fp16", False), ("bf16", True), ("fp8_e4m3", False), ("fp8_e5m2", True),
                 ("2,1", False), ("3,2", True), ("int8", False), ("uint4", False), ("int2", False)]
for _small in ("fp8_e4m3", "fp8_e5m2", "3,2"):
    BUNDLES[_small] = {f"to_{i}": spec(f"{_small}->{out}", ftz)
                       for i, (out, ftz) in enumerate(SMALL_TARGETS)}


class ConvertBundle(FloatBlock):
    """Test-only block: the conversions ``BUNDLES[bundle]`` (one input format) behind ``FloatBlock``'s stream handshake, with a
    struct result (one field per conversion) and the twins as its golden model."""

    name = "convert_bundle"
    params = ParamSet(params=(
        Param("bundle", str, "16bit_a", "which conversions", choices=tuple(BUNDLES)),
        Param("latency", int, 1, "operator registers", min=0, max=4),
    ))
    operand_names = ("a",)
    op = "convert"

    def field_dtypes(self):
        return {}  # patterns in, a struct of patterns out: no single format to convert to

    @property
    def conversions(self):
        return BUNDLES[self.p.bundle]

    @property
    def in_width(self):
        return next(iter(self.conversions.values()))[0].width

    def signature_members(self):
        layout = data.StructLayout({label: fout.width
                                    for label, (_, fout, _) in self.conversions.items()})
        return {"operands": In(stream.Signature(data.StructLayout({"a": self.in_width}))),
                "result": Out(stream.Signature(layout))}

    def info(self):
        return {}

    def operator(self):
        return Operators(self.in_width, self.conversions, self.p.latency)

    def golden(self, inputs):
        a = np.asarray(inputs["a"], dtype=np.uint64)
        return {label: twin(fin, fout, a, ftz) for label, (fin, fout, ftz)
                in self.conversions.items()}

    def fields_to_beats(self, fields):
        beats = {}
        if "a" in fields:
            beats["operands"] = {"a": self._check_operand(fields, "a")}
        if all(label in fields for label in self.conversions):
            beats["result"] = {label: np.asarray(fields[label]) for label in self.conversions}
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        if "operands" in beats:
            fields["a"] = beats["operands"]["a"]
        if "result" in beats:
            fields.update(beats["result"])
        return fields


def check_bundle(result, a, conversions):
    """Passed against the twins; and where NumPy / ml_dtypes can cast, against them too."""
    if not result.passed:
        detail = "\n".join(mismatches(a, result.outputs[label], result.expected[label], label)
                           for label in conversions
                           if label in result.outputs
                           and not np.array_equal(result.outputs[label], result.expected[label]))
        pytest.fail(f"{result.summary()['verdict']}\n{detail}")
    for label, (fin, fout, ftz) in conversions.items():
        got = np.asarray(result.outputs[label], dtype=np.uint64)
        if fin in NP_TYPES and fout in NP_TYPES:
            want = numpy_convert(a, fin, fout, ftz)
        elif fin in NP_TYPES and isinstance(fout, IntFormat) and fout.width <= 16:
            want = numpy_to_int(a, fin, fout)
        elif isinstance(fin, IntFormat) and fin.width <= 16:
            want = numpy_from_int(a, fin, fout)
        else:
            continue
        assert np.array_equal(got, want), mismatches(a, got, want, label + " (numpy)")


@pytest.mark.verilator
@pytest.mark.parametrize("bundle, latency", [("16bit_a", 2), ("16bit_b", 0)])
def test_verilator_16bit_inputs_exhaustive(bundle, latency, rtl_out, tmp_path):
    """All 65,536 patterns through six 16-bit-input conversions at once."""
    block = ConvertBundle(bundle=bundle, latency=latency)
    a = np.random.default_rng(3).permutation(np.arange(1 << 16, dtype=np.uint64))
    result = simulate(block, {"a": a}, seed=3, idle=0.1, backpressure=0.2, rtl_out=rtl_out,
                      out=tmp_path)
    check_bundle(result, a, block.conversions)


def fp32_inputs(rng, n_each) -> np.ndarray:
    """fp32 specials, then the block's own stimulus aimed at each target (fp16, bf16, fp8,
    int32 boundaries), then uniform patterns and int32-oriented patterns."""
    parts = [convert_stimulus(rng, n_each, FP32, target)
             for target in (FP16, BF16, E5M2, IntFormat(32, True), IntFormat(32, False))]
    parts.append(convert_stimulus(rng, n_each, IntFormat(32, True), FP32))
    parts.append(rng.integers(0, 1 << 32, size=n_each, dtype=np.uint64))
    return np.concatenate(parts)


@pytest.mark.verilator
def test_verilator_32bit_inputs(rtl_out, tmp_path):
    """105,000 fp32 / int32 patterns (7 x 15,000: the fp32 specials, engineered and uniform
    ones) through eight conversions at once."""
    bundle = ConvertBundle(bundle="32bit", latency=1)
    a = fp32_inputs(np.random.default_rng(4), 15_000)
    assert len(a) > 100_000
    assert set(golden.special_values(FP32).tolist()) <= set(a.tolist())
    result = simulate(bundle, {"a": a}, seed=4, idle=0.2, backpressure=0.1, rtl_out=rtl_out,
                      out=tmp_path)
    check_bundle(result, a, bundle.conversions)


@pytest.mark.verilator
def test_verilator_block(rtl_out, tmp_path):
    """The fp_convert block itself (fp32 -> bf16 with ftz) on its own stimulus, stalled; then
    unstalled, its cycle count is the model's."""
    block = blocks.get("fp_convert", fmt_in="fp32", fmt_out="bf16", ftz=True, latency=3)
    inputs = block.stimulus(np.random.default_rng(5), 20_000)
    result = simulate(block, inputs, seed=5, idle=0.1, backpressure=0.3, rtl_out=rtl_out,
                      out=tmp_path / "stalled")
    assert result.passed, result.summary()["verdict"]
    want = numpy_convert(inputs["a"], FP32, BF16, ftz=True)
    assert np.array_equal(result.outputs["y"], want), \
        mismatches(inputs["a"], result.outputs["y"], want, "fp32->bf16 ftz (numpy)")
    check_unstalled_cycles(block, {"a": inputs["a"][:2000]}, 3, 5, rtl_out, tmp_path / "clean")


# -- the rest on Amaranth's simulator --------------------------------------------------------------

PYSIM_POINTS = [
    # fmt_in, fmt_out, ftz, latency: every latency, odd formats, extreme integer widths
    ("fp32", "fp16", True, 0), ("fp16", "fp32", True, 5), ("bf16", "fp8_e4m3", False, 3),
    ("fp8_e5m2", "fp8_e4m3", True, 1), ("fp8_e4m3", "fp8_e5m2", False, 2),
    ("fp32", "11,52", False, 1), ("11,52", "fp32", False, 2), ("11,52", "fp16", True, 4),
    ("2,1", "fp32", False, 0), ("fp32", "2,1", False, 3), ("3,2", "2,3", True, 1),
    ("6,9", "6,9", True, 0), ("fp16", "fp16", False, 2),
    ("int64", "fp32", False, 0), ("uint64", "bf16", False, 5), ("int2", "fp8_e4m3", False, 4),
    ("uint2", "2,1", False, 1), ("int32", "fp8_e5m2", False, 2), ("uint8", "11,52", False, 0),
    ("fp32", "int64", False, 0), ("11,52", "uint64", False, 5), ("fp32", "int2", False, 3),
    ("bf16", "uint2", False, 1), ("fp8_e4m3", "int8", False, 2), ("2,2", "int4", False, 0),
    ("fp16", "uint32", False, 3),
]


@pytest.mark.parametrize("fmt_in, fmt_out, ftz, latency", PYSIM_POINTS)
def test_pysim(fmt_in, fmt_out, ftz, latency):
    block = blocks.get("fp_convert", fmt_in=fmt_in, fmt_out=fmt_out, ftz=ftz, latency=latency)
    seed = PYSIM_POINTS.index((fmt_in, fmt_out, ftz, latency))
    inputs = block.stimulus(np.random.default_rng(seed), 1500)
    result = simulate_pysim(block, inputs, seed=seed, idle=0.2, backpressure=0.3)
    assert result.passed, (result.summary()["verdict"] + "\n" +
                           mismatches(inputs["a"], result.outputs["y"], result.expected["y"],
                                      f"{fmt_in}->{fmt_out}"))


@pytest.mark.parametrize("bundle, latency", [("fp8_e4m3", 0), ("fp8_e5m2", 1), ("3,2", 2)])
def test_pysim_exhaustive_small_inputs(bundle, latency):
    """Every pattern of a small input format into formats of every kind, all in one run."""
    block = ConvertBundle(bundle=bundle, latency=latency)
    a = np.arange(1 << block.in_width, dtype=np.uint64)
    result = simulate_pysim(block, {"a": a}, seed=1, idle=0.2, backpressure=0.2)
    check_bundle(result, a, block.conversions)


# -- the twins against NumPy / ml_dtypes (what test_numerics_golden.py does not cover) -----------

def all_patterns(width) -> np.ndarray:
    return np.arange(1 << width, dtype=np.uint64)


@pytest.mark.parametrize("fin, fout", [(BF16, FP16), (FP16, BF16), (BF16, E4M3), (BF16, E5M2),
                                       (E4M3, E5M2), (E5M2, E4M3), (E4M3, BF16), (E5M2, FP16)])
@pytest.mark.parametrize("ftz", [False, True])
def test_twin_float_pairs_match_ml_dtypes(fin, fout, ftz):
    """Every input pattern, between preset pairs not compared in test_numerics_golden.py."""
    a = all_patterns(fin.width)
    got = golden.fp_convert(a, fin, fout, ftz)
    want = numpy_convert(a, fin, fout, ftz)
    assert np.array_equal(got, want), mismatches(a, got, want, f"{fin.name}->{fout.name}")


@pytest.mark.parametrize("ifmt", [IntFormat(16, True), IntFormat(16, False), IntFormat(8, True)])
def test_twin_int_to_fp_matches_numpy(ifmt):
    """Every 16-bit (and 8-bit) integer into fp16, bf16 and both fp8s."""
    a = all_patterns(ifmt.width)
    for fout in (FP16, BF16, E4M3, E5M2):
        got = twin(ifmt, fout, a)
        want = numpy_from_int(a, ifmt, fout)
        assert np.array_equal(got, want), mismatches(a, got, want, f"{ifmt.name}->{fout.name}")


@pytest.mark.parametrize("fin", [FP16, BF16, E4M3])
def test_twin_fp_to_int_matches_numpy(fin):
    """Every fp16 / bf16 / fp8 pattern to 8..32-bit integers: np.rint, saturated."""
    a = all_patterns(fin.width)
    for width, signed in itertools.product((2, 8, 16, 32), (True, False)):
        ifmt = IntFormat(width, signed)
        got = twin(fin, ifmt, a)
        want = numpy_to_int(a, fin, ifmt)
        assert np.array_equal(got, want), mismatches(a, got, want, f"{fin.name}->{ifmt.name}")


def test_int_pattern_helpers():
    int8 = IntFormat(8, True)
    assert int_values(np.array([0, 1, 0x7F, 0x80, 0xFF]), int8).tolist() == [0, 1, 127, -128, -1]
    assert int_patterns(np.array([0, 1, 127, -128, -1]), int8).tolist() == [0, 1, 0x7F, 0x80, 0xFF]
    int64, uint64 = IntFormat(64, True), IntFormat(64, False)
    top = np.array([1 << 63, (1 << 64) - 1], dtype=np.uint64)
    assert int_values(top, int64).tolist() == [-(1 << 63), -1]
    assert int_values(top, uint64).tolist() == [1 << 63, (1 << 64) - 1]
    assert int_patterns(int_values(top, int64), int64).tolist() == top.tolist()


# -- lint ------------------------------------------------------------------------------------------

INT_LINT = [("int8", "fp16"), ("uint32", "fp32"), ("int64", "bf16"), ("uint2", "fp8_e4m3"),
            ("int16", "fp8_e5m2"), ("int64", "11,52"), ("fp32", "int32"), ("fp16", "uint8"),
            ("bf16", "int64"), ("fp8_e4m3", "uint2"), ("fp16", "int16"), ("11,52", "uint64")]


# Every pair at one latency, turning with the pair (each latency on a dozen pairs).
# latencies 0, 1, 2 and the deepest, 5 (every cut of the float plan; the integer plan's 3 and
# two output registers), in turn over the pairs
LINT_POINTS = [(fmt_in, fmt_out, (0, 1, 2, 5)[index % 4]) for index, (fmt_in, fmt_out)
               in enumerate(list(itertools.product(PRESETS, PRESETS)) + INT_LINT)]


@pytest.mark.parametrize("fmt_in, fmt_out, latency", LINT_POINTS)
def test_lint(fmt_in, fmt_out, latency, rtl_out):
    floats = not any(f.startswith(("int", "uint")) for f in (fmt_in, fmt_out))
    lint_clean("fp_convert", dict(fmt_in=fmt_in, fmt_out=fmt_out, latency=latency,
                                  ftz=floats and latency == 1), rtl_out)


# -- parameters, ports, model, stimulus ------------------------------------------------------------

def test_parameters():
    block = blocks.get("fp_convert")
    # the default latency: the smallest that reaches 105 MHz for fp32>bf16 in the measured table
    assert (block.fmt_in, block.fmt_out, block.p.ftz) == (FP32, BF16, False)
    assert block.p.latency == block.params["latency"].default == 3
    assert blocks.get("fp_convert", fmt_in="6, 9", fmt_out="uint12").fmt_out == IntFormat(12, False)
    assert blocks.get("fp_convert", fmt_in="int64", fmt_out="fp16").fmt_in == IntFormat(64, True)
    # the CLI's -p assignments (`hwgen sim fp_convert -p fmt_in=fp32 -p fmt_out=bf16`)
    values = blocks.block_class("fp_convert").params.parse_assignments(
        ["fmt_in=fp16", "fmt_out=fp8_e5m2", "ftz=true", "latency=0"], block="fp_convert")
    assert values == {"fmt_in": "fp16", "fmt_out": "fp8_e5m2", "ftz": True, "latency": 0}
    assert blocks.get("fp_convert", **values).fmt_out == E5M2

    def error(message, **params):
        with pytest.raises(ParamError, match=message):
            blocks.get("fp_convert", **params)

    error(r"fp_convert: fmt_in='fp64' is not a float or integer format: float format 'fp64': "
          r"expected one of .*int<N> or uint<N> with N in 2..64", fmt_in="fp64")
    error(r"fmt_out='int65' is not a float or integer format: integer format 'int65': width 65 "
          r"is out of range: allowed 2..64", fmt_out="int65")
    error(r"fmt_out='uint1' .*width 1 is out of range", fmt_out="uint1")
    error(r"fmt_in='12,3' .*exponent width 12", fmt_in="12,3")
    error(r"fmt_in='int8' and fmt_out='uint16' are both integer formats: at least one of "
          r"fmt_in, fmt_out must be a float format", fmt_in="int8", fmt_out="uint16")
    error(r"ftz=True needs float formats on both sides, not fmt_in='fp16', fmt_out='int8'",
          fmt_in="fp16", fmt_out="int8", ftz=True)
    error(r"ftz=True needs float formats .*fmt_in='uint4'", fmt_in="uint4", ftz=True)


def test_operators_reject_bad_arguments():
    with pytest.raises(ValueError, match="latency must be >= 0"):
        FloatConverter(FP16, FP32, latency=-1)
    for bad in (1, 65):
        with pytest.raises(ValueError, match=f"int_width {bad} is out of range: allowed 2..64"):
            IntToFloat(bad, True, FP16)
        with pytest.raises(ValueError, match=f"int_width {bad} is out of range"):
            FloatToInt(FP16, bad, False)


def test_ports_info_model():
    for latency in (0, 2):
        for op, a, y in [(FloatConverter(FP32, E4M3, latency=latency), 32, 8),
                         (IntToFloat(12, False, BF16, latency=latency), 12, 16),
                         (FloatToInt(FP16, 40, True, latency=latency), 16, 40)]:
            assert set(op.signature.members) == {"a", "y"} | ({"en"} if latency else set())
            assert (len(op.a), len(op.y)) == (a, y)
            Fragment.get(op, None)
    block = blocks.get("fp_convert", fmt_in="fp16", fmt_out="int32", latency=2)
    info = block.info()
    assert info["fmt_in"] == "fp16" and info["fmt_out"] == "int32"
    assert (info["in_width"], info["out_width"], info["latency"]) == (16, 32, 3)
    members = block.signature.members
    assert members["operands"].signature.members["payload"].shape.size == 16
    assert members["result"].signature.members["payload"].shape.width == 32
    estimate = block.model(block.workload({"a": np.zeros(10, dtype=np.uint64)}))
    assert (estimate.cycles, estimate.bytes_in, estimate.bytes_out) == (13, 20, 40)
    with pytest.raises(ValueError, match="outside 0..65535"):
        block.fields_to_beats({"a": np.array([1 << 16])})


def test_stimulus_exhaustive_for_16_bits():
    block = blocks.get("fp_convert", fmt_in="int16", fmt_out="bf16")
    first = block.stimulus(np.random.default_rng(1), 70_000)["a"]
    again = block.stimulus(np.random.default_rng(1), 70_000)["a"]
    assert np.array_equal(first, again) and first.dtype == np.uint64 and len(first) == 70_000
    assert np.array_equal(np.unique(first[:65536]), all_patterns(16))
    assert not np.array_equal(first[:65536], all_patterns(16))        # shuffled


def dropped_bits_are_half(a, fin: FloatFormat, kept) -> np.ndarray:
    """Whether the fraction bits of ``a`` below ``kept`` kept bits are exactly a tie."""
    drop = fin.man_bits - kept
    return (a & np.uint64((1 << drop) - 1)) == np.uint64(1 << (drop - 1))


def test_stimulus_reaches_the_boundaries():
    rng = np.random.default_rng(2)
    n = 20_000
    # fp32 -> fp16: specials, overflow to Inf, subnormal results, exact ties
    a = convert_stimulus(rng, n, FP32, FP16)
    assert set(golden.special_values(FP32).tolist()) <= set(a.tolist())
    y = golden.fp_convert(a, FP32, FP16) & np.uint64(0x7FFF)
    finite_in = (a >> np.uint64(23)) & np.uint64(0xFF) != 0xFF
    assert np.sum(finite_in & (y == 0x7C00)) > 1000                    # overflowed to Inf
    assert np.sum((y > 0) & (y < 0x400)) > 1000                        # subnormal results
    normal_out = (y >= 0x400) & (y < 0x7C00)
    assert np.sum(normal_out & dropped_bits_are_half(a, FP32, 10)) > 500   # RNE ties
    # int32 -> fp32: the fixed integers, ties at the precision boundary
    a = convert_stimulus(rng, n, IntFormat(32, True), FP32)
    values = set(int_values(a, IntFormat(32, True)).tolist())
    assert {0, 1, -1, -(1 << 31), (1 << 31) - 1, 1 << 24, (1 << 24) + 1, -(1 << 24) - 1} <= values
    v = np.abs(int_values(a, IntFormat(32, True)).astype(np.int64))
    big = v >= 1 << 25
    shift = np.where(big, np.floor(np.log2(np.maximum(v, 1))).astype(np.int64) - 23, 1)
    tie = big & (v & ((1 << shift) - 1) == (1 << (shift - 1)))
    assert np.sum(tie) > 400
    # int32 -> fp16: around fp16's overflow threshold 65520
    a = int_values(convert_stimulus(rng, n, IntFormat(32, True), FP16), IntFormat(32, True))
    assert np.sum(np.abs(np.abs(a) - 65520) <= 16) > 500
    # fp32 -> int16: saturation and half-integers
    a = convert_stimulus(rng, n, FP32, IntFormat(16, True))
    with np.errstate(invalid="ignore"):
        x = to_float(a, FP32).astype(np.float64)
        assert np.sum((np.abs(x) >= 32767.5) & np.isfinite(x) & (np.abs(x) < 1 << 20)) > 1000
        assert np.sum((x - np.floor(x) == 0.5) & (np.abs(x) < 1 << 16)) > 1000
        assert np.sum(np.abs(x) < 2) > 1000
