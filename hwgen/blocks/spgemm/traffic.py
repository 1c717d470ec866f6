"""DRAM-traffic models of four SpGEMM dataflows for C = A x B (A is M x K, B is K x N).

Every model is a function of the two sparsity patterns, computed exactly (no sampling, no
averages): partial products, output patterns, cache hits and merge schedules are all counted
on the actual matrices. Values never matter.

Element sizes: an index (row or column) is 4 bytes, a value 4 bytes (int32 or fp32), a pointer
(an ``indptr`` entry) 4 bytes. So a stored entry is 8 bytes (index + value), and

* a whole matrix read or written in CSR (or CSC) is ``4 * (rows + 1) + 8 * nnz`` bytes;
* fetching one row (or column) by itself costs its two pointers plus its entries,
  ``8 + 8 * len`` bytes (an empty row still costs its 8 bytes of pointers);
* a partial row spilled to DRAM (a *fragment*) is an 8-byte header (row index and length)
  plus 8 bytes per entry.

Each model returns a :class:`Traffic`: DRAM bytes split into A read, B read, partial products
written and read back, C written; the on-chip storage the dataflow needs (or is given); and
cycles as a roofline: the larger of the transfer time, ``bytes / (bandwidth / clock)``, and
the compute time, ``work / multipliers`` (``work`` is the partial products, one per multiplier
per cycle, except for the inner product, whose work is its intersection steps). No latency,
load imbalance or bank conflicts are modelled.

The dataflows (the docstring of each function states its model in full):

* :func:`inner_product`: C[i, j] = A[i, :] . B[:, j] for every nonempty row of A and every
  nonempty column of B (B in CSC). Without a B buffer, B is streamed once per nonempty A row;
  with a buffer, B is cut into column tiles that fit and A is streamed once per tile; the
  cheaper schedule is taken.
* :func:`outer_product`: OuterSPACE. Multiply phase: column k of A times row k of B, every
  partial row written to DRAM; merge phase: read them all back, merge per row, write C.
* :func:`outer_product_merger`: SpArch. Partial matrices (one per condensed column of A) are
  merged on chip by a ``ways``-way merger; with more partial matrices than ways, a Huffman
  schedule of merge rounds spills every intermediate result once.
* :func:`row_wise`: Gustavson (MatRaptor, Gamma, SMASH). A read once; B row k fetched for every
  A[i, k] unless an LRU row cache (a FiberCache) still holds it; C written once; partial
  products stay in the on-chip table unless a row's output exceeds it, in which case the row
  takes extra passes over column ranges.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.params import ParamSet
from ...core.system_model import Arg, SystemModel, register
from .golden import expand
from .matrices import Csr, read_mtx

__all__ = ["compare", "DATAFLOWS", "ENTRY_BYTES", "format_table", "FRAGMENT_HEADER_BYTES",
           "INDEX_BYTES", "inner_product", "lru_traffic", "Machine", "outer_product",
           "outer_product_merger", "POINTER_BYTES", "row_wise", "Structure", "structure",
           "Traffic", "VALUE_BYTES"]

INDEX_BYTES = 4
VALUE_BYTES = 4
POINTER_BYTES = 4
ENTRY_BYTES = INDEX_BYTES + VALUE_BYTES
FRAGMENT_HEADER_BYTES = 8          # a spilled partial row: row index + length
ROW_FETCH_OVERHEAD = 2 * POINTER_BYTES

DATAFLOWS = ("inner", "outer", "outer_merger", "rowwise")
DATAFLOW_NAMES = {"inner": "inner product", "outer": "outer product (OuterSPACE)",
                  "outer_merger": "outer + merger (SpArch)", "rowwise": "row-wise (Gustavson)"}

DEFAULT_BANDWIDTH_GBS = 128.0      # an HBM stack, as in OuterSPACE, SpArch and Gamma
DEFAULT_CLOCK_MHZ = 1000.0
DEFAULT_MULTIPLIERS = 16
DEFAULT_CACHE_BYTES = 32 * 1024    # B buffer / row buffer / FiberCache
DEFAULT_TABLE_ENTRIES = 1024       # row-wise accumulator (hash table) entries
DEFAULT_MERGE_WAYS = 64            # SpArch's merge tree
DEFAULT_FIFO_ENTRIES = 16          # merger buffering per way


def matrix_bytes(rows: int, nnz: int) -> int:
    """A whole CSR (or CSC) matrix: pointers and entries."""
    return POINTER_BYTES * (rows + 1) + ENTRY_BYTES * nnz


def row_fetch_bytes(length) -> np.ndarray:
    """One row fetched by itself: two pointers and its entries."""
    return ROW_FETCH_OVERHEAD + ENTRY_BYTES * np.asarray(length, dtype=np.int64)


@dataclass(frozen=True)
class Machine:
    """The roofline: DRAM bandwidth (GB/s, 1e9 bytes), clock (MHz) and multipliers."""

    bandwidth_gbs: float = DEFAULT_BANDWIDTH_GBS
    clock_mhz: float = DEFAULT_CLOCK_MHZ
    multipliers: int = DEFAULT_MULTIPLIERS

    def __post_init__(self):
        for name in ("bandwidth_gbs", "clock_mhz"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                    or not math.isfinite(value):
                raise ValueError(f"{name}={value!r} must be a positive number")
        if isinstance(self.multipliers, bool) or not isinstance(self.multipliers, int) or self.multipliers < 1:
            raise ValueError(f"multipliers={self.multipliers!r} must be an integer >= 1")

    @property
    def bytes_per_cycle(self) -> float:
        return self.bandwidth_gbs * 1e3 / self.clock_mhz


@dataclass(frozen=True)
class Traffic:
    """One dataflow's cost on one product. Bytes are exact integers; ``onchip_bytes`` is the
    storage the dataflow uses (buffers it is given, or what it needs where the model fixes it);
    ``work`` is what the compute bound counts (``work_kind``)."""

    dataflow: str
    read_a: int
    read_b: int
    partial_write: int
    partial_read: int
    write_c: int
    onchip_bytes: int
    work: int
    work_kind: str
    machine: Machine
    notes: str = ""
    details: dict = field(default_factory=dict)

    @property
    def dram_bytes(self) -> int:
        return self.read_a + self.read_b + self.partial_write + self.partial_read + self.write_c

    @property
    def transfer_cycles(self) -> int:
        return math.ceil(self.dram_bytes / self.machine.bytes_per_cycle)

    @property
    def compute_cycles(self) -> int:
        return math.ceil(self.work / self.machine.multipliers)

    @property
    def cycles(self) -> int:
        return max(self.transfer_cycles, self.compute_cycles)

    @property
    def bound(self) -> str:
        return "memory" if self.transfer_cycles >= self.compute_cycles else "compute"

    @property
    def microseconds(self) -> float:
        return self.cycles / self.machine.clock_mhz

    def as_dict(self) -> dict:
        return {"dataflow": self.dataflow, "read_a": self.read_a, "read_b": self.read_b,
                "partial_write": self.partial_write, "partial_read": self.partial_read,
                "write_c": self.write_c, "dram_bytes": self.dram_bytes,
                "onchip_bytes": self.onchip_bytes, "work": self.work, "work_kind": self.work_kind,
                "transfer_cycles": self.transfer_cycles, "compute_cycles": self.compute_cycles,
                "cycles": self.cycles, "bound": self.bound, "notes": self.notes,
                "bandwidth_gbs": self.machine.bandwidth_gbs, "clock_mhz": self.machine.clock_mhz,
                "multipliers": self.machine.multipliers, **self.details}


# -- structure shared by the models -------------------------------------------------------------

@dataclass(frozen=True)
class Structure:
    """What the models need of A x B, computed once: shapes, nnz, the product's partial
    products in (i, j, k) order and C's row lengths."""

    A: Csr
    B: Csr
    prod_rows: np.ndarray          # i of every partial product
    prod_cols: np.ndarray          # j
    prod_a_pos: np.ndarray         # position of A[i, k] in A's arrays
    c_row_nnz: np.ndarray          # nnz of each row of C
    row_flops: np.ndarray          # partial products of each row of C

    @property
    def flops(self) -> int:
        return int(self.prod_rows.size)

    @property
    def nnz_c(self) -> int:
        return int(self.c_row_nnz.sum())


