"""Golden models of ``attention_engine`` (``hwgen.blocks.attention.golden``).

* The vectorized twin equals, bit for bit, a slow scalar implementation written here
  separately from the specification with plain Python loops over the numerics twins, for every
  mode / softmax / dtype on small cases of every stimulus kind.
* The fast fp32 operators the twin is built on equal the numerics twins on random and special
  patterns.
* Dense mode is within the documented bound of float64 attention (docs/attention.md,
  Accuracy); SparF is close to dense float64 when attention is concentrated, and close to the
  float64 SparF algorithm when both select the same sets.
* Spec properties: tie breaks toward the lower index, top_k >= seq_len keeps every token, NaN
  in V reaches exactly the output dims it sits in, seq_len 1 returns V[0].
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwgen.blocks.attention import golden as ag
from hwgen.blocks.attention.pipeline import sum_slots
from hwgen.core.params import ParamError
from hwgen.numerics import golden as ng
from hwgen.numerics.formats import PRESETS

F32 = PRESETS["fp32"]
DTYPES = ("fp16", "bf16")
SOFTMAXES = ("two_pass", "online")
MODES = ("dense", "sparf")
NEG_INF32 = F32.inf(1)
ONE32 = 0x3F800000

# Dense error bound (docs/attention.md): |y - ref| <= A * ulp_D(|ref|) + B * max|V| * 2**-p.
BOUND_ULPS = 1.0
BOUND_V = 1.0


# -- the scalar implementation ------------------------------------------------------------------

class Scalar:
    """The specification's operators on single Python-int patterns, by the numerics twins."""

    def __init__(self, dtype: str):
        self.D = PRESETS[dtype]

    def mulw(self, a, b):
        return int(ng.fp_mul(a, b, self.D, out_fmt=F32))

    def add32(self, a, b):
        return int(ng.fp_add(a, b, F32))

    def sub32(self, a, b):
        return int(ng.fp_sub(a, b, F32))

    def mul32(self, a, b):
        return int(ng.fp_mul(a, b, F32))

    def fma32(self, a, b, c):
        return int(ng.fp_fma(a, b, c, F32))

    def max32(self, a, b):
        return int(ng.fp_max(a, b, F32))

    def to32(self, x):
        return int(ng.fp_convert(x, self.D, F32))

    def to_d(self, x):
        return int(ng.fp_convert(x, F32, self.D))

    def mul_d(self, a, b):
        return int(ng.fp_mul(a, b, self.D))

    def exp(self, x):
        return int(ng.fp_exp(np.array([x], dtype=np.uint64), self.D)[0])

    def recip(self, x):
        return int(ng.fp_recip(np.array([x], dtype=np.uint64), self.D)[0])

    def rsqrt(self, x):
        return int(ng.fp_rsqrt(np.array([x], dtype=np.uint64), self.D)[0])

    def chain(self, xs):
        if not xs:
            return 0
        acc = xs[0]
        for x in xs[1:]:
            acc = self.add32(acc, x)
        return acc

    def sum(self, xs, keep=None):
        """The engine's sums: the interleaved accumulator's order (numerics' twin, at the
        engine's slots) over ``xs``, those not in ``keep`` (indices) as -0."""
        bits = [x if keep is None or i in keep else 0x80000000 for i, x in enumerate(xs)]
        last = [0] * (len(bits) - 1) + [1]
        return int(ng.fp_accumulate(np.array(bits, dtype=np.uint64), np.array(last), F32,
                                    sum_slots())[0])


def f32_bits(value: float) -> int:
    return int(np.float32(value).view(np.uint32))


def rank_key32(x: int) -> int:
    return (x | 0x80000000) if x >> 31 == 0 else (~x & 0xFFFFFFFF)


