"""Fixed-point formats and requantization: ``FixedFormat`` (hwgen/numerics/formats.py), the
NumPy twin ``fx_requantize`` (hwgen/numerics/golden.py) and the RTL (hwgen/numerics/rtl/fixed.py).

The twin does integer shifts; the reference here works on ``fractions.Fraction`` values with
``math.floor`` and Python's ``round`` (ties to even), so the two share no arithmetic. The RTL
runs on Amaranth's simulator against the twin, exhaustively for narrow inputs, with its enable
toggled at random when pipelined.
"""

from __future__ import annotations

import gc
import itertools
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment, UnusedElaboratable, signed, unsigned
from amaranth.sim import Simulator

from hwgen import toolchain
from hwgen.core.params import ParamError
from hwgen.numerics.golden import OVERFLOWS, ROUNDINGS, fx_requantize, fx_value
from hwgen.numerics.formats import FixedFormat
from hwgen.numerics.rtl.fixed import FixedRequantizer

MODES = list(itertools.product(ROUNDINGS, OVERFLOWS))


# -- the reference ------------------------------------------------------------------------------

def reference1(raw: int, fmt_in: FixedFormat, fmt_out: FixedFormat, rounding, overflow) -> int:
    """From the definition: the value, scaled to the output's last place, rounded, fitted."""
    value = Fraction(raw, 2 ** fmt_in.frac_bits) * 2 ** fmt_out.frac_bits
    if rounding == "truncate":
        n = math.floor(value)
    elif rounding == "half_up":
        n = math.floor(value + Fraction(1, 2))
    else:
        n = round(value)                                   # Fraction rounds ties to even
    low, high = fmt_out.min_raw, fmt_out.max_raw
    if overflow == "saturate":
        return min(max(n, low), high)
    span = high - low + 1                                  # 2**width
    return (n - low) % span + low


def reference(raws, fmt_in, fmt_out, rounding, overflow) -> list[int]:
    return [reference1(int(r), fmt_in, fmt_out, rounding, overflow) for r in raws]


def all_raws(fmt: FixedFormat) -> np.ndarray:
    return np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64)