def structure(A: Csr, B: Csr) -> Structure:
    e = expand(A, B)
    return Structure(A, B, e.rows, e.cols, e.a_pos, np.diff(e.indptr),
                     np.bincount(e.rows, minlength=A.rows).astype(np.int64))


def _structure(A, B, s):
    if s is None:
        return structure(A, B)
    if s.A is not A or s.B is not B:
        raise ValueError("the Structure passed was computed for other matrices")
    return s


def _machine(machine) -> Machine:
    return Machine() if machine is None else machine


# -- an exact LRU cache over rows -----------------------------------------------------------------

def lru_traffic(sequence, sizes, capacity: int | None) -> tuple[int, int, int]:
    """Bytes fetched, misses and peak bytes held when the rows in ``sequence`` are fetched
    through an LRU cache of ``capacity`` bytes (None: unlimited; 0: no cache). Row r occupies
    and costs ``sizes[r]`` bytes; a row larger than the capacity is fetched but never kept."""
    sizes = np.asarray(sizes, dtype=np.int64)
    seq = np.asarray(sequence, dtype=np.int64)
    if capacity is None:
        first = np.unique(seq)
        total = int(sizes[first].sum())
        return total, int(first.size), total
    if capacity < 0:
        raise ValueError(f"cache capacity {capacity} must be >= 0 (or None for unlimited)")
    cache: OrderedDict[int, int] = OrderedDict()
    held = fetched = misses = peak = 0
    size_list = sizes.tolist()
    for r in seq.tolist():
        if r in cache:
            cache.move_to_end(r)
            continue
        size = size_list[r]
        fetched += size
        misses += 1
        if size > capacity:
            continue
        cache[r] = size
        held += size
        while held > capacity:
            _, evicted = cache.popitem(last=False)
            held -= evicted
        peak = max(peak, held)
    return fetched, misses, peak