def scalar_score(op: Scalar, q, k_row):
    """s_t: a pairwise tree over the head_dim products (adjacent pairs, level by level)."""
    level = [op.mulw(x, k) for x, k in zip(q, k_row)]
    while len(level) > 1:
        level = [op.add32(level[2 * j], level[2 * j + 1]) for j in range(len(level) // 2)]
    return op.mul32(level[0], f32_bits(1.0 / math.sqrt(len(q))))


def scalar_attention(q, K, V, dtype, softmax, mode, top_r, top_k, lanes):
    """One query, straight from the specification."""
    op = Scalar(dtype)
    D = op.D
    q = [int(x) for x in q]
    K = [[int(x) for x in row] for row in K]
    V = [[int(x) for x in row] for row in V]
    head_dim, seq_len = len(q), len(K)

    s = [scalar_score(op, q, K[t]) for t in range(seq_len)]

    def attend(tokens):
        o = [0] * head_dim
        if softmax == "two_pass":
            m = NEG_INF32
            for t in tokens:
                m = op.max32(m, s[t])
            e = {t: op.exp(op.to_d(op.sub32(s[t], m))) for t in tokens}
            total = op.sum([op.to32(e.get(t, 0)) for t in range(seq_len)], keep=set(tokens))
            r = op.recip(op.to_d(total))
            one32 = op.to32(D.bias << D.man_bits)
            for t in tokens:
                pn = op.mul_d(e[t], r)
                for d in range(head_dim):
                    o[d] = op.fma32(o[d], one32, op.mulw(pn, V[t][d]))
            return o
        m, l = NEG_INF32, 0
        for t in tokens:
            m2 = op.max32(m, s[t])
            scale = op.exp(op.to_d(op.sub32(m, m2)))
            p = op.exp(op.to_d(op.sub32(s[t], m2)))
            l = op.fma32(l, op.to32(scale), op.to32(p))
            for d in range(head_dim):
                o[d] = op.fma32(o[d], op.to32(scale), op.mulw(p, V[t][d]))
            m = m2
        r = op.to32(op.recip(op.to_d(l)))
        return [op.fma32(x, r, 0) for x in o]

    if mode == "dense":
        o = attend(list(range(seq_len)))
        return [op.to_d(x) for x in o], [], list(range(seq_len)), None

    a = [x & ((1 << (D.width - 1)) - 1) for x in q]
    channels = sorted(sorted(range(head_dim), key=lambda i: (-a[i], i))[:top_r])
    total = op.sum([op.to32(x) for x in a])
    selected = op.sum([op.to32(x) for x in a], keep=set(channels))
    share = op.mul32(selected, op.to32(op.recip(op.to_d(total))))
    scale_hat = op.rsqrt(op.to_d(op.mul32(share, f32_bits(head_dim))))
    s_hat = [op.mul32(op.chain([op.mulw(q[c], K[t][c]) for c in channels]), op.to32(scale_hat))
             for t in range(seq_len)]
    ranked = sorted(range(seq_len), key=lambda t: (-rank_key32(s_hat[t]), t))
    tokens = sorted(ranked[:top_k])
    e = [op.exp(op.to_d(op.sub32(s_hat[t], s_hat[ranked[0]]))) for t in range(seq_len)]
    den = op.sum([op.to32(x) for x in e])
    num = op.sum([op.to32(x) for x in e], keep=set(tokens))
    alpha32 = op.mul32(num, op.to32(op.recip(op.to_d(den))))
    alpha = op.to_d(alpha32)
    beta = op.to_d(op.sub32(ONE32, alpha32))
    inv_n = f32_bits(1.0 / seq_len)
    mean = [op.to_d(op.mul32(op.chain([op.to32(V[t][d]) for t in range(seq_len)]), inv_n))
            for d in range(head_dim)]
    o = attend(tokens)
    o = [op.fma32(o[d], op.to32(alpha), op.mulw(beta, mean[d])) for d in range(head_dim)]
    return [op.to_d(x) for x in o], channels, tokens, alpha


# -- helpers ------------------------------------------------------------------------------------

def inputs(seed, dtype, kind, head_dim, seq_len, queries=1):
    return ag.attention_inputs(np.random.default_rng(seed), head_dim=head_dim, seq_len=seq_len,
                               queries=queries, dtype=dtype, kind=kind)


def twin(x, **kw):
    return ag.attention_twin(x["q"], x["K"], x["V"], **kw)


def values(bits, dtype):
    return ng.decode(np.asarray(bits, dtype=np.uint64), PRESETS[dtype])


def ulp(x, dtype):
    """The spacing of D at |x| (the subnormal spacing below the smallest normal)."""
    fmt = PRESETS[dtype]
    binade = np.maximum(np.floor(np.log2(np.maximum(np.abs(x), 1e-300))), 1 - fmt.bias)
    return np.ldexp(1.0, (binade - fmt.man_bits).astype(np.int32))


def dense_bound(ref, V_values, dtype):
    p = PRESETS[dtype].precision
    return BOUND_ULPS * ulp(ref, dtype) + BOUND_V * np.max(np.abs(V_values)) * 2.0 ** -p


# -- the fast fp32 operators against the numerics twins ------------------------------------------

def f32_operands(rng, n):
    """Random fp32 patterns: a third anything (NaN, Inf, subnormal...), the rest values of
    moderate size, with the special-value set mixed in."""
    raw = rng.integers(0, 1 << 32, size=n, dtype=np.uint64)
    moderate = ng.encode(rng.normal(0, 1, size=n) * 2.0 ** rng.integers(-130, 20, size=n), F32)
    specials = ng.special_values(F32)
    out = np.where(rng.random(n) < 0.33, raw, moderate)
    pick = rng.random(n) < 0.1
    out[pick] = rng.choice(specials, size=int(pick.sum()))
    return out


def test_fast_fp32_operators_equal_twins():
    rng = np.random.default_rng(61)
    n = 6000
    a, b = f32_operands(rng, n), f32_operands(rng, n)
    va, vb = ag._value32(a), ag._value32(b)
    with np.errstate(all="ignore"):
        assert np.array_equal(ag._bits32(va + vb), ng.fp_add(a, b, F32))
        assert np.array_equal(ag._bits32(va - vb), ng.fp_sub(a, b, F32))
        assert np.array_equal(ag._bits32(va * vb), ng.fp_mul(a, b, F32))
    # fma: c anywhere, then c near -a*b (cancellation, where one rounding matters) and c a
    # few ulps off a product's rounding tie.
    c = f32_operands(rng, n)
    with np.errstate(all="ignore"):
        near = ag._bits32(-(va * vb)).astype(np.int64) + rng.integers(-3, 4, size=n)
    near = np.clip(near, 0, (1 << 32) - 1).astype(np.uint64)
    for addend in (c, near):
        got = ag._bits32(ag._fma32(va, vb, ag._value32(addend)))
        assert np.array_equal(got, ng.fp_fma(a, b, addend, F32))
    # ties: odd integers a, b with an odd product in [2**24, 2**25) sit exactly halfway
    # between fp32 neighbours; a c far below breaks the tie, which float64 alone would lose.
    a_int = rng.integers(1 << 11, 1 << 12, size=n) * 2 + 1
    b_int = (rng.integers((1 << 24) // a_int, (1 << 25) // a_int) | 1)
    keep = (a_int * b_int >= 1 << 24) & (a_int * b_int < 1 << 25)
    a_t, b_t = ng.encode(a_int[keep], F32), ng.encode(b_int[keep], F32)
    tiny = rng.choice([-1.0, 1.0], size=int(keep.sum())) * 2.0 ** -rng.integers(1, 40, size=int(keep.sum()))
    for addend in (np.zeros(a_t.size, dtype=np.uint64), ng.encode(tiny, F32)):
        got = ag._bits32(ag._fma32(ag._value32(a_t), ag._value32(b_t), ag._value32(addend)))
        assert np.array_equal(got, ng.fp_fma(a_t, b_t, addend, F32))
    assert keep.sum() > n // 4

    # running max from -Inf
    x = f32_operands(rng, 400)
    x[rng.random(400) < 0.9] &= np.uint64(0x7FFFFFFF) ^ np.uint64(0x00400000)  # mostly not NaN
    running, m = [], NEG_INF32
    for value in x.tolist():
        m = int(ng.fp_max(m, value, F32))
        running.append(m)
    assert np.array_equal(ag._bits32(ag._prefix_max32(ag._value32(x))), running)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_widen_and_widening_multiply_equal_twins(dtype):
    rng = np.random.default_rng(62)
    D = PRESETS[dtype]
    a = rng.integers(0, 1 << 16, size=20000, dtype=np.uint64)
    b = rng.integers(0, 1 << 16, size=20000, dtype=np.uint64)
    b[:2000] = ng.special_values(D)[rng.integers(0, ng.special_values(D).size, size=2000)]
    wa, wb = ag._widen(a, D), ag._widen(b, D)
    assert np.array_equal(ag._bits32(wa), ng.fp_convert(a, D, F32))
    with np.errstate(all="ignore"):
        assert np.array_equal(ag._bits32(wa * wb), ng.fp_mul(a, b, D, out_fmt=F32))


# -- the twin against the scalar implementation ---------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("softmax", SOFTMAXES)
@pytest.mark.parametrize("mode", MODES)
def test_twin_equals_scalar_implementation(mode, softmax, dtype):
    rng = np.random.default_rng([63, MODES.index(mode), SOFTMAXES.index(softmax),
                                 DTYPES.index(dtype)])
    cases = 0
    for kind in ag.INPUT_KINDS:
        for _ in range(6):
            seq_len = int(rng.choice([1, 2, 5, 13, 16, 20]))
            lanes = int(rng.choice([2, 4, 8]))
            top_r = int(rng.integers(1, 9))
            top_k = int(rng.integers(1, seq_len + 3))
            x = inputs(int(rng.integers(1 << 30)), dtype, kind, 8, seq_len)
            got = twin(x, dtype=dtype, softmax=softmax, mode=mode, top_r=top_r, top_k=top_k,
                       lanes=lanes)
            o, channels, tokens, alpha = scalar_attention(x["q"], x["K"], x["V"], dtype, softmax,
                                                          mode, top_r, top_k, lanes)
            where = f"{kind} seq_len={seq_len} lanes={lanes} r={top_r} k={top_k}"
            assert got["o"].tolist() == o, where
            assert (got["channels"], got["tokens"], got["alpha"]) == (channels, tokens, alpha), where
            cases += 1
    assert cases == 6 * len(ag.INPUT_KINDS)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scores_equal_scalar_scores(dtype):
    """The scores are compared directly: most fp32 rounding differences in them (a sequential
    instead of a pairwise lane sum, say) would not survive into a D output."""
    op = Scalar(dtype)
    D = PRESETS[dtype]
    for head_dim in (8, 16, 32, 64):
        x = inputs(60 + head_dim, dtype, ("random", "special")[head_dim % 32 == 0], head_dim, 40)
        got = ag._bits32(ag._scores(ag._widen(x["q"], D), ag._widen(x["K"], D)))
        want = [scalar_score(op, x["q"].tolist(), row) for row in x["K"].tolist()]
        assert got.tolist() == want, head_dim


def test_twin_takes_several_queries():
    x = inputs(64, "fp16", "random", 16, 40, queries=3)
    both = twin(x, mode="sparf", top_r=4, top_k=8)
    assert both["o"].shape == (3, 16)
    for i in range(3):
        one = ag.attention_twin(x["q"][i], x["K"], x["V"], mode="sparf", top_r=4, top_k=8)
        assert np.array_equal(both["o"][i], one["o"])
        assert (both["channels"][i], both["tokens"][i], both["alpha"][i]) == (
            one["channels"], one["tokens"], one["alpha"])


# -- accuracy -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_error_within_documented_bound(dtype):
    worst = 0.0
    for seed in range(24):
        kind = ("random", "concentrated")[seed % 2]
        head_dim, seq_len = (32, 64)[seed % 3 == 0], (17, 100, 300)[seed % 3]
        x = inputs(seed, dtype, kind, head_dim, seq_len, queries=2)
        ref = ag.attention_float64(x["q"], x["K"], x["V"], dtype)
        bound = dense_bound(ref, values(x["V"], dtype), dtype)
        for softmax in SOFTMAXES:
            y = values(twin(x, dtype=dtype, softmax=softmax)["o"], dtype)
            err = np.abs(y - ref)
            assert np.all(err <= bound), (seed, softmax, float(np.max(err / bound)))
            worst = max(worst, float(np.max(err / bound)))
    # the bound is not vacuous: the worst case uses a real part of it
    assert worst > 0.1


def test_sparf_close_to_dense_on_concentrated_attention():
    for dtype in DTYPES:
        for seed in range(6):
            x = inputs(100 + seed, dtype, "concentrated", 64, 512)
            ref = ag.attention_float64(x["q"], x["K"], x["V"], dtype)
            y = values(twin(x, dtype=dtype, mode="sparf", top_r=16, top_k=32)["o"], dtype)
            assert np.max(np.abs(y - ref)) <= 0.1 * np.max(np.abs(ref)), (dtype, seed)


def test_sparf_twin_follows_float64_sparf():
    """Where float64 SparF picks the same tokens, the twin is near it (dense-like bound plus
    alpha's D rounding times max|V|)."""
    for dtype in DTYPES:
        p = PRESETS[dtype].precision
        for seed in range(6):
            x = inputs(200 + seed, dtype, ("random", "concentrated")[seed % 2], 64, 256)
            got = twin(x, dtype=dtype, mode="sparf", top_r=16, top_k=48)
            ref = ag.sparf_float64(x["q"], x["K"], x["V"], 16, 48, dtype)
            vmax = np.max(np.abs(values(x["V"], dtype)))
            err = np.abs(values(got["o"], dtype) - ref)
            assert np.all(err <= ulp(ref, dtype) + 8 * vmax * 2.0 ** -p), (dtype, seed)


def test_float64_sparf_with_everything_selected_is_dense_attention():
    x = inputs(65, "fp16", "random", 16, 30, queries=2)
    dense = ag.attention_float64(x["q"], x["K"], x["V"])
    assert np.allclose(ag.sparf_float64(x["q"], x["K"], x["V"], 16, 30), dense,
                       rtol=1e-12, atol=1e-14)
    assert not np.allclose(ag.sparf_float64(x["q"], x["K"], x["V"], 4, 5), dense,
                           rtol=1e-6, atol=1e-8)


# -- spec properties ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_break_toward_the_lower_index(dtype):
    D = PRESETS[dtype]
    head_dim, seq_len = 16, 40
    one, half = D.bias << D.man_bits, (D.bias - 1) << D.man_bits
    sign = 1 << (D.width - 1)
    # |q|: channels 3, 5, 9, 12 hold the large magnitude (some negative), the rest the small.
    q = np.full(head_dim, half, dtype=np.uint64)
    q[[3, 5, 9, 12]] = one
    q[[5, 7]] |= sign
    rng = np.random.default_rng(66)
    row = ng.encode(rng.normal(0, 1, size=head_dim), D)
    K = np.tile(row, (seq_len, 1))
    V = ng.encode(rng.normal(0, 1, size=(seq_len, head_dim)), D)
    for softmax in SOFTMAXES:
        got = ag.attention_twin(q, K, V, dtype=dtype, softmax=softmax, mode="sparf", top_r=6,
                                top_k=7)
        assert got["channels"] == [0, 1, 3, 5, 9, 12]
        assert got["tokens"] == list(range(7))
    # a later token with a larger score wins over the tie, and ties after it stay low-index
    K[30] = ng.encode(2 * np.abs(ng.decode(row, D)) * np.sign(ng.decode(q, D)), D)
    got = ag.attention_twin(q, K, V, dtype=dtype, mode="sparf", top_r=6, top_k=3)
    assert got["tokens"] == [0, 1, 30]


@pytest.mark.parametrize("mode", MODES)
def test_top_k_at_least_seq_len_keeps_every_token(mode):
    x = inputs(67, "fp16", "random", 32, 50)
    for top_k in (50, 51, 256):
        assert twin(x, mode=mode, top_k=top_k)["tokens"] == list(range(50))
    assert len(twin(x, mode="sparf", top_k=49)["tokens"]) == 49


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
def test_nan_in_v_reaches_exactly_its_output_dims(mode, dtype):
    x = inputs(68, dtype, "random", 32, 60)
    D = PRESETS[dtype]
    V = x["V"].copy()
    V[7, 3] = D.canonical_nan
    V[50, 20] = D.canonical_nan | 1      # any NaN pattern, not just the canonical one
    V[12, 3] = D.inf(0)
    for softmax in SOFTMAXES:
        out = ag.attention_twin(x["q"], x["K"], V, dtype=dtype, softmax=softmax, mode=mode,
                                top_k=60)["o"]
        nan = ng.is_nan(out, D)
        assert nan[[3, 20]].all() and nan.sum() == 2
        assert out[3] == D.canonical_nan


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("softmax", SOFTMAXES)
@pytest.mark.parametrize("mode", MODES)
def test_single_token_returns_its_value_row(mode, softmax, dtype):
    for seed in range(3):
        x = inputs(69 + seed, dtype, "random", 64, 1)
        got = twin(x, dtype=dtype, softmax=softmax, mode=mode, top_k=1)
        assert np.array_equal(values(got["o"], dtype), values(x["V"][0], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_vmean_is_the_chain_sum_times_one_over_n(dtype):
    op = Scalar(dtype)
    # At seq_len 7 about 0.7% of columns round differently when the sum is divided by 7
    # instead of multiplied by np.float32(1/7): 1024 columns make the spec's form observable.
    for seq_len, head_dim in ((3, 32), (7, 1024), (37, 32)):
        x = inputs(70 + seq_len, dtype, "random", head_dim, seq_len)
        inv_n = f32_bits(1 / seq_len)
        want = [op.to_d(op.mul32(op.chain([op.to32(int(v)) for v in x["V"][:, d]]), inv_n))
                for d in range(head_dim)]
        assert ag.vmean(x["V"], dtype).tolist() == want
        mean = values(x["V"], dtype).mean(axis=0)
        assert np.all(np.abs(values(want, dtype) - mean) <= 4 * ulp(mean, dtype) + 1e-6)


# -- stimulus and parameter checks ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_stimulus_kinds(dtype):
    D = PRESETS[dtype]
    x = inputs(71, dtype, "random", 64, 300, queries=2)
    assert x["q"].shape == (2, 64) and x["K"].shape == x["V"].shape == (300, 64)
    again = inputs(71, dtype, "random", 64, 300, queries=2)
    assert all(np.array_equal(x[n], again[n]) for n in "qKV")
    s = values(x["K"], dtype) @ values(x["q"][0], dtype) / 8
    assert 2 < np.max(np.abs(s)) < 8

    c = inputs(72, dtype, "concentrated", 128, 2048)
    s = values(c["K"], dtype) @ values(c["q"], dtype) / math.sqrt(128)
    weights = np.exp(s - s.max())
    weights /= weights.sum()
    assert np.sort(weights)[-4:].sum() > 0.6

    specials = np.concatenate([inputs(73 + i, dtype, "special", 64, 200)[n].ravel()
                               for i in range(4) for n in "qKV"])
    magnitude = specials & np.uint64((1 << (D.width - 1)) - 1)
    exponent = magnitude >> np.uint64(D.man_bits)
    assert np.any((exponent == 0) & (magnitude != 0))            # subnormals
    assert np.any(magnitude == 0)                                 # zeros
    assert np.any(magnitude == D.inf(0))                          # infinities
    assert np.any(ng.is_nan(specials, D))
    finite = values(specials, dtype)
    finite = finite[np.isfinite(finite)]
    assert np.max(np.abs(finite)) > 1e4                           # large magnitudes

    t = inputs(74, dtype, "ties", 32, 100)
    magnitudes = t["q"] & np.uint64((1 << (D.width - 1)) - 1)
    assert len(set(magnitudes.tolist())) <= 2
    assert len({tuple(row) for row in t["K"].tolist()}) <= 4


def test_parameters_out_of_range_raise_param_error():
    x = inputs(75, "fp16", "random", 16, 10)
    bad = [dict(dtype="fp32"), dict(softmax="three_pass"), dict(mode="sparse"), dict(top_r=0),
           dict(top_k=0), dict(lanes=3), dict(lanes=32), dict(top_k=True)]
    for kwargs in bad:
        with pytest.raises(ParamError, match=next(iter(kwargs))):
            twin(x, **kwargs)
    with pytest.raises(ParamError, match="K, V"):
        ag.attention_twin(x["q"], x["K"][:, :8], x["V"])
    with pytest.raises(ParamError, match="K, V"):
        ag.attention_twin(x["q"], x["K"][:0], x["V"][:0])
    with pytest.raises(ParamError, match="kind"):
        ag.attention_inputs(np.random.default_rng(0), head_dim=8, seq_len=4, kind="uniform")
    with pytest.raises(ParamError, match="V"):
        ag.vmean(x["V"][0])
