"""Operand bit patterns for the floating-point blocks (NumPy only, no Amaranth).

Uniform bit patterns cover the encoding space evenly, but almost never cancel, land exactly on a
rounding tie, or reach the subnormal or overflow boundary of a product. So a share of the pairs
is drawn from the special values, and another share is engineered: near-equal magnitudes of
opposite effective sign and small exponent distances for add/sub, exponent pairs whose product
lands around the subnormal range or the largest finite value for mul.
"""

from __future__ import annotations

import numpy as np

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


def stimulus(rng: np.random.Generator, n: int, fmt: FloatFormat, op: str) -> dict[str, np.ndarray]:
    """``n`` operand pairs for ``op`` ("mul", "add" or "sub"): 40% uniform bit patterns, 10%
    subnormal-heavy, 20% with one or both operands special, 30% engineered for the operation.
    The first quarter are specials against each other."""
    specials = special_values(fmt)
    a, b = _uniform(rng, fmt, n), _uniform(rng, fmt, n)

    # subnormal (or, with ftz, flushed) operands: exponent field 0
    low = _fields(fmt, _signs(rng, n), 0, _mantissas(rng, fmt, n))
    if op == "mul":
        ea, eb = _engineered_mul(rng, fmt, n)
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