# -- inner product ------------------------------------------------------------------------------

def inner_product(A: Csr, B: Csr, *, cache_bytes: int = 0, machine: Machine | None = None,
                  s: Structure | None = None) -> Traffic:
    """Inner product: every nonempty row i of A (CSR) against every nonempty column j of B (CSC,
    given as such: no transposition is charged), one intersection per pair.

    * A row i is held on chip (``8 * max row length`` bytes) while B's columns go past.
    * Schedule "stream" (always possible): B (pointers and entries, ``4 (N + 1) + 8 nnz(B)``) is
      re-read for every nonempty row of A; A is read once.
    * Schedule "tiled" (``cache_bytes`` > 0 and every nonempty column fits): nonempty columns of
      B are packed in order into tiles of at most ``cache_bytes`` (a column occupies
      ``4 + 8 * len``); each tile is loaded once, and all of A is streamed once per tile.
      B costs one full read in total.
    * The model takes the schedule with fewer bytes (on a tie, the tiled one).
    * C is written once (each row's entries from different tiles are column-disjoint).
    * Work: intersection steps, ``|A_i| + |B_j|`` per pair (a two-pointer merge bound), that is
      ``(nonempty cols of B) * nnz(A) + (nonempty rows of A) * nnz(B)``.
    """
    s = _structure(A, B, s)
    machine = _machine(machine)
    if cache_bytes is None or cache_bytes < 0:
        raise ValueError(f"inner product: cache_bytes={cache_bytes!r} must be >= 0")
    m, n = A.rows, B.cols
    a_len = A.row_lengths()
    b_col_len = np.bincount(B.indices, minlength=n)
    rows_a = int((a_len > 0).sum())
    cols_b = int((b_col_len > 0).sum())
    a_bytes = matrix_bytes(m, A.nnz)
    b_bytes = matrix_bytes(n, B.nnz)
    a_row_buffer = ENTRY_BYTES * int(a_len.max(initial=0))
    stream_b = rows_a * b_bytes if cols_b else 0
    stream = (a_bytes, stream_b, a_row_buffer, "stream",
              f"B streamed once per nonempty A row ({rows_a} times)")
    choice = stream
    footprint = POINTER_BYTES + ENTRY_BYTES * b_col_len[b_col_len > 0]
    if cache_bytes > 0 and (footprint.size == 0 or footprint.max() <= cache_bytes):
        tiles, used, largest = 0, cache_bytes + 1, 0
        for size in footprint.tolist():
            if used + size > cache_bytes:
                tiles, used = tiles + 1, 0
            used += size
            largest = max(largest, used)
        tiles = max(tiles, 1)
        tiled = (tiles * a_bytes, b_bytes, a_row_buffer + largest, "tiled",
                 f"B in {tiles} column tile{'s' * (tiles != 1)} of <= {cache_bytes} B; A read {tiles}x")
        if tiled[0] + tiled[1] <= stream[0] + stream[1]:
            choice = tiled
    read_a, read_b, onchip, schedule, notes = choice
    work = cols_b * A.nnz + rows_a * B.nnz
    return Traffic("inner", read_a, read_b, 0, 0, matrix_bytes(m, s.nnz_c), onchip, work,
                   "intersection steps", machine, notes,
                   {"schedule": schedule, "pairs": rows_a * cols_b, "flops": s.flops})


