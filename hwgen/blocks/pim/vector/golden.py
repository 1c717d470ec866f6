"""Golden model of ``pim_vector_unit``: the four vector operations in the documented order,
built from the bit-exact operator twins of ``hwgen.numerics.golden`` (no Amaranth here).

Values are bit patterns: bf16 on the ports, fp32 for sums and statistics. ``lanes`` and
``slots`` (the running sums' partial sums) matter to the results only through the order of the
reductions, which is fixed as follows (docs/pim_vector_unit.md):

* A vector of ``n`` elements travels in ``ceil(n / lanes)`` beats; element ``i`` sits in beat
  ``i // lanes``, lane ``i % lanes``. Lanes past ``n`` in the last beat are padding.
* A *beat reduction* folds the ``lanes`` values of one beat by a pairwise tree: each level
  combines neighbours ``(0, 1), (2, 3), ...`` and passes an odd last value up unchanged, until
  one value is left. Padding lanes enter it as +0 (sums) or -Inf (maximum).
* A *vector maximum* starts from -Inf and combines the running value with each beat's
  reduction in beat order: ``acc = max(acc, beat_reduction)``.
* A *vector sum* adds the beat reductions in the order of the hardware's interleaved
  accumulator with ``slots`` partial sums, ``hwgen.numerics.golden.fp_accumulate``: partial sum
  ``j`` is ``((-0 + s[j]) + s[j + slots]) + ...`` over the beat sums ``s``; leaf ``k`` of a
  pairwise tree over ``slots`` rounded up to a power of two is the partial sum holding beat
  ``beats - 1 - k`` (-0 where there is none), and the tree's root is the sum.

The operations (``_B`` = bf16, ``_S`` = fp32 twins, every one with the block's ``ftz``):

* ``ADD(x, r)``: ``y_i = add_B(x_i, r_i)``.
* ``GELU(x)``: ``y_i = gelu_B(x_i)`` (the ``fp_gelu`` unit's defaults).
* ``SOFTMAX(x)``: ``m = max_B`` over x (vector maximum); ``e_i = exp_B(sub_B(x_i, m))``;
  ``s = sum_S`` of ``convert_BS(e_i)`` (vector sum); ``r = recip_B(convert_SB(s))``;
  ``y_i = mul_B(e_i, r)``.
* ``LAYERNORM(x, gamma, beta)``: ``mean = mul_S(sum_S convert_BS(x_i), inv_n)`` with
  ``inv_n`` = 1/n rounded to fp32; ``d_i = sub_S(convert_BS(x_i), mean)``;
  ``var = mul_S(sum_S mul_S(d_i, d_i), inv_n)``;
  ``rs = convert_BS(rsqrt_B(convert_SB(add_S(var, eps))))``;
  ``y_i = convert_SB(fma_S(mul_S(d_i, rs), convert_BS(gamma_i), convert_BS(beta_i)))``.

Output padding lanes carry +0.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ....numerics import golden as g
from ....numerics.formats import PRESETS
from .pipeline import pipeline

BF16 = PRESETS["bf16"]
FP32 = PRESETS["fp32"]

# Op codes on the ``op`` stream, in this order.
OPS = ("layernorm", "softmax", "gelu", "add")
OP_CODES = {name: code for code, name in enumerate(OPS)}

# The default LayerNorm epsilon: 1e-5 rounded to fp32.
EPS_DEFAULT = 0x3727C5AC

POS_ZERO = 0
NEG_INF_B = BF16.inf(1)

# The running sums' partial sums at the default clock target (the accumulator's adder latency
# plus one; the same for every lanes).
SUM_SLOTS_DEFAULT = pipeline(1).sum_slots


def beats_of(length: int, lanes: int) -> int:
    return -(-int(length) // lanes)


def operand_beats(op: str, length: int, lanes: int) -> tuple[int, int]:
    """How many beats the op takes from ``a`` and from ``b``."""
    n = beats_of(length, lanes)
    return n, {"add": n, "layernorm": 2 * n}.get(op, 0)


def _u64(values) -> np.ndarray:
    return np.asarray(values, dtype=np.uint64)


def _to_beats(x: np.ndarray, lanes: int, pad: int) -> np.ndarray:
    """``x`` padded with ``pad`` to whole beats, shape ``(beats, lanes)``."""
    out = np.full(beats_of(len(x), lanes) * lanes, pad, dtype=np.uint64)
    out[:len(x)] = x
    return out.reshape(-1, lanes)


def _from_beats(rows: np.ndarray, length: int) -> np.ndarray:
    """The first ``length`` elements of ``rows`` of beats (padding dropped)."""
    return _u64(rows).reshape(-1)[:length]


def beat_reduce(beats: np.ndarray, combine) -> np.ndarray:
    """The pairwise tree over each row of ``beats`` (neighbours first, odd last passed up)."""
    level = beats
    while level.shape[1] > 1:
        pairs = level.shape[1] // 2
        combined = combine(level[:, 0:2 * pairs:2], level[:, 1:2 * pairs:2])
        if level.shape[1] % 2:
            combined = np.concatenate([combined, level[:, -1:]], axis=1)
        level = combined
    return level[:, 0]


def vector_reduce(values: np.ndarray, lanes: int, combine, start: int) -> int:
    """``acc = start``, then ``acc = combine(acc, beat_reduce(beat))`` for each beat in order;
    padding lanes are ``start`` (the identity's pattern: -Inf for the maximum)."""
    partial = beat_reduce(_to_beats(values, lanes, start), combine)
    acc = np.uint64(start)
    for value in partial:
        acc = combine(acc, value)
    return int(acc)


def vector_sum(values: np.ndarray, lanes: int, slots: int, ftz: bool = False) -> int:
    """The fp32 sum of ``values`` (fp32 patterns): each beat's pairwise tree (padding lanes
    +0), then the beat sums in the interleaved accumulator's order with ``slots`` partial
    sums (``fp_accumulate``, one sum ending at the last beat)."""
    def add(a, b):
        return g.fp_add(a, b, FP32, ftz)
    beat_sums = beat_reduce(_to_beats(values, lanes, POS_ZERO), add)
    last = np.zeros(len(beat_sums), dtype=np.uint64)
    last[-1] = 1
    return int(g.fp_accumulate(beat_sums, last, FP32, slots, ftz)[0])


def inv_n(n: int) -> int:
    """1/n rounded to nearest even in fp32, from the exact quotient: 60 quotient bits and a
    sticky bit for the remainder are more than fp32's 24 bits need to round it correctly."""
    quotient, remainder = divmod(1 << 60, n)
    return g.round_exact(0, 2 * quotient + (remainder != 0), -61, FP32)


# -- the four operations ----------------------------------------------------------------------

def add(x, r, *, ftz: bool = False) -> np.ndarray:
    return g.fp_add(_u64(x), _u64(r), BF16, ftz)


def gelu(x, *, ftz: bool = False) -> np.ndarray:
    return g.fp_gelu(_u64(x), BF16, ftz)


def softmax(x, *, lanes: int, ftz: bool = False, slots: int = SUM_SLOTS_DEFAULT) -> np.ndarray:
    x = _u64(x)
    peak = vector_reduce(x, lanes, lambda a, b: g.fp_max(a, b, BF16, ftz), NEG_INF_B)
    e = g.fp_exp(g.fp_sub(x, np.uint64(peak), BF16, ftz), BF16, ftz)
    total = vector_sum(g.fp_convert(e, BF16, FP32, ftz), lanes, slots, ftz)
    # The function-unit twins take arrays: a one-element one here, broadcast afterwards.
    r = g.fp_recip(g.fp_convert(_u64([total]), FP32, BF16, ftz), BF16, ftz)
    return g.fp_mul(e, r, BF16, ftz)


def layernorm(x, gamma, beta, *, lanes: int, eps: int = EPS_DEFAULT, ftz: bool = False,
              slots: int = SUM_SLOTS_DEFAULT) -> np.ndarray:
    x32 = g.fp_convert(_u64(x), BF16, FP32, ftz)

    def fsum(values):
        return np.uint64(vector_sum(values, lanes, slots, ftz))

    scale = np.uint64(inv_n(len(x32)))
    mean = g.fp_mul(fsum(x32), scale, FP32, ftz)
    d = g.fp_sub(x32, mean, FP32, ftz)
    var = g.fp_mul(fsum(g.fp_mul(d, d, FP32, ftz)), scale, FP32, ftz)
    var_eps = g.fp_add(_u64([var]), np.uint64(eps), FP32, ftz)
    rs = g.fp_convert(g.fp_rsqrt(g.fp_convert(var_eps, FP32, BF16, ftz), BF16, ftz),
                      BF16, FP32, ftz)
    gamma32 = g.fp_convert(_u64(gamma), BF16, FP32, ftz)
    beta32 = g.fp_convert(_u64(beta), BF16, FP32, ftz)
    y32 = g.fp_fma(g.fp_mul(d, rs, FP32, ftz), gamma32, beta32, FP32, ftz)
    return g.fp_convert(y32, FP32, BF16, ftz)


def apply(op: str, operands: Mapping[str, np.ndarray], *, lanes: int, eps: int = EPS_DEFAULT,
          ftz: bool = False, slots: int = SUM_SLOTS_DEFAULT) -> np.ndarray:
    """One operation on whole vectors (no padding): ``operands`` holds ``x`` and, by op,
    ``r`` (add) or ``gamma`` and ``beta`` (layernorm); ``slots``: the running sums' partial
    sums (the block's ``sum_slots``)."""
    x = operands["x"]
    if op == "add":
        return add(x, operands["r"], ftz=ftz)
    if op == "gelu":
        return gelu(x, ftz=ftz)
    if op == "softmax":
        return softmax(x, lanes=lanes, ftz=ftz, slots=slots)
    if op == "layernorm":
        return layernorm(x, operands["gamma"], operands["beta"], lanes=lanes, eps=eps, ftz=ftz,
                         slots=slots)
    raise ValueError(f"unknown op {op!r}: allowed one of {', '.join(OPS)}")


# -- op sequences <-> stream fields ------------------------------------------------------------

def pack_sequence(ops: Sequence[Mapping], lanes: int) -> dict[str, np.ndarray]:
    """Fields for a sequence of ops, each a mapping with ``op`` (a name of ``OPS``), ``x`` and
    its second operands (``r``; ``gamma`` and ``beta``) as bf16 patterns. Returns ``op`` and
    ``length`` (one per op), ``a`` and ``b`` (beats of ``lanes`` patterns, padding lanes 0)."""
    codes, lengths, a, b = [], [], [], []
    for item in ops:
        name = item["op"]
        if name not in OP_CODES:
            raise ValueError(f"unknown op {name!r}: allowed one of {', '.join(OPS)}")
        x = _u64(item["x"])
        codes.append(OP_CODES[name])
        lengths.append(len(x))
        a.append(_to_beats(x, lanes, 0))
        if name == "add":
            b.append(_to_beats(_u64(item["r"]), lanes, 0))
        elif name == "layernorm":
            b.append(_to_beats(_u64(item["gamma"]), lanes, 0))
            b.append(_to_beats(_u64(item["beta"]), lanes, 0))
    empty = np.zeros((0, lanes), dtype=np.uint64)
    return {
        "op": np.array(codes, dtype=np.uint64),
        "length": np.array(lengths, dtype=np.uint64),
        "a": np.concatenate(a) if a else empty,
        "b": np.concatenate(b) if b else empty,
    }


def unpack_sequence(fields: Mapping[str, np.ndarray], lanes: int) -> list[dict]:
    """The inverse of :func:`pack_sequence`: one dict per op, padding removed."""
    a, b = np.asarray(fields["a"]), np.asarray(fields["b"])
    ops, at_a, at_b = [], 0, 0
    lengths = np.asarray(fields["length"]).tolist()
    for code, length in zip(np.asarray(fields["op"]).tolist(), lengths):
        name = OPS[int(code)]
        n = beats_of(length, lanes)
        item = {"op": name, "x": _from_beats(a[at_a:at_a + n], length)}
        at_a += n
        if name == "add":
            item["r"] = _from_beats(b[at_b:at_b + n], length)
            at_b += n
        elif name == "layernorm":
            item["gamma"] = _from_beats(b[at_b:at_b + n], length)
            item["beta"] = _from_beats(b[at_b + n:at_b + 2 * n], length)
            at_b += 2 * n
        ops.append(item)
    return ops


def split_outputs(y: np.ndarray, lengths: Sequence[int], lanes: int) -> list[np.ndarray]:
    """The ``y`` beats of a sequence cut into one result vector per op, padding removed."""
    y = np.asarray(y)
    out, at = [], 0
    for length in lengths:
        n = beats_of(int(length), lanes)
        out.append(_from_beats(y[at:at + n], int(length)))
        at += n
    return out


def run_sequence(fields: Mapping[str, np.ndarray], *, lanes: int, eps: int = EPS_DEFAULT,
                 ftz: bool = False, slots: int = SUM_SLOTS_DEFAULT) -> dict[str, np.ndarray]:
    """The expected ``y`` beats of a whole op sequence: each op's result, padded with +0 to
    whole beats, in op order."""
    beats = [_to_beats(apply(item["op"], item, lanes=lanes, eps=eps, ftz=ftz, slots=slots),
                       lanes, POS_ZERO)
             for item in unpack_sequence(fields, lanes)]
    return {"y": np.concatenate(beats) if beats else np.zeros((0, lanes), dtype=np.uint64)}


# -- stimulus ---------------------------------------------------------------------------------

def bf16(values) -> np.ndarray:
    """float64 values rounded to bf16 patterns."""
    return g.encode(np.asarray(values, dtype=np.float64), BF16)


def gpt_like(op: str, length: int, rng: np.random.Generator) -> dict:
    """One op's operands with the statistics of a GPT decoder's activations: residual-stream
    values of spread 0.5..3 with a few outlier features (LayerNorm input), attention scores of
    spread 1..4 (softmax), pre-activations of spread 1..2 (GELU), gamma near 1 and small beta."""
    spread = {"layernorm": rng.uniform(0.5, 3.0), "softmax": rng.uniform(1.0, 4.0),
              "gelu": rng.uniform(1.0, 2.0), "add": rng.uniform(0.5, 3.0)}[op]
    x = rng.normal(0.0, spread, length) + rng.normal(0.0, 0.2)
    if op == "layernorm" and length >= 8:
        outliers = rng.choice(length, size=max(1, length // 64), replace=False)
        x[outliers] *= rng.uniform(5.0, 20.0, outliers.size)
    item = {"op": op, "x": bf16(x)}
    if op == "add":
        item["r"] = bf16(rng.normal(0.0, spread, length))
    elif op == "layernorm":
        item["gamma"] = bf16(rng.normal(1.0, 0.1, length))
        item["beta"] = bf16(rng.normal(0.0, 0.05, length))
    return item


def random_ops(rng: np.random.Generator, n: int, lanes: int, max_length: int,
               special_odds: float = 0.2) -> list[dict]:
    """``n`` ops of random kinds and lengths (1..``max_length``, with the lengths around a
    whole beat favoured), GPT-like operands; with ``special_odds`` an op also gets a few
    special values (zeros, subnormals, extremes, infinities, NaN) in its operands."""
    specials = g.special_values(BF16)
    edges = sorted({1, max(1, lanes - 1), lanes, lanes + 1, max_length})
    ops = []
    for _ in range(n):
        op = OPS[rng.integers(len(OPS))]
        if rng.random() < 0.4:
            length = int(rng.choice([e for e in edges if e <= max_length]))
        else:
            length = int(rng.integers(1, max_length, endpoint=True))
        item = gpt_like(op, length, rng)
        if rng.random() < special_odds:
            for key in [k for k in ("x", "r", "gamma", "beta") if k in item]:
                hit = rng.random(length) < 0.25
                item[key][hit] = rng.choice(specials, size=int(hit.sum()))
        ops.append(item)
    return ops
