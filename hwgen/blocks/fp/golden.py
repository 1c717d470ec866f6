"""Operand bit patterns for the floating-point blocks (NumPy only, no Amaranth).

Uniform bit patterns cover the encoding space evenly, but almost never cancel, land exactly on a
rounding tie, or reach the subnormal or overflow boundary of a product. So a share of the pairs
is drawn from the special values, and another share is engineered: near-equal magnitudes of
opposite effective sign and small exponent distances for add/sub, exponent pairs whose product
lands around the subnormal range or the largest finite value for mul, and equal, zero,
neighbouring and sign-mirrored pairs for the comparisons (min, max, compare).
"""

from __future__ import annotations

import numpy as np

from ...numerics import golden
from ...numerics.formats import FloatFormat


def special_values(fmt: FloatFormat) -> np.ndarray:
    """Both signs of: zero, the smallest and largest subnormals, the smallest and largest
    normals, 1 and 2 and their neighbours, infinity, a quiet NaN (canonical and with a payload)
    and a signalling NaN."""
    M = fmt.man_bits
    one = fmt.bias << M
    min_normal = 1 << M
    max_normal = fmt.inf() - 1
    magnitudes = {
        0, 1, 2, min_normal - 2, min_normal - 1,          # subnormals (when M allows)
        min_normal, min_normal + 1, 2 * min_normal - 1,   # smallest normals
        one - 1, one, one + 1, one + (1 << M),            # 1 and 2
        max_normal - 1, max_normal,                       # largest finite values
        fmt.inf(), fmt.canonical_nan, fmt.canonical_nan | 1,
    }
    if M >= 2:
        magnitudes.add(fmt.inf() | 1)                     # signalling: top mantissa bit clear
    magnitudes = sorted(v for v in magnitudes if 0 <= v < 1 << (fmt.width - 1))
    sign = 1 << (fmt.width - 1)
    return np.array(magnitudes + [v | sign for v in magnitudes], dtype=np.uint64)


def _fields(fmt, sign, exp, man) -> np.ndarray:
    sign = np.asarray(sign, dtype=np.uint64)
    exp = np.asarray(exp, dtype=np.uint64)
    man = np.asarray(man, dtype=np.uint64)
    return (sign << np.uint64(fmt.width - 1)) | (exp << np.uint64(fmt.man_bits)) | man


def _uniform(rng, fmt, n) -> np.ndarray:
    return rng.integers(0, 1 << fmt.width, size=n, dtype=np.uint64)


def _mantissas(rng, fmt, n) -> np.ndarray:
    return rng.integers(0, 1 << fmt.man_bits, size=n, dtype=np.uint64)


def _signs(rng, n) -> np.ndarray:
    return rng.integers(0, 2, size=n, dtype=np.uint64)


def _engineered_add(rng, fmt, n, subtract) -> tuple[np.ndarray, np.ndarray]:
    """Half: b a few encodings away from a's magnitude with the sign that cancels. Half: b
    ``0..precision + 4`` binades below a (alignment, sticky bits, ties), random signs."""
    top = fmt.exp_max - 1
    exp_a = rng.integers(0, top + 1, size=n, dtype=np.int64)
    a = _fields(fmt, _signs(rng, n), exp_a, _mantissas(rng, fmt, n))
    magnitude_a = (a & np.uint64((1 << (fmt.width - 1)) - 1)).astype(np.int64)
    sign_a = a >> np.uint64(fmt.width - 1)

    # cancelling: |b| = |a| + delta, sign making the effective operation a subtraction
    delta = rng.integers(-4, 5, size=n)
    magnitude_b = np.clip(magnitude_a + delta, 0, fmt.inf() - 1)
    sign_b = sign_a if subtract else sign_a ^ np.uint64(1)
    cancel = (sign_b << np.uint64(fmt.width - 1)) | magnitude_b.astype(np.uint64)

    # aligning: exponent of b a little below a's (clipped at the subnormal field 0)
    exp_b = np.clip(exp_a - rng.integers(0, fmt.precision + 5, size=n), 0, top)
    align = _fields(fmt, _signs(rng, n), exp_b, _mantissas(rng, fmt, n))

    b = np.where(rng.random(n) < 0.5, cancel, align)
    return a, b