# -- outer product (OuterSPACE) ---------------------------------------------------------------

def outer_product(A: Csr, B: Csr, *, machine: Machine | None = None, s: Structure | None = None) -> Traffic:
    """Outer product without a merger (OuterSPACE).

    * Multiply phase: A in CSC and B in CSR are each read once (``4 (K + 1) + 8 nnz``). Every
      A[i, k] with a nonempty B row k produces a partial row of ``len(B_k)`` products, written to
      DRAM as a fragment (8-byte header + 8 bytes per product).
    * Merge phase: all fragments are read back (the same bytes), merged row by row, and C is
      written once.
    * On chip: one B row during the multiply phase, and during the merge the partial products of
      one output row: ``8 * max(max row of B, max partial products of a row of C)``.
    * Work: the partial products.
    """
    s = _structure(A, B, s)
    machine = _machine(machine)
    b_len = B.row_lengths()
    fragments = int((b_len[A.indices] > 0).sum())
    partial = ENTRY_BYTES * s.flops + FRAGMENT_HEADER_BYTES * fragments
    onchip = ENTRY_BYTES * max(int(b_len.max(initial=0)), int(s.row_flops.max(initial=0)))
    return Traffic("outer", matrix_bytes(A.cols, A.nnz), matrix_bytes(B.rows, B.nnz), partial, partial,
                   matrix_bytes(A.rows, s.nnz_c), onchip, s.flops, "partial products", machine,
                   f"{s.flops} partial products in {fragments} fragments spilled and read back",
                   {"fragments": fragments, "flops": s.flops})


# -- outer product with an on-chip merger (SpArch) -----------------------------------------------

