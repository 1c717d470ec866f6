"""Golden models of ``attention_engine``: the bit-exact twin, float64 references and stimulus.

* :func:`attention_twin` follows the arithmetic specification of docs/attention.md (dense
  scores, the two softmax kinds, SparF's channel and token selection, the V mean) operation by
  operation, so the engine's output compares bit for bit. It is written from that
  specification, never from the RTL.
* :func:`attention_float64` and :func:`sparf_float64` are the exact definitions in float64 on
  the decoded inputs (the accuracy references).
* :func:`attention_inputs` draws seeded stimulus of four kinds (random, concentrated, special,
  ties).

Speed. The scalar numerics twins (``hwgen.numerics.golden``) cost 1-3 us per element, which
would make one query at seq_len 2048, head_dim 128 take several seconds. The fp32 operators
(``mulw``, ``add32``, ``sub32``, ``mul32``, ``fma32``, ``max32``) are therefore evaluated here
on NumPy float32/float64 arrays, whose IEEE arithmetic (round to nearest even, gradual
underflow, overflow to Inf, signed zeros) is the twins' semantics; the differences are handled
explicitly:

* NaN payloads: NumPy propagates them (and x86 makes a negative default NaN); every fp32 result
  is canonicalized (:func:`_bits32`) before it is looked at as a pattern. Since any NaN operand
  gives the canonical NaN in the twins, intermediate payloads never change a result.
* ``fma32`` rounds once: the product of two fp32 values is exact in float64, the sum is taken
  in float64 with its exact error (TwoSum), then rounded to odd in float64 (53 >= 24 + 2 bits),
  which makes the final float64 -> float32 rounding the correctly rounded fp32 result.
* ``mulw`` widens both D operands to float32 exactly, then multiplies in float32: exact for
  fp16 operands, one correct rounding for bf16 (possible only in fp32's subnormal range).

Every conversion into D, and exp, recip, rsqrt and the D-rounded product, use the numerics
twins. tests/blocks/attention/test_golden.py checks these fast operators against the twins on random
and special patterns, and the whole twin against a slow scalar implementation built only from
the numerics twins.
"""

from __future__ import annotations

import math

import numpy as np

from ...core.params import ParamError
from ...numerics import golden as ng
from ...numerics.formats import PRESETS, FloatFormat
from .pipeline import sum_slots

__all__ = ["attention_float64", "attention_inputs", "attention_twin", "INPUT_KINDS", "key32",
           "sparf_float64", "vmean"]

F32 = PRESETS["fp32"]
DTYPES = ("fp16", "bf16")
SOFTMAX_KINDS = ("two_pass", "online")
MODES = ("dense", "sparf")
INPUT_KINDS = ("random", "concentrated", "special", "ties")
_F32_NAN = np.uint32(F32.canonical_nan)


def _choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ParamError(f"parameter {name}={value!r}: allowed one of {', '.join(allowed)}")


def _int_at_least(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ParamError(f"parameter {name}={value!r}: allowed an integer >= {low}")


def _format(dtype: str) -> FloatFormat:
    _choice("dtype", dtype, DTYPES)
    return PRESETS[dtype]


# -- fp32 operators on float32 arrays ---------------------------------------------------------

def _bits32(x) -> np.ndarray:
    """fp32 patterns (uint64) of float32 values, NaNs made canonical."""
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32)
    return np.where(np.isnan(x), _F32_NAN, bits).astype(np.uint64)


def _value32(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.uint64).astype(np.uint32).view(np.float32)


def _widen(bits, fmt: FloatFormat) -> np.ndarray:
    """``cvt(x, D, F32)``: exact (every D value is an fp32 value), NaN stays NaN."""
    return ng.decode(bits, fmt).astype(np.float32)


def _narrow(x, fmt: FloatFormat) -> np.ndarray:
    """``cvt(x, F32, D)``, by the numerics twin."""
    return ng.fp_convert(_bits32(x), F32, fmt)