def _engineered_mul(rng, fmt, n) -> tuple[np.ndarray, np.ndarray]:
    """Exponent pairs whose product falls around the subnormal range (half) or around the
    largest finite value (half)."""
    top = fmt.exp_max - 1
    # biased exponent of the exact product, ignoring the significands: ea + eb - bias
    under = rng.integers(-fmt.precision - 2, 3, size=n)
    over = rng.integers(fmt.exp_max - 2, fmt.exp_max + 2, size=n)
    target = np.where(rng.random(n) < 0.5, under, over)
    exp_a = rng.integers(0, top + 1, size=n, dtype=np.int64)
    exp_b = np.clip(target + fmt.bias - exp_a, 0, top)
    a = _fields(fmt, _signs(rng, n), exp_a, _mantissas(rng, fmt, n))
    b = _fields(fmt, _signs(rng, n), exp_b, _mantissas(rng, fmt, n))
    return a, b


# Operations whose engineered pairs sit on the order's ties and boundaries (fp_minmax, fp_compare).
COMPARISONS = ("min", "max", "compare")


def _engineered_compare(rng, fmt, n) -> tuple[np.ndarray, np.ndarray]:
    """Pairs on which an ordering can go wrong, in five equal shares: equal patterns; two zeros
    of any signs; b one encoding above or below a's magnitude, same sign (neighbouring values,
    across binade boundaries and from zero to the smallest subnormal); the same magnitude with
    the opposite sign; a subnormal against a zero or another subnormal, any signs (the pairs
    ``ftz`` makes equal)."""
    sign_bit = np.uint64(1 << (fmt.width - 1))
    a = _fields(fmt, _signs(rng, n), rng.integers(0, fmt.exp_max, size=n), _mantissas(rng, fmt, n))
    magnitude_a = (a & (sign_bit - np.uint64(1))).astype(np.int64)

    zeros_a, zeros_b = _signs(rng, n) * sign_bit, _signs(rng, n) * sign_bit
    step = np.where(rng.random(n) < 0.5, -1, 1)
    neighbour = (a & sign_bit) | np.clip(magnitude_a + step, 0, fmt.inf()).astype(np.uint64)
    low_a = _fields(fmt, _signs(rng, n), 0, _mantissas(rng, fmt, n))
    low_b = _fields(fmt, _signs(rng, n), 0, _mantissas(rng, fmt, n) * (rng.random(n) < 0.5))

    kind = rng.integers(0, 5, size=n)
    a = np.select([kind == 1, kind == 4], [zeros_a, low_a], a)
    b = np.select([kind == 0, kind == 1, kind == 2, kind == 3],
                  [a, zeros_b, neighbour, a ^ sign_bit], low_b)
    return a.astype(np.uint64), b.astype(np.uint64)