def _spill_bytes(keys: np.ndarray, n: int) -> int:
    """A partial matrix spilled to DRAM: one fragment per nonempty row."""
    rows = np.unique(keys // max(n, 1)).size if keys.size else 0
    return ENTRY_BYTES * int(keys.size) + FRAGMENT_HEADER_BYTES * rows


def outer_product_merger(A: Csr, B: Csr, *, ways: int = DEFAULT_MERGE_WAYS, condense: bool = True,
                         row_buffer_bytes: int = DEFAULT_CACHE_BYTES,
                         fifo_entries: int = DEFAULT_FIFO_ENTRIES, machine: Machine | None = None,
                         s: Structure | None = None) -> Traffic:
    """Outer product with an on-chip merger (after SpArch).

    * Partial matrices. ``condense=True`` (SpArch's matrix condensing): partial matrix c holds,
      for every row i of A with more than c entries, A_i's c-th entry times the B row it
      selects; there are ``max row length of A`` of them. ``condense=False``: one partial
      matrix per nonempty column k of A (column k of A times row k of B).
    * Merging. A ``ways``-way merger merges up to ``ways`` partial matrices at once, streaming
      in row-major order, adding entries that meet. With at most ``ways`` partial matrices C
      comes out of one merge and nothing spills. With more, the merges form a ``ways``-ary
      Huffman tree (SpArch's scheduler; weights = spilled bytes, padded with empty leaves so
      every merge but the first is full): every merge result except the last is written to
      DRAM as fragments and read back once by its parent merge. Partial matrices themselves
      are produced on the fly and never stored. Sizes of merged results are exact (entries
      that meet are counted once).
    * A is read once (CSR when condensed, CSC otherwise); C is written once.
    * B, condensed: the merger consumes its partial matrices row by row, so merge node by merge
      node (in schedule order), for i ascending, for each of its partial matrices c, row
      ``A_i[c]`` of B is fetched (8 + 8 len bytes) through an LRU row buffer of
      ``row_buffer_bytes`` (SpArch's row prefetcher; simulated exactly). Not condensed: each B
      row is fetched once and held for its merge (on chip: the largest sum of B rows in one
      merge).
    * On chip: the merger's FIFOs (``ways * fifo_entries * 8`` bytes) plus the row buffer.
    * Work: the partial products.
    """
    s = _structure(A, B, s)
    machine = _machine(machine)
    if not isinstance(ways, int) or ways < 2:
        raise ValueError(f"outer_product_merger: ways={ways!r} must be an integer >= 2")
    if row_buffer_bytes is None or row_buffer_bytes < 0:
        raise ValueError(f"outer_product_merger: row_buffer_bytes={row_buffer_bytes!r} must be >= 0")
    n = B.cols
    b_len = B.row_lengths()
    a_rows = A.row_ids()
    a_slot = np.arange(A.nnz, dtype=np.int64) - A.indptr[a_rows]       # position within its row
    if condense:
        entry_leaf = a_slot
        leaves = int(A.row_lengths().max(initial=0))
    else:
        used = np.unique(A.indices)
        entry_leaf = np.searchsorted(used, A.indices)
        leaves = int(used.size)
    # keys (i * N + j) of every leaf, sorted within the leaf
    prod_leaf = entry_leaf[s.prod_a_pos]
    keys = s.prod_rows * max(n, 1) + s.prod_cols
    order = np.lexsort((keys, prod_leaf))
    keys_sorted, leaf_sorted = keys[order], prod_leaf[order]
    bounds = np.searchsorted(leaf_sorted, np.arange(leaves + 1))
    leaf_keys = [keys_sorted[bounds[c]:bounds[c + 1]] for c in range(leaves)]

    # the merge schedule: a list of (direct leaf children) per merge, in execution order
    merges: list[list[int]] = []
    spilled = 0
    if leaves <= ways:
        merges.append(list(range(leaves)))
    else:
        heap = [(_spill_bytes(k, n), c, ("leaf", c), k) for c, k in enumerate(leaf_keys)]
        pad = (ways - 1 - (leaves - 1) % (ways - 1)) % (ways - 1)
        heap += [(0, leaves + p, ("pad", p), np.zeros(0, np.int64)) for p in range(pad)]
        heapq.heapify(heap)
        tiebreak = leaves + pad
        while True:
            group = [heapq.heappop(heap) for _ in range(min(ways, len(heap)))]
            merged = np.unique(np.concatenate([g[3] for g in group]))
            merges.append(sorted(g[2][1] for g in group if g[2][0] == "leaf"))
            if not heap:
                break
            weight = _spill_bytes(merged, n)
            spilled += weight
            heapq.heappush(heap, (weight, tiebreak, ("node", tiebreak), merged))
            tiebreak += 1

    # B traffic
    rowbuf_needed = 0
    if condense:
        leaf_of_merge = np.full(max(leaves, 1), -1, dtype=np.int64)
        for m_id, group in enumerate(merges):
            leaf_of_merge[group] = m_id
        merge_of_entry = leaf_of_merge[entry_leaf] if A.nnz else np.zeros(0, np.int64)
        seq_order = np.lexsort((a_slot, a_rows, merge_of_entry))
        read_b, misses, _ = lru_traffic(A.indices[seq_order], row_fetch_bytes(b_len), row_buffer_bytes)
        rowbuf = row_buffer_bytes
        read_a = matrix_bytes(A.rows, A.nnz)
    else:
        read_b = int(row_fetch_bytes(b_len[used]).sum()) if leaves else 0
        misses = leaves
        for group in merges:
            rowbuf_needed = max(rowbuf_needed, ENTRY_BYTES * int(b_len[used[group]].sum()) if group else 0)
        rowbuf = rowbuf_needed
        read_a = matrix_bytes(A.cols, A.nnz)
    rounds = len(merges)
    onchip = ways * fifo_entries * ENTRY_BYTES + rowbuf
    notes = (f"{leaves} partial matrices, {rounds} merge{'s' * (rounds != 1)}"
             + (f", {spilled} B of merged partials spilled" if spilled else ", nothing spilled")
             + f"; {misses} B row fetches")
    return Traffic("outer_merger", read_a, read_b, spilled, spilled, matrix_bytes(A.rows, s.nnz_c),
                   onchip, s.flops, "partial products", machine, notes,
                   {"partial_matrices": leaves, "merges": rounds, "b_fetches": misses,
                    "condense": condense, "ways": ways, "flops": s.flops})


# -- row-wise (Gustavson) ---------------------------------------------------------------------------

def row_wise(A: Csr, B: Csr, *, cache_bytes: int | None = DEFAULT_CACHE_BYTES,
             table_entries: int | None = DEFAULT_TABLE_ENTRIES, machine: Machine | None = None,
             s: Structure | None = None) -> Traffic:
    """Row-wise product (Gustavson: MatRaptor, Gamma, SMASH's hash engine).

    * A is read once in CSR. For row i, for each A[i, k] in order, B row k is fetched
      (8 + 8 len bytes) unless an LRU cache of whole rows (a FiberCache of ``cache_bytes``;
      None: unlimited, 0: none) holds it; the cache is simulated exactly over the access
      sequence.
    * Partial products are merged on chip in a table of ``table_entries`` entries (8 bytes
      each: column and value; None: as large as the largest row of C). No partial product
      goes to DRAM. A row whose output has more than ``table_entries`` distinct columns is done
      in ``ceil(nnz(C_i) / table_entries)`` passes, each over a range of output columns holding
      at most ``table_entries`` of them; every extra pass re-reads the row of A (8 bytes per
      entry) and fetches its B rows again through the cache (and scans all their products).
    * C is written once.
    * On chip: the table plus the cache (unlimited: the bytes of every distinct B row used).
    * Work: the partial products, times the passes of their row.
    """
    s = _structure(A, B, s)
    machine = _machine(machine)
    if table_entries is not None and (not isinstance(table_entries, int) or table_entries < 1):
        raise ValueError(f"row_wise: table_entries={table_entries!r} must be an integer >= 1 (or None)")
    a_len = A.row_lengths()
    b_len = B.row_lengths()
    if table_entries is None:
        passes = np.ones(A.rows, dtype=np.int64)
        table = int(s.c_row_nnz.max(initial=0))
    else:
        passes = np.maximum(1, -(-s.c_row_nnz // table_entries))
        table = table_entries
    entry_passes = np.repeat(passes, a_len)
    entry_ids = np.repeat(np.arange(A.nnz, dtype=np.int64), entry_passes)
    # order: row by row, each pass over the row's entries in order
    rows_rep = A.row_ids()[entry_ids]
    pass_no = np.arange(entry_ids.size) - np.repeat(np.cumsum(entry_passes) - entry_passes, entry_passes)
    order = np.lexsort((entry_ids, pass_no, rows_rep))
    sequence = A.indices[entry_ids[order]]
    read_b, misses, peak = lru_traffic(sequence, row_fetch_bytes(b_len), cache_bytes)
    extra = passes - 1
    read_a = matrix_bytes(A.rows, A.nnz) + ENTRY_BYTES * int((extra * a_len).sum())
    cache = peak if cache_bytes is None else cache_bytes
    onchip = ENTRY_BYTES * table + cache
    overflow_rows = int((passes > 1).sum())
    work = int((passes * s.row_flops).sum())
    hits = sequence.size - misses
    notes = (f"{misses} B row fetches for {sequence.size} uses ({hits} cache hits)"
             + (f"; {overflow_rows} rows overflow the table ({int(extra.sum())} extra passes)"
                if overflow_rows else ""))
    return Traffic("rowwise", read_a, read_b, 0, 0, matrix_bytes(A.rows, s.nnz_c), onchip, work,
                   "partial products", machine, notes,
                   {"b_fetches": misses, "b_uses": int(sequence.size), "overflow_rows": overflow_rows,
                    "extra_passes": int(extra.sum()), "table_entries": table, "flops": s.flops})


# -- comparison -----------------------------------------------------------------------------------

def compare(A: Csr, B: Csr, *, bandwidth_gbs: float = DEFAULT_BANDWIDTH_GBS,
            clock_mhz: float = DEFAULT_CLOCK_MHZ, multipliers: int = DEFAULT_MULTIPLIERS,
            dataflows=DATAFLOWS, cache_bytes: int = DEFAULT_CACHE_BYTES,
            table_entries: int | None = DEFAULT_TABLE_ENTRIES, merge_ways: int = DEFAULT_MERGE_WAYS,
            condense: bool = True, fifo_entries: int = DEFAULT_FIFO_ENTRIES) -> list[Traffic]:
    """Every dataflow in ``dataflows`` on A x B at one machine point. The same ``cache_bytes``
    is the inner product's B buffer, SpArch's row buffer and the row-wise FiberCache."""
    machine = Machine(float(bandwidth_gbs), float(clock_mhz), multipliers)
    if isinstance(dataflows, str):
        dataflows = DATAFLOWS if dataflows == "all" else (dataflows,)
    for d in dataflows:
        if d not in DATAFLOWS:
            raise ValueError(f"dataflow={d!r} is out of range: allowed all, {', '.join(DATAFLOWS)}")
    if cache_bytes is None or cache_bytes < 0:
        raise ValueError(f"cache_bytes={cache_bytes!r} must be >= 0")
    s = structure(A, B)
    out = []
    for d in dataflows:
        if d == "inner":
            out.append(inner_product(A, B, cache_bytes=cache_bytes, machine=machine, s=s))
        elif d == "outer":
            out.append(outer_product(A, B, machine=machine, s=s))
        elif d == "outer_merger":
            out.append(outer_product_merger(A, B, ways=merge_ways, condense=condense,
                                            row_buffer_bytes=cache_bytes, fifo_entries=fifo_entries,
                                            machine=machine, s=s))
        else:
            out.append(row_wise(A, B, cache_bytes=cache_bytes, table_entries=table_entries,
                                machine=machine, s=s))
    return out


def describe(A: Csr, B: Csr, s: Structure | None = None) -> str:
    """One line: the shapes, nnz, partial products and nnz(C)."""
    s = _structure(A, B, s)
    return (f"A {A.rows} x {A.cols} nnz {A.nnz}; B {B.rows} x {B.cols} nnz {B.nnz}; "
            f"partial products {s.flops}; C nnz {s.nnz_c}")


def _kib(b: int) -> str:
    return f"{b / 1024:.1f} KiB"


def format_table(results: list[Traffic]) -> str:
    """A Markdown table of :func:`compare`'s rows: bytes split by stream, total and ratio to the
    smallest, cycles at the machine point and which bound sets them, and on-chip storage."""
    best = min((r.dram_bytes for r in results), default=0)
    head = ("| dataflow | A read | B read | partials written | partials read | C written | "
            "DRAM bytes | vs best | cycles | bound | on-chip |")
    lines = [head, "|" + "---|" * 11]
    for r in results:
        ratio = f"{r.dram_bytes / best:.2f}x" if best else "-"
        lines.append(f"| {DATAFLOW_NAMES[r.dataflow]} | {r.read_a:,} | {r.read_b:,} | {r.partial_write:,} | "
                     f"{r.partial_read:,} | {r.write_c:,} | {r.dram_bytes:,} | {ratio} | {r.cycles:,} | "
                     f"{r.bound} | {_kib(r.onchip_bytes)} |")
    return "\n".join(lines)


def format_notes(results: list[Traffic]) -> str:
    return "\n".join(f"- {DATAFLOW_NAMES[r.dataflow]}: {r.notes}" for r in results)


# -- hwgen model spgemm ---------------------------------------------------------------------------

CLI_PARAMS = ParamSet(params=(
    Arg("matrix", Path, None, "Matrix Market coordinate file", required=True, metavar="FILE.mtx"),
    Arg("dataflow", str, "all", "the dataflow, or all", choices=(*DATAFLOWS, "all"), metavar="NAME"),
    Arg("bandwidth", float, DEFAULT_BANDWIDTH_GBS, "DRAM GB/s", above=0, max=100_000, metavar="GBS"),
    Arg("clock", float, DEFAULT_CLOCK_MHZ, "clock in MHz", above=0, max=10_000, metavar="MHZ"),
    Arg("values", str, "ones", "values for the matrix; the traffic does not depend on them",
        choices=("ones", "random"), metavar="KIND"),
    Arg("multipliers", int, DEFAULT_MULTIPLIERS, "multipliers", min=1, max=1 << 16, metavar="N"),
    Arg("cache", float, DEFAULT_CACHE_BYTES / 1024, "B buffer / row buffer / FiberCache in KiB, 0 for "
        "none", min=0, max=1 << 20, metavar="KIB"),
    Arg("table", int, DEFAULT_TABLE_ENTRIES, "row-wise accumulator entries", min=1, max=1 << 24, metavar="N"),
    Arg("ways", int, DEFAULT_MERGE_WAYS, "SpArch merger ways", min=2, max=1 << 16, metavar="N"),
    Arg("json", bool, False, "print every row as JSON"),
))


def run_cli(v) -> str:
    """``hwgen model spgemm``: C = A x A (A x A^T if A is not square) for a Matrix Market file."""
    a = read_mtx(v["matrix"], values=v["values"], value_type="int32")
    square = a.rows == a.cols
    b = a if square else a.transpose()
    results = compare(a, b, bandwidth_gbs=v["bandwidth"], clock_mhz=v["clock"],
                      multipliers=v["multipliers"], dataflows=v["dataflow"],
                      cache_bytes=int(round(v["cache"] * 1024)), table_entries=v["table"],
                      merge_ways=v["ways"])
    if v["json"]:
        return json.dumps([r.as_dict() for r in results], indent=2)
    return "\n".join([
        f"{v['matrix'].name}: C = A x {'A' if square else 'A^T'}; {describe(a, b)}", "",
        format_table(results), "",
        format_notes(results),
        f"assumptions: index, value and pointer 4 bytes each; {v['bandwidth']:g} GB/s at "
        f"{v['clock']:g} MHz ({results[0].machine.bytes_per_cycle:g} B/cycle), {v['multipliers']} "
        f"multipliers; cycles = max(bytes / bandwidth, work / multipliers); B buffer / row buffer / "
        f"FiberCache {v['cache']:g} KiB, row-wise table {v['table']} entries, SpArch merger "
        f"{v['ways']} ways; see hwgen/blocks/spgemm/traffic.py"])


register(SystemModel(
    "spgemm", "SpGEMM DRAM traffic: inner, outer, outer+merger, row-wise",
    "DRAM traffic, cycles and on-chip storage of four SpGEMM dataflows (inner product, "
    "OuterSPACE outer product, SpArch outer product with a merger, row-wise Gustavson) for "
    "C = A x A (A x A^T when A is not square), computed exactly from the sparsity of a Matrix "
    "Market file. See hwgen/blocks/spgemm/traffic.py.",
    CLI_PARAMS, run_cli))
