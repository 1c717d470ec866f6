"""Statistical obliviousness checks on recorded host-memory traces (issue 7, the oblivious map).

The oblivious map controller (after BOLT, CCS 2025) must make the same untrusted host-memory
traffic for every query, whatever the key and whatever the workload: it reads one page (the
``S`` slot addresses ``page*S .. page*S + S - 1``, in order), then reads a second page and
writes it back (``S`` reads, then ``S`` writes of that page). The page indices must be fresh
uniform draws in ``[0, n_pages)``, and every written word must be freshly encrypted.

A recorded trace is a dict of equal-length arrays, one row per host request:

* ``address``: the slot address,
* ``is_write``: 0 or 1,
* ``cycle``: the clock edge the request was accepted,
* ``data`` (optional): the written word per row (Python ints; only write rows are looked at,
  read rows may hold anything) or one word per write row. A word holds a 64-bit nonce above a
  128-bit ciphertext: ``nonce = data >> 128``, ``ciphertext = data & (2**128 - 1)``.

What is checked (``check_oblivious`` runs all of it):

* shape: every workload's trace has the same length, read/write sequence, slot offsets and
  gaps between successive requests (``same_shape``); rows group into whole in-order pages
  (``page_requests``) and pages into queries of read, read, write-back (``query_pages``);
* the page indices: uniform (``uniformity``), the same distribution in every workload
  (``two_sample``), uncorrelated from one to the next (``lag1``) and independent in pairs
  (``serial_pairs``). Each is run on three samples: the first page of each query, the flushed
  (written-back) page of each query, and both pooled in time order;
* encryption: no page is ever written the same ciphertext twice (``repeated_ciphertexts``)
  and no nonce is reused for a page (``repeated_nonces``).

Everything here is numpy + math; the chi-square p-values come from ``chi_square_sf``, the
regularized upper incomplete gamma function. A passing check is evidence, not proof: a test
at level ``alpha`` fails by chance with probability ``alpha``, and ``check_oblivious`` runs
many (the report's ``tests`` counts them), so the chance that a correct design shows at least
one failure is about ``tests * alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import numpy as np

MASK128 = (1 << 128) - 1

_EPS = 1e-16          # relative stopping point of the series and the continued fraction
_TINY = 1e-300        # keeps the modified Lentz recurrences away from division by zero
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# The chi-square survival function
# --------------------------------------------------------------------------------------------

def _stirling_error(a: float) -> float:
    """ln Gamma(a) - [(a - 1/2) ln a - a + ln sqrt(2 pi)], without cancellation for large a."""
    if a > 15.0:
        inv = 1.0 / a
        inv2 = inv * inv
        return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 * (1 / 1680
                                                                          - inv2 / 1188))))
    return math.lgamma(a) - ((a - 0.5) * math.log(a) - a + _LOG_SQRT_2PI)


def _bd0(x: float, m: float) -> float:
    """x ln(x / m) + m - x, accurate when x is close to m (C. Loader's "bd0")."""
    if abs(x - m) < 0.1 * (x + m):
        v = (x - m) / (x + m)
        s = (x - m) * v
        ej = 2.0 * x * v
        v2 = v * v
        j = 1
        while True:
            ej *= v2
            s_next = s + ej / (2 * j + 1)
            if s_next == s:
                return s_next
            s = s_next
            j += 1
    return x * math.log(x / m) + m - x


def _log_prefactor(a: float, x: float) -> float:
    """ln(x^a e^-x / Gamma(a)), computed so that large a (up to ~1e6 and beyond) keeps full
    relative accuracy: the naive a ln x - x - ln Gamma(a) loses ~1e-9 to cancellation there."""
    return 0.5 * math.log(a) - _LOG_SQRT_2PI - _bd0(a, x) - _stirling_error(a)


def _lower_series(a: float, x: float, limit: int) -> float:
    """The regularized lower incomplete gamma P(a, x) by its series (good for x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(limit):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            return total * math.exp(_log_prefactor(a, x))
    raise ArithmeticError(f"incomplete gamma series did not converge for a={a}, x={x}")


def _upper_fraction(a: float, x: float, limit: int) -> float:
    """The regularized upper incomplete gamma Q(a, x) by its continued fraction, evaluated
    with the modified Lentz method (good for x >= a + 1)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, limit + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return math.exp(_log_prefactor(a, x)) * h
    raise ArithmeticError(f"incomplete gamma continued fraction did not converge for a={a}, "
                          f"x={x}")


def chi_square_sf(statistic: float, dof: float) -> float:
    """P(X >= statistic) for X chi-square with ``dof`` degrees of freedom: the p-value.

    This is the regularized upper incomplete gamma function Q(dof/2, statistic/2), by the
    series for P = 1 - Q below the mean and the continued fraction above it (Numerical Recipes'
    ``gammq``), with the prefactor x^a e^-x / Gamma(a) computed through Loader's deviance and
    Stirling-error terms so that the relative error stays near 1e-12 for ``dof`` up to 1e6 and
    beyond. ``dof`` need not be an integer."""
    statistic = float(statistic)
    dof = float(dof)
    if not dof > 0 or math.isinf(dof):
        raise ValueError(f"dof must be positive and finite, not {dof}")
    if math.isnan(statistic):
        return math.nan
    if statistic <= 0.0:
        return 1.0
    if math.isinf(statistic):
        return 0.0
    a = 0.5 * dof
    x = 0.5 * statistic
    limit = 1000 + 20 * int(math.sqrt(a))
    if x < a + 1.0:
        return max(0.0, 1.0 - _lower_series(a, x, limit))
    return _upper_fraction(a, x, limit)


# --------------------------------------------------------------------------------------------
# From slot rows to page requests and queries
# --------------------------------------------------------------------------------------------

def page_requests(address, is_write, cycle, slots: int):
    """Collapse slot-level rows into page-level requests.

    Every request must be ``slots`` consecutive rows of one kind (all reads or all writes)
    covering the slots of one page in order: ``page*slots + 0, 1, ..., slots - 1``.

    Returns ``(pages, is_write, first_cycle)``, one entry per request. Raises ``ValueError``
    naming the first row where the trace breaks that structure."""
    if slots < 1:
        raise ValueError(f"slots must be >= 1, not {slots}")
    address = np.asarray(address, dtype=np.int64)
    is_write = np.asarray(is_write, dtype=np.int64)
    cycle = np.asarray(cycle, dtype=np.int64)
    if not address.shape == is_write.shape == cycle.shape or address.ndim != 1:
        raise ValueError(f"address, is_write and cycle must be 1-D arrays of one length, not "
                         f"{address.shape}, {is_write.shape}, {cycle.shape}")
    if not np.isin(is_write, (0, 1)).all():
        raise ValueError("is_write must be 0 or 1")
    rows = len(address)
    whole = rows - rows % slots
    a = address[:whole].reshape(-1, slots)
    w = is_write[:whole].reshape(-1, slots)
    expected = (a[:, :1] // slots) * slots + np.arange(slots)
    bad = (a != expected) | (w != w[:, :1])
    bad_requests = np.flatnonzero(bad.any(axis=1))
    if len(bad_requests):
        k = int(bad_requests[0])
        j = int(np.flatnonzero(bad[k])[0])
        row = k * slots + j
        raise ValueError(
            f"request {k} (rows {k * slots}..{k * slots + slots - 1}) does not cover the "
            f"{slots} slots of one page in order: row {row} has address {int(address[row])}, "
            f"is_write {int(is_write[row])}, expected address {int(expected[k, j])}, "
            f"is_write {int(w[k, 0])}")
    if whole != rows:
        raise ValueError(f"{rows} rows are not whole requests of {slots} slots: the last "
                         f"{rows - whole} rows are a partial request")
    return a[:, 0] // slots, w[:, 0].copy(), cycle[:whole].reshape(-1, slots)[:, 0].copy()


def query_pages(pages, is_write):
    """Split page requests into queries of (read page A, read page B, write page B).

    Returns ``(first, flushed)``: page A and page B of every query. Raises ``ValueError`` at
    the first query that does not have that shape."""
    pages = np.asarray(pages, dtype=np.int64)
    is_write = np.asarray(is_write, dtype=np.int64)
    if len(pages) % 3:
        raise ValueError(f"{len(pages)} page requests are not whole queries of 3")
    p = pages.reshape(-1, 3)
    w = is_write.reshape(-1, 3)
    bad = (w != (0, 0, 1)).any(axis=1) | (p[:, 1] != p[:, 2])
    if bad.any():
        q = int(np.flatnonzero(bad)[0])
        kinds = "".join("w" if x else "r" for x in w[q])
        raise ValueError(f"query {q} is not read A, read B, write B: its requests are "
                         f"{kinds} of pages {p[q].tolist()}")
    return p[:, 0].copy(), p[:, 2].copy()


# --------------------------------------------------------------------------------------------
# Tests on page indices
# --------------------------------------------------------------------------------------------

def _default_bins(n: int, n_pages: int) -> int:
    """As many bins as keeps the expected count per bin >= 5, at most one per page."""
    return max(1, min(n_pages, n // 5))


def _binned(pages, n_pages: int, bins: int):
    """Bin indices of ``pages`` in ``bins`` equal (to within one page) ranges of
    ``[0, n_pages)``, and the number of pages in each range."""
    if not 1 <= bins <= n_pages:
        raise ValueError(f"bins must be in 1..n_pages={n_pages}, not {bins}")
    pages = np.asarray(pages, dtype=np.int64)
    if len(pages) and (pages.min() < 0 or pages.max() >= n_pages):
        raise ValueError(f"page indices must be in [0, {n_pages}): found "
                         f"{int(pages.min())}..{int(pages.max())}")
    index = pages * bins // n_pages
    starts = -(-np.arange(bins + 1, dtype=np.int64) * n_pages // bins)   # ceil(b P / bins)
    return index, np.diff(starts)


def uniformity(pages, n_pages: int, bins: int | None = None):
    """Chi-square goodness of fit of ``pages`` to the uniform distribution on
    ``[0, n_pages)``.

    With many pages and a small sample, the pages are binned into ``bins`` equal ranges (by
    default as many as keeps the expected count per bin >= 5, at most ``n_pages``); a range
    one page wider than another expects proportionally more. Returns
    ``(statistic, dof, p_value)``; with fewer than two bins there is nothing to test and the
    result is ``(0.0, 0, 1.0)``."""
    pages = np.asarray(pages, dtype=np.int64)
    n = len(pages)
    bins = _default_bins(n, n_pages) if bins is None else bins
    index, widths = _binned(pages, n_pages, bins)
    if bins < 2 or n == 0:
        return 0.0, 0, 1.0
    observed = np.bincount(index, minlength=bins)
    expected = n * widths / n_pages
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, bins - 1, chi_square_sf(statistic, bins - 1)


def two_sample(pages_a, pages_b, n_pages: int, bins: int | None = None):
    """Chi-square test of homogeneity: do the two samples of page indices come from one
    distribution? Both are binned alike (by default so that the smaller sample expects >= 5
    per bin); bins empty in both samples are left out. Returns ``(statistic, dof, p_value)``."""
    pages_a = np.asarray(pages_a, dtype=np.int64)
    pages_b = np.asarray(pages_b, dtype=np.int64)
    n_a, n_b = len(pages_a), len(pages_b)
    bins = _default_bins(min(n_a, n_b), n_pages) if bins is None else bins
    index_a, _ = _binned(pages_a, n_pages, bins)
    index_b, _ = _binned(pages_b, n_pages, bins)
    if n_a == 0 or n_b == 0:
        return 0.0, 0, 1.0
    table = np.stack([np.bincount(index_a, minlength=bins),
                      np.bincount(index_b, minlength=bins)]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 0, 1.0
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = table.shape[1] - 1
    return statistic, dof, chi_square_sf(statistic, dof)


def lag1(pages):
    """Pearson correlation r of successive values (x[i], x[i+1]) and its two-sided p-value
    under independence, from z = r sqrt(n) (n pairs) and the normal tail erfc(|z| / sqrt 2).

    A constant sequence (no variance, r undefined) is perfectly predictable and is reported
    as r = 1, p = 0. Returns ``(r, p_value)``."""
    x = np.asarray(pages, dtype=np.float64)
    if len(x) < 3:
        raise ValueError(f"lag1 needs at least 3 values, not {len(x)}")
    u = x[:-1] - x[:-1].mean()
    v = x[1:] - x[1:].mean()
    denominator = math.sqrt(float(np.dot(u, u)) * float(np.dot(v, v)))
    if denominator == 0.0:
        return 1.0, 0.0
    r = float(np.dot(u, v)) / denominator
    z = r * math.sqrt(len(u))
    return r, math.erfc(abs(z) / math.sqrt(2.0))


def serial_pairs(pages, n_pages: int, bins: int | None = None):
    """Serial test: chi-square goodness of fit of the non-overlapping pairs
    (x0, x1), (x2, x3), ... to the uniform distribution on ``bins`` x ``bins`` cells (by
    default as many bins as keeps >= 5 expected per cell). Unlike ``lag1`` this sees any
    dependence of a page on the one before it, not only a linear one. Returns
    ``(statistic, dof, p_value)``."""
    pages = np.asarray(pages, dtype=np.int64)
    m = len(pages) // 2
    bins = max(1, min(n_pages, math.isqrt(m // 5))) if bins is None else bins
    index, widths = _binned(pages[:2 * m], n_pages, bins)
    if bins < 2 or m == 0:
        return 0.0, 0, 1.0
    observed = np.bincount(index[0::2] * bins + index[1::2], minlength=bins * bins)
    share = widths / n_pages
    expected = m * np.outer(share, share).ravel()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    dof = bins * bins - 1
    return statistic, dof, chi_square_sf(statistic, dof)


# --------------------------------------------------------------------------------------------
# Shape and encryption
# --------------------------------------------------------------------------------------------

def _first_difference(a, b) -> tuple[int, int]:
    """(number of differing positions, first differing position) of two equal-length arrays."""
    differ = np.flatnonzero(np.asarray(a) != np.asarray(b))
    return len(differ), (int(differ[0]) if len(differ) else -1)


def same_shape(trace_a: Mapping, trace_b: Mapping, slots: int | None = None) -> list[str]:
    """The differences an observer of the host traffic could see between two traces, as
    human-readable lines (empty when there are none):

    * the number of rows;
    * the read/write sequence;
    * the request structure: the slot offset (``address mod slots``) of every row, which
      captures how rows group into page requests without depending on the (random) pages
      themselves. It needs ``slots`` (or a ``"slots"`` entry in a trace); without it this
      part is skipped;
    * the timing: the cycle gap between every two successive requests. The absolute cycle of
      the first request is not compared.

    Row-wise comparisons run over the rows both traces have."""
    differences = []
    slots = slots or trace_a.get("slots") or trace_b.get("slots")
    rows_a, rows_b = len(trace_a["address"]), len(trace_b["address"])
    if rows_a != rows_b:
        differences.append(f"length: {rows_a} rows vs {rows_b}")
    n = min(rows_a, rows_b)

    w_a = np.asarray(trace_a["is_write"], dtype=np.int64)[:n]
    w_b = np.asarray(trace_b["is_write"], dtype=np.int64)[:n]
    count, first = _first_difference(w_a, w_b)
    if count:
        differences.append(f"is_write: {count} of {n} rows differ, first at row {first} "
                           f"({int(w_a[first])} vs {int(w_b[first])})")

    if slots:
        o_a = np.asarray(trace_a["address"], dtype=np.int64)[:n] % slots
        o_b = np.asarray(trace_b["address"], dtype=np.int64)[:n] % slots
        count, first = _first_difference(o_a, o_b)
        if count:
            differences.append(f"request structure: the slot offset (address mod {slots}) "
                               f"differs at {count} of {n} rows, first at row {first} "
                               f"({int(o_a[first])} vs {int(o_b[first])})")

    g_a = np.diff(np.asarray(trace_a["cycle"], dtype=np.int64)[:n])
    g_b = np.diff(np.asarray(trace_b["cycle"], dtype=np.int64)[:n])
    count, first = _first_difference(g_a, g_b)
    if count:
        differences.append(f"timing: {count} of {len(g_a)} gaps between successive requests "
                           f"differ, first between rows {first} and {first + 1} "
                           f"({int(g_a[first])} vs {int(g_b[first])} cycles)")
    return differences


def _written(address, is_write, data, slots: int):
    """(row, page, word) of every write row, ``data`` being per row or per write row."""
    address = np.asarray(address, dtype=np.int64)
    rows = np.flatnonzero(np.asarray(is_write, dtype=np.int64) == 1)
    data = list(data)
    if len(data) == len(address):
        words = [int(data[r]) for r in rows]
    elif len(data) == len(rows):
        words = [int(d) for d in data]
    else:
        raise ValueError(f"data has {len(data)} entries: expected one per row "
                         f"({len(address)}) or one per write row ({len(rows)})")
    return rows, address[rows] // slots, words


def repeated_ciphertexts(address, is_write, data, slots: int) -> list[tuple[int, int]]:
    """Every written ciphertext (``data & (2**128 - 1)``, the nonce removed) that its page
    has been written before, in any slot and in any earlier or the same flush: a list of
    ``(page, ciphertext)``, one entry per repeat, in trace order. Fresh encryption never
    repeats (a repeat means a nonce, key or counter was reused, or a plaintext leaks)."""
    _, pages, words = _written(address, is_write, data, slots)
    seen: set[tuple[int, int]] = set()
    repeats = []
    for page, word in zip(pages.tolist(), words):
        item = (page, word & MASK128)
        if item in seen:
            repeats.append(item)
        seen.add(item)
    return repeats


def repeated_nonces(address, is_write, data, slots: int) -> list[tuple[int, int]]:
    """Every nonce (``data >> 128``) that was already used by an earlier write of the same
    page: a list of ``(page, nonce)``, one entry per repeat. Slots of one flush (a run of
    consecutive write rows of one page) may share their nonce; two flushes of a page may
    not."""
    rows, pages, words = _written(address, is_write, data, slots)
    # a new flush starts where the write rows stop being consecutive or change page
    new_flush = np.ones(len(rows), dtype=bool)
    new_flush[1:] = (np.diff(rows) != 1) | (np.diff(pages) != 0)
    flush = np.cumsum(new_flush)
    owner: dict[tuple[int, int], int] = {}
    reported: set[tuple[int, int, int]] = set()
    repeats = []
    for page, word, f in zip(pages.tolist(), words, flush.tolist()):
        item = (page, word >> 128)
        first_flush = owner.setdefault(item, f)
        if first_flush != f and (page, item[1], f) not in reported:
            reported.add((page, item[1], f))
            repeats.append(item)
    return repeats


# --------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------

SAMPLES = ("first", "flushed", "pooled")


def _page_statistics(pages, n_pages: int) -> dict:
    return {"uniformity": uniformity(pages, n_pages),
            "lag1": lag1(pages),
            "serial": serial_pairs(pages, n_pages)}


def check_oblivious(traces: Mapping[str, Mapping], n_pages: int, slots: int,
                    alpha: float = 1e-3) -> dict:
    """Run every check over a set of workloads' traces (name -> trace dict, see the module
    docstring), which should be of equal length.

    Per workload: the trace must parse into page requests and queries; the page indices of
    three samples (``"first"``: the first page of each query; ``"flushed"``: the page read
    and written back; ``"pooled"``: both, in time order) get ``uniformity``, ``lag1`` and
    ``serial_pairs``; if the trace has ``data``, no ciphertext or nonce may repeat. Across
    workloads: every trace must have the same shape as the first (``same_shape``), and every
    pair of workloads gets ``two_sample`` on each sample.

    Returns a dict:

    * ``statistics``: {workload: {sample: {"uniformity": (stat, dof, p), "lag1": (r, p),
      "serial": (stat, dof, p)}}},
    * ``two_sample``: {"a vs b": {sample: (stat, dof, p)}},
    * ``shape``: {workload: [differences from the first workload]},
    * ``repeats``: {workload: {"ciphertexts": [...], "nonces": [...]}},
    * ``queries``: {workload: number of queries parsed},
    * ``tests``: the number of p-values compared with ``alpha``,
    * ``failures``: human-readable lines: a p-value below ``alpha``, a malformed trace, a
      shape difference or a repeat,
    * ``passed``: no failures.
    """
    if not traces:
        raise ValueError("no traces to check")
    failures: list[str] = []
    statistics: dict = {}
    samples: dict = {}
    queries: dict = {}
    repeats: dict = {}
    shape: dict = {}
    tests = 0

    def judge(where: str, what: str, p: float, detail: str) -> None:
        nonlocal tests
        tests += 1
        if p < alpha:
            failures.append(f"{where}: {what} (p = {p:.3g} < {alpha:g}; {detail})")

    names = list(traces)
    reference = traces[names[0]]
    for name in names:
        trace = traces[name]
        if name != names[0]:
            shape[name] = same_shape(reference, trace, slots)
            failures.extend(f"{name}: shape differs from {names[0]}: {line}"
                            for line in shape[name])
        try:
            pages, kinds, _ = page_requests(trace["address"], trace["is_write"],
                                            trace["cycle"], slots)
            first, flushed = query_pages(pages, kinds)
            if (pages < 0).any() or (pages >= n_pages).any():
                raise ValueError(f"page indices {int(pages.min())}..{int(pages.max())} are "
                                 f"not all in [0, {n_pages})")
        except ValueError as error:
            failures.append(f"{name}: malformed trace: {error}")
        else:
            queries[name] = len(first)
            pooled = np.stack([first, flushed], axis=1).ravel()
            samples[name] = {"first": first, "flushed": flushed, "pooled": pooled}
            statistics[name] = {}
            for sample in SAMPLES:
                if len(samples[name][sample]) < 3:
                    failures.append(f"{name}: too few queries ({len(first)}) to test")
                    break
                result = _page_statistics(samples[name][sample], n_pages)
                statistics[name][sample] = result
                stat, dof, p = result["uniformity"]
                judge(name, f"{sample} pages are not uniform", p,
                      f"chi2 = {stat:.1f}, dof = {dof}")
                r, p = result["lag1"]
                judge(name, f"successive {sample} pages are correlated", p, f"r = {r:.4f}")
                stat, dof, p = result["serial"]
                judge(name, f"pairs of {sample} pages are not independent and uniform", p,
                      f"chi2 = {stat:.1f}, dof = {dof}")
        if trace.get("data") is not None:
            try:
                found = {"ciphertexts": repeated_ciphertexts(trace["address"],
                                                             trace["is_write"],
                                                             trace["data"], slots),
                         "nonces": repeated_nonces(trace["address"], trace["is_write"],
                                                   trace["data"], slots)}
            except ValueError as error:
                failures.append(f"{name}: unreadable data: {error}")
            else:
                repeats[name] = found
                for page, ciphertext in found["ciphertexts"][:5]:
                    failures.append(f"{name}: page {page} was written ciphertext "
                                    f"{ciphertext:#034x} again")
                for page, nonce in found["nonces"][:5]:
                    failures.append(f"{name}: page {page} was written with nonce "
                                    f"{nonce:#x} again")
                for kind in ("ciphertexts", "nonces"):
                    if len(found[kind]) > 5:
                        failures.append(f"{name}: ... {len(found[kind]) - 5} more repeated "
                                        f"{kind}")

    pairs: dict = {}
    for a, b in combinations([n for n in names if n in samples], 2):
        key = f"{a} vs {b}"
        pairs[key] = {}
        for sample in SAMPLES:
            result = two_sample(samples[a][sample], samples[b][sample], n_pages)
            pairs[key][sample] = result
            stat, dof, p = result
            judge(key, f"{sample} pages are distributed differently", p,
                  f"chi2 = {stat:.1f}, dof = {dof}")

    return {"statistics": statistics, "two_sample": pairs, "shape": shape,
            "repeats": repeats, "queries": queries, "tests": tests,
            "failures": failures, "passed": not failures}


__all__ = [
    "MASK128",
    "SAMPLES",
    "check_oblivious",
    "chi_square_sf",
    "lag1",
    "page_requests",
    "query_pages",
    "repeated_ciphertexts",
    "repeated_nonces",
    "same_shape",
    "serial_pairs",
    "two_sample",
    "uniformity",
]