def stimulus(rng: np.random.Generator, n: int, fmt: FloatFormat, op: str) -> dict[str, np.ndarray]:
    """``n`` operand pairs for ``op`` ("mul", "add", "sub" or one of ``COMPARISONS``): 40%
    uniform bit patterns, 10% subnormal-heavy, 20% with one or both operands special, 30%
    engineered for the operation. The first quarter are specials against each other."""
    specials = special_values(fmt)
    a, b = _uniform(rng, fmt, n), _uniform(rng, fmt, n)

    # subnormal (or, with ftz, flushed) operands: exponent field 0
    low = _fields(fmt, _signs(rng, n), 0, _mantissas(rng, fmt, n))
    if op == "mul":
        ea, eb = _engineered_mul(rng, fmt, n)
    elif op in COMPARISONS:
        ea, eb = _engineered_compare(rng, fmt, n)
    else:
        ea, eb = _engineered_add(rng, fmt, n, subtract=op == "sub")
    sa, sb = rng.choice(specials, size=n), rng.choice(specials, size=n)

    pick = rng.random(n)
    subnormal = (pick >= 0.4) & (pick < 0.5)
    a = np.where(subnormal & (rng.random(n) < 0.7), low, a)
    b = np.where(subnormal & (rng.random(n) < 0.7), rng.permutation(low), b)
    special = (pick >= 0.5) & (pick < 0.7)
    which = rng.integers(0, 3, size=n)  # a special, b special, both
    a = np.where(special & (which != 1), sa, a)
    b = np.where(special & (which != 0), sb, b)
    engineered = pick >= 0.7
    a = np.where(engineered, ea, a)
    b = np.where(engineered, eb, b)

    # A quarter (at most all of them) of the special-against-special pairs first, in a shuffled
    # order so that a short run still sees a spread of them.
    count = min(n // 4, len(specials) ** 2)
    pairs = rng.permutation(len(specials) ** 2)[:count]
    a[:count] = specials[pairs // len(specials)]
    b[:count] = specials[pairs % len(specials)]
    return {"a": a.astype(np.uint64), "b": b.astype(np.uint64)}


# -- fused multiply-add: operand triples ----------------------------------------------------------

def _engineered_fma(rng, fmt, n) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triples where a fused multiply-add can go wrong, in five equal shares: c within a few
    encodings of -round(a*b) (massive cancellation, exact zeros); c any distance up to
    ``3 * precision + 8`` binades above or below the product (alignment, sticky bits, the
    product as a mere sticky bit); products around the subnormal range with a small c; products
    around the overflow threshold with a large c (which may pull an overflowing product back);
    a subnormal times a large normal (a product significand with leading zeros, i.e. fewer
    significant bits than usual) with c just below the product's last bits, where the sticky
    bit meets the rounding position."""
    top = fmt.exp_max - 1
    sign_bit = np.uint64(1 << (fmt.width - 1))
    kind = rng.integers(0, 5, size=n)
    # biased exponent of the product, ignoring the significands: ea + eb - bias
    target = np.select(
        [kind <= 1, kind == 2],
        [rng.integers(1, top + 1, size=n), rng.integers(-fmt.precision - 2, 3, size=n)],
        rng.integers(fmt.exp_max - 2, fmt.exp_max + 2, size=n))
    exp_a = rng.integers(0, top + 1, size=n, dtype=np.int64)
    exp_b = np.clip(target + fmt.bias - exp_a, 0, top)
    a = _fields(fmt, _signs(rng, n), exp_a, _mantissas(rng, fmt, n))
    b = _fields(fmt, _signs(rng, n), exp_b, _mantissas(rng, fmt, n))

    product = golden.fp_mul(a, b, fmt)
    magnitude = (product & (sign_bit - np.uint64(1))).astype(np.int64)
    near = np.clip(magnitude + rng.integers(-4, 5, size=n), 0, fmt.inf() - 1)
    cancel = (~product & sign_bit) | near.astype(np.uint64)

    reach = 3 * fmt.precision + 8
    exp_c = np.select(
        [kind == 1, kind == 2],
        [target + rng.integers(-reach, reach + 1, size=n), rng.integers(0, 4, size=n)],
        rng.integers(top - fmt.precision - 2, top + 1, size=n))
    other = _fields(fmt, _signs(rng, n), np.clip(exp_c, 0, top), _mantissas(rng, fmt, n))
    c = np.where(kind == 0, cancel, other)

    # subnormal x large normal (either way round), c a random distance below the product
    def short_mantissas():  # of random length, so that few significant bits are common
        lengths = rng.integers(0, fmt.man_bits + 1, size=n).astype(np.uint64)
        return _mantissas(rng, fmt, n) >> lengths

    tiny = _fields(fmt, _signs(rng, n), 0, np.maximum(short_mantissas(), 1))
    plain = _mantissas(rng, fmt, n) * (rng.random(n) < 0.5)  # powers of two half the time
    large = _fields(fmt, _signs(rng, n), rng.integers(fmt.bias + 1, top + 1, size=n), plain)
    swap = rng.random(n) < 0.5
    tiny, large = np.where(swap, large, tiny), np.where(swap, tiny, large)
    product_field = golden.fp_mul(tiny, large, fmt) >> np.uint64(fmt.man_bits)
    exp_product = (product_field & np.uint64(fmt.exp_max)).astype(np.int64)
    below = exp_product - rng.integers(fmt.precision - 2, 2 * fmt.precision + 5, size=n)
    just_below = _fields(fmt, _signs(rng, n), np.clip(below, 0, top), short_mantissas())
    a, b, c = (np.where(kind == 4, x, y) for x, y in ((tiny, a), (large, b), (just_below, c)))
    return a, b, c.astype(np.uint64)


def fma_stimulus(rng: np.random.Generator, n: int, fmt: FloatFormat) -> dict[str, np.ndarray]:
    """``n`` operand triples for ``a * b + c``: 30% uniform bit patterns, 10% subnormal-heavy,
    20% with one to three operands special, 40% engineered (``_engineered_fma``). The first
    quarter (at most all of them) are triples of special values, in a shuffled order."""
    specials = special_values(fmt)
    names = ("a", "b", "c")
    ops = {k: _uniform(rng, fmt, n) for k in names}
    engineered = dict(zip(names, _engineered_fma(rng, fmt, n)))

    pick = rng.random(n)
    subnormal = (pick >= 0.3) & (pick < 0.4)
    special = (pick >= 0.4) & (pick < 0.6)
    chosen = rng.integers(1, 8, size=n)  # which operands are special: a nonzero 3-bit mask
    for bit, k in enumerate(names):
        low = _fields(fmt, _signs(rng, n), 0, _mantissas(rng, fmt, n))
        ops[k] = np.where(subnormal & (rng.random(n) < 0.6), low, ops[k])
        ops[k] = np.where(special & ((chosen >> bit) & 1 == 1), rng.choice(specials, size=n),
                          ops[k])
        ops[k] = np.where(pick >= 0.6, engineered[k], ops[k])

    s = len(specials)
    count = min(n // 4, s ** 3)
    triples = rng.permutation(s ** 3)[:count]
    ops["a"][:count] = specials[triples // (s * s)]
    ops["b"][:count] = specials[triples // s % s]
    ops["c"][:count] = specials[triples % s]
    return {k: v.astype(np.uint64) for k, v in ops.items()}


def unary_stimulus(rng: np.random.Generator, n: int, fmt: FloatFormat) -> dict[str, np.ndarray]:
    """Every bit pattern of the format, shuffled, repeated or truncated to ``n``: for a 16-bit
    unary unit the whole input space is the natural stimulus."""
    patterns = np.arange(1 << fmt.width, dtype=np.uint64)
    rounds = -(-n // len(patterns)) if n else 0
    a = np.concatenate([rng.permutation(patterns) for _ in range(rounds)] or [patterns[:0]])
    return {"a": a[:n].astype(np.uint64)}


def accumulate_stimulus(rng: np.random.Generator, sums: int, fmt: FloatFormat,
                        slots: int) -> dict[str, np.ndarray]:
    """``sums`` runs of elements for ``fp_accumulate`` (``x`` patterns, ``last`` ending each
    run). Lengths 1 to ``3 * slots + 2`` (one element; fewer than the loop's partial sums;
    exactly ``slots``; several rounds), a few longer. Values: mostly normal-distributed at
    random scales; some runs that cancel exactly (``x`` then ``-x``), some of zeros of both
    signs, some near overflow, and single special values (Inf, NaN, subnormals) dropped in."""
    if sums <= 0:
        return {"x": np.zeros(0, dtype=np.uint64), "last": np.zeros(0, dtype=np.uint64)}
    lengths = rng.integers(1, 3 * slots + 3, size=sums)
    lengths[rng.random(sums) < 0.1] = rng.integers(1, 5 * slots + 8)
    runs = []
    for length in lengths.tolist():
        kind = rng.random()
        scale = 2.0 ** rng.integers(-8, 9)
        if kind < 0.1:                               # cancelling pairs: exact +0 or leftovers
            half = golden.encode(rng.normal(0, scale, size=(length + 1) // 2), fmt)
            run = np.stack([half, half ^ np.uint64(1 << (fmt.width - 1))], axis=1).ravel()[:length]
        elif kind < 0.15:                            # zeros of both signs
            run = rng.integers(0, 2, size=length).astype(np.uint64) << np.uint64(fmt.width - 1)
        elif kind < 0.2:                             # near the largest finite: overflow to Inf
            top = fmt.inf() - 1
            run = (top - rng.integers(0, 4, size=length).astype(np.uint64)) | (
                rng.integers(0, 2, size=length).astype(np.uint64) << np.uint64(fmt.width - 1))
        else:
            run = golden.encode(rng.normal(0, scale, size=length), fmt)
        if rng.random() < 0.1:                       # one special value somewhere in the run
            specials = special_values(fmt)
            run[rng.integers(0, length)] = specials[rng.integers(0, len(specials))]
        runs.append(run.astype(np.uint64))
    x = np.concatenate(runs)
    last = np.zeros(len(x), dtype=np.uint64)
    last[np.cumsum(lengths) - 1] = 1
    return {"x": x, "last": last}