def _unit(function, bits, fmt: FloatFormat) -> np.ndarray:
    """A function-unit twin on patterns of any shape (the unit twins index 1-D arrays)."""
    bits = np.asarray(bits, dtype=np.uint64)
    return function(bits.reshape(-1), fmt).reshape(bits.shape)


def _fma32(a, b, c) -> np.ndarray:
    """``round_fp32(a*b + c)`` with one rounding (see the module docstring)."""
    with np.errstate(all="ignore"):
        a, b, c = (np.asarray(v, dtype=np.float32).astype(np.float64) for v in (a, b, c))
        product = a * b                         # 24 x 24 significand bits: exact in float64
        total = product + c
        back = total - product
        error = (product - (total - back)) + (c - back)
        inexact = np.isfinite(total) & (error != 0)
        even = (total.view(np.uint64) & np.uint64(1)) == 0
        # Of the two float64 neighbours around the exact sum exactly one is odd: that one is
        # the round-to-odd result, from which one more rounding to fp32 is correct.
        toward = np.nextafter(total, np.where(error > 0, np.inf, -np.inf))
        odd_rounded = np.where(inexact & even, toward, total)
        return odd_rounded.astype(np.float32)


def _prefix_max32(x) -> np.ndarray:
    """The running ``max32`` from -Inf: a NaN (canonical, so above +Inf in key32 order) stays."""
    keys = key32(_bits32(x))
    running = np.maximum.accumulate(keys)
    bits = np.where(running >> np.uint64(31), running & np.uint64(0x7FFFFFFF),
                    ~running & np.uint64(0xFFFFFFFF))
    return _value32(bits)


def key32(bits) -> np.ndarray:
    """The total order on fp32 patterns: ``x | 0x80000000`` for sign 0, ``~x`` for sign 1 (so
    -0 sits just below +0 and a positive NaN above +Inf)."""
    bits = np.asarray(bits, dtype=np.uint64)
    negative = (bits >> np.uint64(31)) & np.uint64(1)
    return np.where(negative == 1, ~bits & np.uint64(0xFFFFFFFF), bits | np.uint64(0x80000000))


MINUS_ZERO32 = np.uint64(0x80000000)


def _sum32(values, mask=None) -> np.float32:
    """The engine's sums: ``values`` (float32) in order through the interleaved accumulator
    (``numerics.golden.fp_accumulate`` with ``pipeline.sum_slots()`` partial sums), every value
    where ``mask`` is False replaced by -0 (so it takes its slot but adds nothing)."""
    bits = _bits32(np.asarray(values, dtype=np.float32)).astype(np.uint64).ravel()
    if mask is not None:
        bits = np.where(np.asarray(mask, dtype=bool).ravel(), bits, MINUS_ZERO32)
    if bits.size == 0:
        return np.float32(0.0)
    last = np.zeros(bits.size, dtype=np.uint8)
    last[-1] = 1
    total = ng.fp_accumulate(bits, last, F32, sum_slots())[0]
    return np.array([total], dtype=np.uint64).astype(np.uint32).view(np.float32)[0]