def random_raws(fmt: FixedFormat, rng, n) -> np.ndarray:
    """Uniform raw values, the range ends, and values on and around rounding ties."""
    span = fmt.max_raw - fmt.min_raw + 1
    values = [fmt.min_raw + int.from_bytes(rng.bytes(fmt.width // 8 + 8), "little") % span
              for _ in range(n)]
    edges = {fmt.min_raw, fmt.min_raw + 1, fmt.max_raw - 1, fmt.max_raw, 0, 1}
    for shift in range(1, 6):
        for k in (-3, -1, 1, 3):
            edges |= {k * (1 << (shift - 1)) + d for d in (-1, 0, 1)}
    values += [v for v in sorted(edges) if fmt.min_raw <= v <= fmt.max_raw]
    return np.array(values, dtype=object)


# Format pairs: narrowing with dropped fraction bits, widening with added ones, sign changes,
# a shift past the whole input, and the same format.
def narrow_pairs():
    f = FixedFormat
    return [
        (f(8, 4), f(8, 0)), (f(8, 4), f(4, 0)), (f(8, 6), f(5, 2, False)), (f(8, 0), f(8, 3)),
        (f(6, 2, False), f(4, 0)), (f(6, 3, False), f(3, 1, False)), (f(7, 7), f(4, 2)),
        (f(5, 5), f(2, 0)), (f(4, 4, False), f(3, 0, False)), (f(8, 2), f(8, 2)),
        (f(3, 0), f(8, 5, False)), (f(8, 8, False), f(6, 0)), (f(2, 0), f(2, 1)),
    ]


# -- FixedFormat ------------------------------------------------------------------------------

def test_fixed_format():
    q15 = FixedFormat(16, 15)
    assert (q15.name, q15.int_bits, q15.min_raw, q15.max_raw) == ("Q0.15", 0, -32768, 32767)
    u88 = FixedFormat(16, 8, signed=False)
    assert (u88.name, u88.min_raw, u88.max_raw) == ("UQ8.8", 0, 65535)
    assert FixedFormat(8, 0).name == "Q7.0" and FixedFormat(16, 16).name == "Q-1.16"
    assert FixedFormat(256, 0).max_raw == (1 << 255) - 1
    for args, message in [
        ((1, 0), "width 1 is out of range: allowed 2..256"),
        ((0, 0, False), "width 0 is out of range: allowed 1..256"),
        ((257, 3), "width 257 is out of range: allowed 2..256"),
        ((8, 9), "frac_bits 9 is out of range: allowed 0..8"),
        ((8, -1), "frac_bits -1 is out of range: allowed 0..8"),
        ((8, 2, 1), "signed=1: expected true or false"),
        ((8.0, 2), "width 8.0 is out of range"),
    ]:
        with pytest.raises(ParamError, match=message):
            FixedFormat(*args)


# -- the twin -----------------------------------------------------------------------------------

def test_twin_known_cases():
    q84, q80 = FixedFormat(8, 4), FixedFormat(8, 0)
    raw = np.array([0x18, 0x28, -0x18, -0x28, 0x7F, -0x80, 0x17, -0x19], dtype=np.int64)
    # 1.5, 2.5, -1.5, -2.5, 7.9375, -8, 1.4375, -1.5625
    want = {
        "truncate": [1, 2, -2, -3, 7, -8, 1, -2],
        "half_up": [2, 3, -1, -2, 8, -8, 1, -2],
        "half_even": [2, 2, -2, -2, 8, -8, 1, -2],
    }
    for rounding, expected in want.items():
        assert fx_requantize(raw, q84, q80, rounding).tolist() == expected
    # overflow into 3 bits (-4..3): saturate clamps, wrap keeps the low bits
    q30 = FixedFormat(3, 0)
    assert fx_requantize(raw, q84, q30, "half_up", "saturate").tolist() == [2, 3, -1, -2, 3, -4, 1, -2]
    assert fx_requantize(raw, q84, q30, "half_up", "wrap").tolist() == [2, 3, -1, -2, 0, 0, 1, -2]
    # widening is exact; negative into unsigned saturates to 0 or wraps
    assert fx_requantize([-1, 5], FixedFormat(4, 0), FixedFormat(8, 2, False), overflow="wrap").tolist() == [252, 20]
    assert fx_requantize([-1, 5], FixedFormat(4, 0), FixedFormat(8, 2, False)).tolist() == [0, 20]
    assert fx_value([0x18, -0x80], q84).tolist() == [1.5, -8.0]


def test_twin_dtypes_and_errors():
    q = FixedFormat(8, 4)
    assert fx_requantize(np.array([1], dtype=np.int8), q, FixedFormat(16, 0)).dtype == np.int64
    assert fx_requantize([1], q, FixedFormat(64, 0, False)).dtype == np.uint64
    wide = fx_requantize([1], q, FixedFormat(100, 90))
    assert wide.dtype == object and wide.tolist() == [1 << 86]
    assert fx_requantize(np.zeros((2, 3), dtype=np.int64), q, q).shape == (2, 3)
    with pytest.raises(ValueError, match=r"raw values must lie in -128..127 \(Q3.4, 8 bits signed\)"):
        fx_requantize([128], q, q)
    with pytest.raises(TypeError, match="expected raw integers"):
        fx_requantize([0.5], q, q)
    with pytest.raises(TypeError, match="expected raw integers"):
        fx_requantize(np.array([True], dtype=object), q, q)
    with pytest.raises(ValueError, match="rounding='nearest': allowed one of truncate, half_up, half_even"):
        fx_requantize([0], q, q, rounding="nearest")
    with pytest.raises(ValueError, match="overflow='clip': allowed one of wrap, saturate"):
        fx_requantize([0], q, q, overflow="clip")


@pytest.mark.parametrize("rounding, overflow", MODES)
def test_twin_exhaustive_narrow(rounding, overflow):
    """Every raw value of every pair of formats up to 5 bits wide (signed and unsigned, every
    fraction width), against the Fraction reference."""
    formats = [FixedFormat(w, f, s) for s in (True, False) for w in range(1 + s, 6)
               for f in range(w + 1)]
    for fmt_in, fmt_out in itertools.product(formats, formats):
        raws = all_raws(fmt_in)
        got = fx_requantize(raws, fmt_in, fmt_out, rounding, overflow).tolist()
        assert got == reference(raws, fmt_in, fmt_out, rounding, overflow), (fmt_in, fmt_out)


@pytest.mark.parametrize("rounding, overflow", MODES)
def test_twin_random_wide(rounding, overflow):
    rng = np.random.default_rng(ROUNDINGS.index(rounding) * 2 + OVERFLOWS.index(overflow))
    f = FixedFormat
    for fmt_in, fmt_out in [(f(32, 8), f(8, 0)), (f(48, 20), f(16, 4, False)),
                            (f(64, 30), f(64, 10)), (f(64, 0, False), f(40, 6)),
                            (f(256, 100), f(33, 7)), (f(200, 3), f(256, 60)), (f(16, 0), f(130, 128))]:
        raws = random_raws(fmt_in, rng, 2000)
        got = fx_requantize(raws, fmt_in, fmt_out, rounding, overflow).tolist()
        assert got == reference(raws, fmt_in, fmt_out, rounding, overflow), (fmt_in, fmt_out)


# -- the RTL ------------------------------------------------------------------------------------

def run_rtl(fmt_in, fmt_out, rounding, overflow, latency, raws, seed=0) -> list[int]:
    """Drive ``raws`` through a FixedRequantizer on Amaranth's simulator; when pipelined, the
    enable drops at random (the pipeline must hold) and each result is read after the enabled
    edge that brings it out."""
    dut = FixedRequantizer(fmt_in, fmt_out, rounding=rounding, overflow=overflow, latency=latency)
    raws = [int(v) for v in raws]
    got = []
    sim = Simulator(dut)
    if latency == 0:
        async def bench(ctx):
            for v in raws:
                ctx.set(dut.x, v)
                got.append(ctx.get(dut.y))
    else:
        sim.add_clock(1e-6)
        rng = np.random.default_rng(seed)

        async def bench(ctx):
            queue = raws + [0] * (latency - 1)            # trailing values flush the pipeline
            edges = 0
            while queue:
                enable = bool(rng.random() >= 0.3)
                ctx.set(dut.en, enable)
                ctx.set(dut.x, queue[0] if enable else fmt_in.min_raw)  # x is ignored when stalled
                await ctx.tick()
                if enable:
                    queue.pop(0)
                    edges += 1
                    if edges >= latency and len(got) < len(raws):
                        got.append(ctx.get(dut.y))
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("latency", [0, 2])
@pytest.mark.parametrize("rounding, overflow", MODES)
def test_rtl_exhaustive_narrow(rounding, overflow, latency):
    for index, (fmt_in, fmt_out) in enumerate(narrow_pairs()):
        raws = all_raws(fmt_in)
        want = fx_requantize(raws, fmt_in, fmt_out, rounding, overflow).tolist()
        got = run_rtl(fmt_in, fmt_out, rounding, overflow, latency, raws, seed=index)
        assert got == want, (fmt_in, fmt_out, [(int(r), g, w) for r, g, w in zip(raws, got, want)
                                                  if g != w][:5])


@pytest.mark.parametrize("latency", [0, 1, 3])
@pytest.mark.parametrize("rounding, overflow", MODES)
def test_rtl_random_wide(rounding, overflow, latency):
    rng = np.random.default_rng(10 + latency)
    f = FixedFormat
    for fmt_in, fmt_out in [(f(32, 8), f(8, 0)), (f(40, 20, False), f(16, 4)),
                            (f(64, 10), f(64, 30)), (f(100, 70), f(33, 7, False))]:
        raws = random_raws(fmt_in, rng, 300)
        want = fx_requantize(raws, fmt_in, fmt_out, rounding, overflow).tolist()
        assert run_rtl(fmt_in, fmt_out, rounding, overflow, latency, raws) == want, (fmt_in, fmt_out)


LINT_PAIRS = [
    (FixedFormat(32, 8), FixedFormat(8, 0)), (FixedFormat(8, 0), FixedFormat(8, 3, False)),
    (FixedFormat(4, 4, False), FixedFormat(3, 0, False)), (FixedFormat(8, 8, False), FixedFormat(6, 0)),
    (FixedFormat(16, 4), FixedFormat(16, 4)), (FixedFormat(5, 5), FixedFormat(2, 0)),
]


@pytest.mark.parametrize("pair", range(len(LINT_PAIRS)))
def test_lint(pair, tmp_path):
    """Every mode on every pair (widening, narrowing, sign changes, shifting everything out,
    no change), the latency cycling through 0..2."""
    fmt_in, fmt_out = LINT_PAIRS[pair]
    for index, (rounding, overflow) in enumerate(MODES):
        dut = FixedRequantizer(fmt_in, fmt_out, rounding=rounding, overflow=overflow,
                               latency=(pair + index) % 3)
        path = tmp_path / f"requant{index}.v"
        path.write_text(verilog.convert(dut, name=f"requant{index}"))
        assert toolchain.lint(path, f"requant{index}") == [], (fmt_in, fmt_out, rounding, overflow)


def test_rtl_arguments():
    q = FixedFormat(8, 4)
    with warnings.catch_warnings():       # refused components are never elaborated
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="rounding='up': allowed one of"):
            FixedRequantizer(q, q, rounding="up")
        with pytest.raises(ValueError, match="overflow='clamp': allowed one of"):
            FixedRequantizer(q, q, overflow="clamp")
        with pytest.raises(ValueError, match="latency must be >= 0, not -1"):
            FixedRequantizer(q, q, latency=-1)
        gc.collect()
    for latency, ports in ((1, {"x", "y", "en"}), (0, {"x", "y"})):
        dut = FixedRequantizer(q, FixedFormat(6, 0, False), latency=latency)
        assert dut.x.shape() == signed(8) and dut.y.shape() == unsigned(6)
        assert set(dut.signature.members) == ports
        Fragment.get(dut, None)
