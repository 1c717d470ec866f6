"""The obliviousness checks (hwgen/blocks/omap/statistics.py): the chi-square p-value against tables and
closed forms; and on synthetic host traces of the oblivious map's query shape (read page A,
read page B, write page B back, S slots each), that honest traces pass and that each kind of
leak fails: a biased page, a missing read, one cycle of timing, correlated successive pages,
a repeated ciphertext or nonce. Everything is seeded, so the outcome is fixed."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest

from hwgen.blocks.omap.statistics import (
    MASK128,
    check_oblivious,
    chi_square_sf,
    lag1,
    page_requests,
    query_pages,
    repeated_ciphertexts,
    repeated_nonces,
    same_shape,
    serial_pairs,
    two_sample,
    uniformity,
)

SLOTS = 4
PAGES = 1024
QUERIES = 3000
ALPHA = 1e-3


# --------------------------------------------------------------------------------------------
# chi_square_sf
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("statistic, dof", [
    (3.841, 1), (18.307, 10), (124.342, 100),        # the 5% points of a printed table
])
def test_chi_square_table_values(statistic, dof):
    # the table rounds the points to 3 decimals: 3.841 is 3.8414588..., worth 2.7e-4 here
    assert chi_square_sf(statistic, dof) == pytest.approx(0.05, rel=5e-4)
    assert chi_square_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-12)


@pytest.mark.parametrize("statistic, dof, p", [
    (6.635, 1, 0.01), (10.828, 1, 0.001), (11.345, 3, 0.01), (23.209, 10, 0.01),
    (1.145, 5, 0.95), (77.929, 100, 0.95), (135.807, 100, 0.01),
])
def test_chi_square_more_table_values(statistic, dof, p):
    assert chi_square_sf(statistic, dof) == pytest.approx(p, rel=2e-3)


def poisson_tail(statistic: float, dof: int) -> Decimal:
    """Q(k, y) = e^-y sum_{i<k} y^i / i! for even dof = 2k, y = statistic / 2, in 40-digit
    decimal arithmetic: an independent reference."""
    with localcontext() as context:
        context.prec = 40
        y = Decimal(statistic) / 2
        term = total = (-y).exp()
        for i in range(1, dof // 2):
            term = term * y / i
            total += term
        return total


def test_chi_square_closed_forms():
    for x in (1e-6, 0.3, 1.0, 3.841458820694124, 20.0, 150.0, 1400.0):
        assert chi_square_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-12)
        assert chi_square_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-12)
        # dof 3: erfc(sqrt(y)) + 2 sqrt(y / pi) e^-y
        y = x / 2
        three = math.erfc(math.sqrt(y)) + 2 * math.sqrt(y / math.pi) * math.exp(-y)
        assert chi_square_sf(x, 3) == pytest.approx(three, rel=1e-12)
    assert chi_square_sf(0.0, 7) == 1.0
    assert chi_square_sf(-1.0, 7) == 1.0
    assert chi_square_sf(math.inf, 7) == 0.0
    with pytest.raises(ValueError, match="dof"):
        chi_square_sf(1.0, 0)


@pytest.mark.parametrize("dof, sigmas", [
    (40, (-3, 0, 0.1, 3, 30)), (2000, (-5, -0.5, 0, 1, 8, 40)),
    (200_000, (-6, -0.01, 0, 0.01, 1, 6, 20)),
])
def test_chi_square_large_dof_is_accurate(dof, sigmas):
    """Against the exact Poisson sum in decimal, on both sides of the mean (the series and the
    continued fraction), out to tails far below 1e-100."""
    for sigma in sigmas:
        x = dof + sigma * math.sqrt(2 * dof)
        exact = poisson_tail(x, dof)
        assert abs(Decimal(chi_square_sf(x, dof)) - exact) <= exact * Decimal("1e-10"), (dof, x)


def wilson_hilferty(x: float, k: float) -> float:
    z = ((x / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.mark.parametrize("dof", [10_000, 1_000_000])
def test_chi_square_matches_wilson_hilferty_at_large_dof(dof):
    for z in (-2.0, 0.0, 1.645, 3.0):
        x = dof + z * math.sqrt(2 * dof)
        assert chi_square_sf(x, dof) == pytest.approx(wilson_hilferty(x, dof), rel=1e-3)


# --------------------------------------------------------------------------------------------
# Synthetic traces
# --------------------------------------------------------------------------------------------

def make_trace(first, flushed, seed: int, slots: int = SLOTS) -> dict:
    """The host trace of queries (read ``first``, read ``flushed``, write ``flushed`` back),
    one row per slot, at a fixed pace; each flush gets a fresh nonce and random
    ciphertexts."""
    first = np.asarray(first, dtype=np.int64)
    flushed = np.asarray(flushed, dtype=np.int64)
    queries = len(first)
    pages = np.stack([first, flushed, flushed], axis=1)
    address = (pages[:, :, None] * slots + np.arange(slots)).ravel()
    is_write = np.tile(np.repeat([0, 0, 1], slots), queries)
    rows = np.arange(len(address))
    cycle = 100 + rows + 3 * (rows // slots) + 10 * (rows // (3 * slots))
    halves = np.random.default_rng(seed).integers(0, 1 << 63, size=(queries * slots, 2))
    nonces = np.repeat(np.arange(queries), slots)
    data = np.zeros(len(address), dtype=object)
    data[is_write == 1] = [(int(n) << 128) | (int(hi) << 64) | int(lo)
                           for n, (hi, lo) in zip(nonces, halves)]
    return {"address": address, "is_write": is_write, "cycle": cycle, "data": data}


def honest(seed: int, names=("uniform keys", "one key", "sequential keys")) -> dict:
    """Workloads as an oblivious controller would serve them: whatever the keys, every page
    is a fresh uniform draw."""
    rng = np.random.default_rng(seed)
    return {name: make_trace(rng.integers(0, PAGES, QUERIES), rng.integers(0, PAGES, QUERIES),
                             seed=seed * 100 + i)
            for i, name in enumerate(names)}


def drop_rows(trace: dict, rows) -> dict:
    return {key: np.delete(np.asarray(value), rows) for key, value in trace.items()}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_honest_traces_pass(seed):
    report = check_oblivious(honest(seed), PAGES, SLOTS, ALPHA)
    assert report["failures"] == []
    assert report["passed"]
    assert set(report["queries"].values()) == {QUERIES}
    assert report["tests"] == 3 * 9 + 3 * 3
    assert report["shape"] == {"one key": [], "sequential keys": []}


def test_p_values_are_calibrated():
    """Under the null hypothesis each p-value is uniform on [0, 1]: over 400 honest samples,
    about 10% fall below 0.1 and about half below 0.5 (bounds ~4 binomial sigmas)."""
    rng = np.random.default_rng(11)
    p = {"uniformity": [], "two_sample": [], "lag1": [], "serial": []}
    for _ in range(400):
        a, b = rng.integers(0, 300, size=(2, 600))
        p["uniformity"].append(uniformity(a, 300)[2])
        p["two_sample"].append(two_sample(a, b, 300)[2])
        p["lag1"].append(lag1(a)[1])
        p["serial"].append(serial_pairs(a, 300)[2])
    for name, values in p.items():
        values = np.array(values)
        assert 0.04 <= (values < 0.1).mean() <= 0.16, name
        assert 0.40 <= (values < 0.5).mean() <= 0.60, name


def test_page_requests_and_queries():
    first, flushed = [5, 0, 1023], [9, 0, 7]
    trace = make_trace(first, flushed, seed=0)
    pages, kinds, cycles = page_requests(trace["address"], trace["is_write"], trace["cycle"],
                                         SLOTS)
    assert pages.tolist() == [5, 9, 9, 0, 0, 0, 1023, 7, 7]
    assert kinds.tolist() == [0, 0, 1] * 3
    assert cycles.tolist() == trace["cycle"][::SLOTS].tolist()
    got_first, got_flushed = query_pages(pages, kinds)
    assert got_first.tolist() == first and got_flushed.tolist() == flushed
    # slots out of order within a page
    swapped = {k: np.array(v) for k, v in trace.items()}
    swapped["address"][[1, 2]] = swapped["address"][[2, 1]]
    with pytest.raises(ValueError, match="request 0 .* row 1 has address 22"):
        page_requests(swapped["address"], swapped["is_write"], swapped["cycle"], SLOTS)
    # the written-back page is not the page just read
    with pytest.raises(ValueError, match="query 1 is not read A, read B, write B"):
        query_pages([5, 9, 9, 0, 1, 2], [0, 0, 1, 0, 0, 1])


# --------------------------------------------------------------------------------------------
# Leaks, each caught
# --------------------------------------------------------------------------------------------

def test_a_biased_page_fails():
    traces = honest(5)
    rng = np.random.default_rng(50)
    traces["one key"] = make_trace(np.full(QUERIES, 7), rng.integers(0, PAGES, QUERIES), 51)
    first = query_pages(*page_requests(traces["one key"]["address"],
                                       traces["one key"]["is_write"],
                                       traces["one key"]["cycle"], SLOTS)[:2])[0]
    assert uniformity(first, PAGES)[2] < ALPHA
    report = check_oblivious(traces, PAGES, SLOTS, ALPHA)
    assert not report["passed"]
    failures = report["failures"]
    assert any(f.startswith("one key: first pages are not uniform") for f in failures)
    assert any(f.startswith("one key: pooled pages are not uniform") for f in failures)
    assert any(f.startswith("uniform keys vs one key: first pages are distributed differently")
               for f in failures)
    # the flushed pages are honest and nothing but the page distribution is flagged
    assert not any("flushed pages are not uniform" in f for f in failures)
    assert not any("shape" in f or "malformed" in f or "again" in f for f in failures)


def test_a_subtly_biased_page_fails():
    """Page 7 served for 5% of the queries, the rest uniform: a small bias is still seen."""
    traces = honest(6)
    rng = np.random.default_rng(60)
    first = rng.integers(0, PAGES, QUERIES)
    first[rng.random(QUERIES) < 0.05] = 7
    traces["one key"] = make_trace(first, rng.integers(0, PAGES, QUERIES), 61)
    report = check_oblivious(traces, PAGES, SLOTS, ALPHA)
    assert any(f.startswith("one key: first pages are not uniform") for f in report["failures"])


def test_a_missing_read_fails():
    traces = honest(7)
    # drop one slot read of the first page in three queries
    def row(query, slot):
        return query * 3 * SLOTS + slot
    traces["one key"] = drop_rows(traces["one key"], [row(100, 2), row(1500, 0), row(2999, 3)])
    leaky = traces["one key"]
    with pytest.raises(ValueError, match=f"request 300 \\(rows {300 * SLOTS}"):
        page_requests(leaky["address"], leaky["is_write"], leaky["cycle"], SLOTS)
    differences = same_shape(traces["uniform keys"], leaky, SLOTS)
    assert differences[0] == f"length: {QUERIES * 3 * SLOTS} rows vs {QUERIES * 3 * SLOTS - 3}"
    assert any(d.startswith("is_write:") for d in differences)
    assert any(d.startswith("request structure:") for d in differences)
    report = check_oblivious(traces, PAGES, SLOTS, ALPHA)
    assert any(f.startswith("one key: malformed trace: request 300") for f in report["failures"])
    assert any(f.startswith("one key: shape differs from uniform keys: length")
               for f in report["failures"])


def test_one_cycle_of_timing_fails():
    traces = honest(8)
    traces["sequential keys"]["cycle"] = traces["sequential keys"]["cycle"].copy()
    traces["sequential keys"]["cycle"][1234:] += 1            # one request accepted a cycle late
    differences = same_shape(traces["uniform keys"], traces["sequential keys"], SLOTS)
    assert differences == [(f"timing: 1 of {QUERIES * 3 * SLOTS - 1} gaps between successive "
                            f"requests differ, first between rows 1233 and 1234 (1 vs 2 cycles)")]
    report = check_oblivious(traces, PAGES, SLOTS, ALPHA)
    assert report["failures"] == ["sequential keys: shape differs from uniform keys: "
                                  + differences[0]]
    # the absolute start is not part of the shape
    shifted = dict(traces["uniform keys"], cycle=traces["uniform keys"]["cycle"] + 5)
    assert same_shape(traces["uniform keys"], shifted, SLOTS) == []


def test_correlated_successive_pages_fail():
    """p[i+1] = p[i] + 1 mod P half of the time: each page is still uniform on its own, but
    successive pages are correlated."""
    traces = honest(9)
    rng = np.random.default_rng(90)
    walk = rng.integers(0, PAGES, 2 * QUERIES)
    for i in np.flatnonzero(rng.random(2 * QUERIES) < 0.5):
        if i:
            walk[i] = (walk[i - 1] + 1) % PAGES
    traces["sequential keys"] = make_trace(walk[0::2], walk[1::2], 91)
    assert lag1(walk)[1] < ALPHA
    assert serial_pairs(walk, PAGES)[2] < ALPHA
    assert uniformity(walk, PAGES)[2] > ALPHA
    report = check_oblivious(traces, PAGES, SLOTS, ALPHA)
    failures = report["failures"]
    assert any(f.startswith("sequential keys: successive pooled pages are correlated")
               for f in failures)
    assert any(f.startswith("sequential keys: pairs of pooled pages are not independent")
               for f in failures)
    assert not any("not uniform" in f or "shape" in f for f in failures)


def written_twice(trace: dict) -> tuple[int, int]:
    """Two queries q1 < q2 that flush the same page."""
    flushed = trace["address"].reshape(QUERIES, 3 * SLOTS)[:, 2 * SLOTS] // SLOTS
    seen = {}
    for q, page in enumerate(flushed.tolist()):
        if page in seen:
            return seen[page], q
        seen[page] = q
    raise AssertionError("no page flushed twice")


def write_row(query: int, slot: int) -> int:
    return query * 3 * SLOTS + 2 * SLOTS + slot


def test_a_repeated_ciphertext_fails():
    traces = honest(10)
    trace = traces["uniform keys"]
    trace["data"] = trace["data"].copy()
    q1, q2 = written_twice(trace)
    page = int(trace["address"][write_row(q1, 0)]) // SLOTS
    old = trace["data"][write_row(q1, 1)]
    # the same ciphertext again, in another slot, under the new flush's nonce
    new_nonce = trace["data"][write_row(q2, 3)] >> 128
    trace["data"][write_row(q2, 3)] = (new_nonce << 128) | (old & MASK128)
    args = trace["address"], trace["is_write"], trace["data"], SLOTS
    assert repeated_ciphertexts(*args) == [(page, old & MASK128)]
    assert repeated_nonces(*args) == []
    report = check_oblivious(traces, PAGES, SLOTS, ALPHA)
    assert report["failures"] == [(f"uniform keys: page {page} was written ciphertext "
                                   f"{old & MASK128:#034x} again")]
    # the data may also be given per write row only
    writes = trace["is_write"] == 1
    assert repeated_ciphertexts(trace["address"], trace["is_write"], trace["data"][writes],
                                SLOTS) == [(page, old & MASK128)]


def test_a_repeated_nonce_fails():
    traces = honest(12)
    trace = traces["one key"]
    trace["data"] = trace["data"].copy()
    q1, q2 = written_twice(trace)
    page = int(trace["address"][write_row(q1, 0)]) // SLOTS
    old_nonce = trace["data"][write_row(q1, 0)] >> 128
    for slot in range(SLOTS):                      # the whole second flush reuses the nonce
        word = trace["data"][write_row(q2, slot)]
        trace["data"][write_row(q2, slot)] = (old_nonce << 128) | (word & MASK128)
    args = trace["address"], trace["is_write"], trace["data"], SLOTS
    assert repeated_nonces(*args) == [(page, old_nonce)]
    assert repeated_ciphertexts(*args) == []
    report = check_oblivious(traces, PAGES, SLOTS, ALPHA)
    assert report["failures"] == [(f"one key: page {page} was written with nonce "
                                   f"{old_nonce:#x} again")]


def test_statistics_by_hand():
    # uniform: 10 pages in 2 bins of 5 pages; 30 and 10 observed of 20 expected each
    pages = [0] * 30 + [9] * 10
    statistic, dof, p = uniformity(pages, 10, bins=2)
    assert (statistic, dof) == (10.0, 1)
    assert p == pytest.approx(math.erfc(math.sqrt(5.0)))
    # unequal bins: 10 pages in 3 bins of 4, 3, 3 pages expect 40%, 30%, 30%
    assert uniformity([0] * 4 + [5] * 3 + [9] * 3, 10, bins=3)[0] == pytest.approx(0.0)
    # two identical samples are homogeneous; disjoint ones are not
    assert two_sample([1, 2, 3] * 10, [1, 2, 3] * 10, 4, bins=4)[:2] == (0.0, 2)
    assert two_sample([0] * 20, [3] * 20, 4, bins=4)[2] < 1e-8
    # a perfectly alternating sequence is perfectly anti-correlated
    r, p = lag1([0, 1] * 50)
    assert r == pytest.approx(-1.0) and p < 1e-10
    assert lag1([4] * 10) == (1.0, 0.0)
    with pytest.raises(ValueError, match=r"page indices must be in \[0, 10\)"):
        uniformity([3, 10], 10)