def _top(keys: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` largest keys, ties toward the lower index, in rank order."""
    order = np.lexsort((np.arange(keys.size), -keys.astype(np.float64) if keys.dtype.kind == "f"
                        else ~keys.astype(np.uint64)))
    return order[:min(count, keys.size)]


# -- the arithmetic of one query --------------------------------------------------------------

def _scores(qw: np.ndarray, kw: np.ndarray) -> np.ndarray:
    """Dense scores s_t: a pairwise tree over the row's head_dim products (adjacent pairs,
    level by level), then times c_d."""
    head_dim = kw.shape[1]
    with np.errstate(all="ignore"):
        level = kw * qw
        while level.shape[-1] > 1:
            level = level[..., 0::2] + level[..., 1::2]
        return level[..., 0] * np.float32(1.0 / math.sqrt(head_dim))


def _exp_of_difference(x, y, fmt: FloatFormat) -> np.ndarray:
    """``exp(cvt(sub32(x, y), F32, D))`` in D."""
    with np.errstate(all="ignore"):
        difference = np.asarray(x, dtype=np.float32) - np.asarray(y, dtype=np.float32)
    return _unit(ng.fp_exp, _narrow(difference, fmt), fmt)


def _softmax_two_pass(s: np.ndarray, vw: np.ndarray, fmt: FloatFormat, tokens=None,
                      seq_len=None) -> np.ndarray:
    """The paper's order: max, exp, sum, one reciprocal, normalized weights times V. The sum
    runs over the scan of every cached token, the ones outside ``tokens`` (SparF's selection,
    in order; dense: all) adding -0."""
    m = _prefix_max32(s)[-1]
    e = _exp_of_difference(s, m, fmt)
    if tokens is None:
        total = _sum32(_widen(e, fmt))
    else:
        scan = np.zeros(seq_len, dtype=np.float32)
        scan[tokens] = _widen(e, fmt)
        total = _sum32(scan, np.isin(np.arange(seq_len), tokens))
    r = _unit(ng.fp_recip, _narrow(total, fmt), fmt)
    pn = ng.fp_mul(e, np.broadcast_to(r, e.shape), fmt)
    with np.errstate(all="ignore"):
        products = _widen(pn, fmt)[:, None] * vw
    one = np.float32(1.0)
    o = np.zeros(vw.shape[1], dtype=np.float32)
    for row in products:
        o = _fma32(o, one, row)
    return o


def _softmax_online(s: np.ndarray, vw: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """Running max and rescale; l rides along as one more column of the accumulator (it has
    the same fma32(acc, scale, x) recurrence with x = cvt(p, D, F32))."""
    m = _prefix_max32(s)
    m_before = np.concatenate([np.array([-np.inf], dtype=np.float32), m[:-1]])
    scale = _widen(_exp_of_difference(m_before, m, fmt), fmt)
    p = _widen(_exp_of_difference(s, m, fmt), fmt)
    with np.errstate(all="ignore"):
        columns = np.concatenate([p[:, None] * vw, p[:, None]], axis=1)
    acc = np.zeros(columns.shape[1], dtype=np.float32)
    for t in range(columns.shape[0]):
        acc = _fma32(acc, scale[t], columns[t])
    o, l = acc[:-1], acc[-1]
    r = _widen(_unit(ng.fp_recip, _narrow(l, fmt), fmt), fmt)
    return _fma32(o, r, np.float32(0.0))


def _softmax(kind: str, s, vw, fmt, tokens=None, seq_len=None):
    if kind == "two_pass":
        return _softmax_two_pass(s, vw, fmt, tokens, seq_len)
    return _softmax_online(s, vw, fmt)


def _vmean_values(vw: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    acc = vw[0].copy()
    with np.errstate(all="ignore"):
        for row in vw[1:]:
            acc = acc + row
        return _narrow(acc * np.float32(1.0 / vw.shape[0]), fmt)


def vmean(V, dtype: str = "fp16") -> np.ndarray:
    """The stored V mean (spec step 6): the fp32 chain-sum of each column over the tokens,
    times ``np.float32(1/seq_len)``, rounded to D. ``V`` is (seq_len, head_dim) D patterns;
    returns (head_dim,) uint64 D patterns."""
    fmt = _format(dtype)
    v = ng.as_bits(V, fmt, "V")
    if v.ndim != 2 or v.shape[0] < 1:
        raise ParamError(f"V: expected (seq_len >= 1, head_dim) patterns, got shape {v.shape}")
    return _vmean_values(_widen(v, fmt), fmt)


def _sparf_selection(q: np.ndarray, kw: np.ndarray, top_r: int, top_k: int, fmt: FloatFormat):
    """SparF steps 1-4: channels R, tokens T, and alpha32 (a float32)."""
    head_dim = q.size
    magnitude = q & np.uint64((1 << (fmt.width - 1)) - 1)
    channels = np.sort(_top(magnitude, top_r))
    aw = _widen(magnitude, fmt)
    total = _sum32(aw)
    selected = _sum32(aw, np.isin(np.arange(head_dim), channels))
    with np.errstate(all="ignore"):
        share = selected * _widen(_unit(ng.fp_recip, _narrow(total, fmt), fmt), fmt)
        scale_hat = _unit(ng.fp_rsqrt, _narrow(share * np.float32(head_dim), fmt), fmt)
        qw = _widen(q, fmt)
        acc = qw[channels[0]] * kw[:, channels[0]]
        for c in channels[1:]:
            acc = acc + qw[c] * kw[:, c]
        s_hat = acc * _widen(scale_hat, fmt)
    ranked = _top(key32(_bits32(s_hat)), top_k)
    tokens = np.sort(ranked)
    ew = _widen(_exp_of_difference(s_hat, s_hat[ranked[0]], fmt), fmt)
    den = _sum32(ew)
    num = _sum32(ew, np.isin(np.arange(ew.size), tokens))
    with np.errstate(all="ignore"):
        alpha32 = num * _widen(_unit(ng.fp_recip, _narrow(den, fmt), fmt), fmt)[()]
    return channels, tokens, np.float32(alpha32)


def _one_query(q, kw, vw, *, fmt, softmax, mode, top_r, top_k, lanes):
    qw = _widen(q, fmt)
    s = _scores(qw, kw)
    if mode == "dense":
        o = _softmax(softmax, s, vw, fmt)
        return ng.fp_convert(_bits32(o), F32, fmt), [], list(range(kw.shape[0])), None
    channels, tokens, alpha32 = _sparf_selection(q, kw, top_r, top_k, fmt)
    o = _softmax(softmax, s[tokens], vw[tokens], fmt, tokens, kw.shape[0])
    alpha = _narrow(alpha32, fmt)
    with np.errstate(all="ignore"):
        beta = _narrow(np.float32(1.0) - alpha32, fmt)
        mean_part = _widen(beta, fmt) * _widen(_vmean_values(vw, fmt), fmt)
    o = _fma32(o, _widen(alpha, fmt), mean_part)
    return (ng.fp_convert(_bits32(o), F32, fmt), [int(c) for c in channels],
            [int(t) for t in tokens], int(alpha))


def attention_twin(q, K, V, *, dtype: str = "fp16", softmax: str = "two_pass",
                   mode: str = "dense", top_r: int = 32, top_k: int = 64,
                   lanes: int = 8) -> dict:
    """The engine's output, bit for bit (docs/attention.md, arithmetic specification).

    ``q``: (head_dim,) or (n, head_dim) D patterns (n queries against the same KV cache);
    ``K``, ``V``: (seq_len, head_dim) D patterns, seq_len >= 1. Returns a dict:

    * ``o``: uint64 D patterns, shaped like ``q``;
    * ``channels``: SparF's channel set R (sorted ints; ``[]`` in dense mode);
    * ``tokens``: the token set T attention ran over (sorted ints; every token in dense mode);
    * ``alpha``: SparF's ``alpha`` as a D pattern (int; ``None`` in dense mode).

    For a 1-D ``q`` these three are the values for that query; for a 2-D ``q`` they are lists
    with one entry per query.
    """
    fmt = _format(dtype)
    _choice("softmax", softmax, SOFTMAX_KINDS)
    _choice("mode", mode, MODES)
    _int_at_least("top_r", top_r, 1)
    _int_at_least("top_k", top_k, 1)
    _int_at_least("lanes", lanes, 1)
    q_bits = ng.as_bits(q, fmt, "q")
    k_bits, v_bits = ng.as_bits(K, fmt, "K"), ng.as_bits(V, fmt, "V")
    if q_bits.ndim not in (1, 2):
        raise ParamError(f"q: expected (head_dim,) or (n, head_dim), got shape {q_bits.shape}")
    head_dim = q_bits.shape[-1]
    if (k_bits.ndim != 2 or k_bits.shape != v_bits.shape or k_bits.shape[1] != head_dim
            or k_bits.shape[0] < 1):
        raise ParamError(f"K, V: expected two (seq_len >= 1, head_dim={head_dim}) arrays, got "
                         f"shapes {k_bits.shape} and {v_bits.shape}")
    if lanes & (lanes - 1) or head_dim % lanes:
        raise ParamError(f"parameter lanes={lanes}: allowed a power of two dividing "
                         f"head_dim={head_dim}")
    kw, vw = _widen(k_bits, fmt), _widen(v_bits, fmt)
    queries = q_bits.reshape(-1, head_dim)
    results = [_one_query(row, kw, vw, fmt=fmt, softmax=softmax, mode=mode,
                          top_r=top_r, top_k=top_k, lanes=lanes) for row in queries]
    o = np.stack([r[0] for r in results]).astype(np.uint64)
    if q_bits.ndim == 1:
        return {"o": o[0], "channels": results[0][1], "tokens": results[0][2],
                "alpha": results[0][3]}
    return {"o": o, "channels": [r[1] for r in results], "tokens": [r[2] for r in results],
            "alpha": [r[3] for r in results]}


# -- float64 references -----------------------------------------------------------------------

def _decoded(q, K, V, fmt: FloatFormat):
    return (ng.decode(ng.as_bits(q, fmt, "q"), fmt), ng.decode(ng.as_bits(K, fmt, "K"), fmt),
            ng.decode(ng.as_bits(V, fmt, "V"), fmt))


def _softmax64(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max())
    return e / e.sum()


def attention_float64(q, K, V, dtype: str = "fp16") -> np.ndarray:
    """softmax(q K^T / sqrt(head_dim)) V in float64 on the decoded D values; shaped like q."""
    fmt = _format(dtype)
    qv, kv, vv = _decoded(q, K, V, fmt)
    rows = np.atleast_2d(qv)
    out = np.stack([_softmax64(kv @ row / math.sqrt(row.size)) @ vv for row in rows])
    return out.reshape(qv.shape)


def sparf_float64(q, K, V, top_r: int = 32, top_k: int = 64, dtype: str = "fp16") -> np.ndarray:
    """SparF in float64 on the decoded values: top_r channels of |q|, approximate scores over
    them scaled by 1/sqrt(head_dim * share) (share = the L1 share of |q| they hold), top_k
    tokens, exact softmax attention over those, and alpha*o + (1 - alpha)*mean(V) with alpha
    the approximate softmax mass of the chosen tokens. Ties go to the lower index."""
    fmt = _format(dtype)
    qv, kv, vv = _decoded(q, K, V, fmt)
    rows = np.atleast_2d(qv)
    head_dim = rows.shape[1]
    out = []
    for row in rows:
        a = np.abs(row)
        channels = np.sort(_top(a, top_r))
        share = a[channels].sum() / a.sum()
        s_hat = kv[:, channels] @ row[channels] / math.sqrt(head_dim * share)
        tokens = np.sort(_top(s_hat, top_k))
        alpha = _softmax64(s_hat)[tokens].sum()
        o = _softmax64(kv[tokens] @ row / math.sqrt(head_dim)) @ vv[tokens]
        out.append(alpha * o + (1 - alpha) * vv.mean(axis=0))
    return np.stack(out).reshape(qv.shape)


# -- stimulus ---------------------------------------------------------------------------------

def _special_patterns(rng, shape, fmt: FloatFormat, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """A mask of ``fraction`` of the positions and subnormal/zero patterns for them."""
    mask = rng.random(shape) < fraction
    subnormal = rng.integers(0, 1 << fmt.man_bits, size=shape, dtype=np.uint64)
    sign = rng.integers(0, 2, size=shape, dtype=np.uint64) << np.uint64(fmt.width - 1)
    return mask, subnormal | sign


def attention_inputs(rng, *, head_dim: int, seq_len: int, queries: int = 1,
                     dtype: str = "fp16", kind: str = "random") -> dict:
    """Seeded stimulus as D patterns: ``q`` (head_dim,) when ``queries == 1`` else (queries,
    head_dim); ``K``, ``V`` (seq_len, head_dim).

    * ``random``: q ~ N(0, 1.5^2), K, V ~ N(0, 1): scores ~ N(0, 1.5^2), the largest of 2048
      around 5.
    * ``concentrated``: a heavy-tailed q (an eighth of the channels 4x larger, SparQ's
      observation; scaled so that |q|^2 = head_dim) and 1-4 tokens per query whose keys are
      pulled toward q so that their scores are 10-14 while the rest stay ~N(0, 1): most of
      the attention mass sits on them (about 90% at seq_len 2048), the case SparF is built
      for.
    * ``special``: random values with zeros (q channels, K and V rows), subnormals, large
      magnitudes (a few V entries near the largest finite / 4, a K row scaled up so one
      score is huge), and, each with probability 1/2, a NaN in V and an Inf or NaN in K.
    * ``ties``: |q| drawn from two magnitudes (many equal keys for top-r) and K rows drawn
      from a handful of distinct rows (equal exact and approximate scores for top-k).
    """
    fmt = _format(dtype)
    _choice("kind", kind, INPUT_KINDS)
    _int_at_least("head_dim", head_dim, 1)
    _int_at_least("seq_len", seq_len, 1)
    _int_at_least("queries", queries, 1)
    qv = rng.normal(0.0, 1.5, size=(queries, head_dim))
    kv = rng.normal(0.0, 1.0, size=(seq_len, head_dim))
    vv = rng.normal(0.0, 1.0, size=(seq_len, head_dim))
    if kind == "concentrated":
        heavy = rng.permutation(head_dim)[:max(1, head_dim // 8)]
        qv[:, heavy] *= 4.0
        qv *= np.sqrt(head_dim / np.sum(qv * qv, axis=1, keepdims=True))
        for row in qv:
            hot = rng.choice(seq_len, size=min(seq_len, int(rng.integers(1, 5))), replace=False)
            for t in hot:
                target = rng.uniform(10.0, 14.0)
                pull = (target * math.sqrt(head_dim) - kv[t] @ row) / (row @ row)
                kv[t] = kv[t] + pull * row
    elif kind == "ties":
        magnitudes = rng.choice([0.5, 1.0], size=(queries, head_dim))
        qv = magnitudes * rng.choice([-1.0, 1.0], size=(queries, head_dim))
        distinct = rng.normal(0.0, 1.0, size=(min(4, seq_len), head_dim))
        kv = distinct[rng.integers(0, distinct.shape[0], size=seq_len)]
    q = ng.encode(qv, fmt)
    k = ng.encode(kv, fmt)
    v = ng.encode(vv, fmt)
    if kind == "special":
        largest = ng.decode(np.uint64(fmt.inf() - 1), fmt)
        q[rng.random(q.shape) < 0.1] = 0
        k[rng.integers(0, seq_len)] = 0
        v[rng.integers(0, seq_len)] = 0
        for array in (q, k, v):
            mask, patterns = _special_patterns(rng, array.shape, fmt, 0.05)
            array[mask] = patterns[mask]
        big = rng.random(v.shape) < 0.01
        v[big] = ng.encode(rng.choice([-1.0, 1.0], size=int(big.sum())) * largest / 4, fmt)
        t = rng.integers(0, seq_len)
        k[t] = ng.encode(kv[t] * 64.0, fmt)
        if rng.random() < 0.5:
            v[rng.integers(0, seq_len), rng.integers(0, head_dim)] = fmt.canonical_nan
        if rng.random() < 0.5:
            k[rng.integers(0, seq_len), rng.integers(0, head_dim)] = (
                fmt.inf(int(rng.integers(0, 2))) if rng.random() < 0.5 else fmt.canonical_nan)
    return {"q": q[0] if queries == 1 else q, "K": k, "V": v}
