"""Host traffic of the oblivious map and of Path ORAM, and a U55C-like latency estimate
(issue 7, item 7; docs/omap.md, "Performance model").

Everything here is analytic: bytes that cross the untrusted host link per query, counted the
way the recorded traces count them (``tests/blocks/omap/test_bandwidth.py`` checks both against
traces: the map's ``Reference`` and ``PathOram``).

Conventions (the same for both designs, so the comparison is fair)
----------------------------------------------------------------------
* **Encryption.** Every element stored in host memory is encrypted on its own in AES-CTR: its
  plaintext is rounded up to whole 16-byte AES blocks, and it carries an 8-byte nonce (the
  map stores a page write's 64-bit nonce beside every slot's ciphertext; Path ORAM gets one
  8-byte nonce per block). So an element of ``p`` plaintext bytes moves
  ``16 * ceil(p / 16) + 8`` bytes.
* **The map's slot** holds a valid bit, the key and the value: ``1 + 8 key_bytes +
  8 value_bytes`` bits. In every configuration the controller builds (key_width +
  value_width <= 127) that is one AES block, so a slot moves 16 + 8 = 24 bytes, the RTL's
  192-bit host word. The default key is 7 bytes: with 8-byte values the controller takes keys
  of up to 63 bits, and a 64-bit key plus the valid bit would need a second AES block
  (40-byte slots; ``omap_bytes_per_query(key_bytes=8)`` gives that figure).
* **A Path ORAM data block** holds the value and 8 bytes of metadata (a 32-bit block id and
  a 32-bit leaf label, enough for N <= 2^32). It holds no key: plain Path ORAM is an array,
  not a map, and leaving the key out favours Path ORAM. A **position-map block** holds
  ``pack`` leaf labels of the tree below it, each ``ceil(levels / 8)`` bytes, plus the same
  8 bytes of metadata. Every bucket holds Z blocks, real or dummy, all moved.

The map: bytes per query
------------------------
Every query (GET, PUT, DELETE; hit or miss) reads one page, then reads a second page and
writes it back: ``3 * slots`` slot transfers of 24 bytes, 576 bytes at 8 slots. Nothing in it
depends on N: the number of pages grows with N, but a query always moves three pages, and a
page index is an address, not payload. (BOLT's O(log log N) term is in how full a page may
get, not in the bytes: the page size stays fixed and load above it waits in the queue or in
HBM, which ``bench/omap_occupancy.py`` measures.) The overhead is bytes / value bytes:
576 / 8 = 72.

Path ORAM: bytes per access
---------------------------
For each tree of the recursion (the data tree of N blocks, then position-map trees of
ceil(N / pack^i) blocks, down to and including the first with at most ``on_chip`` blocks,
whose own position map stays on chip; ``PathOram`` builds the same trees) one access reads
and writes back one path of ``levels + 1`` buckets of Z blocks, ``levels = ceil(log2
blocks)``::

    bytes = sum over trees t of 2 (levels_t + 1) Z block_bytes_t

A Path-ORAM-based map needs more than one access per query (an oblivious AVL tree does
O(log N) of them); one access is the lower bound for any map built on Path ORAM, and it is
what is reported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AES_BLOCK_BYTES = 16
NONCE_BYTES = 8                 # the map's 64-bit page-write nonce, stored beside every slot
ORAM_METADATA_BYTES = 8         # 32-bit block id + 32-bit leaf label per Path ORAM block
VALID_BITS = 1                  # the map's slot valid flag

# a U55C-like platform
HBM_BYTES_PER_S = 460e9
PCIE_RAW_BYTES_PER_S = 15.75e9  # PCIe Gen3 x16, 128b/130b
PCIE_BYTES_PER_S = 12.5e9       # usable after TLP headers and flow control (assumed)
HOST_ROUND_TRIP_S = 1e-6        # one dependent host read, request to data (assumed)
CLOCK_HZ = 300e6

# measured figures quoted in issue 7 (BOLT, Guo et al., CCS 2025): microseconds per query
MEASURED_BASELINES = (
    ("BOLT on a U55C (measured by its authors)", 1 << 20, 4.6),
    ("Rust Path ORAM (measured by BOLT's authors)", 1 << 20, 461.0),
    ("oblivious AVL tree on Path ORAM (measured by BOLT's authors)", 1 << 18, 2282.0),
    ("hierarchical ORAM hash map (measured by BOLT's authors)", 1 << 20, 192.0),
)


def encrypted_bytes(plaintext_bytes: float) -> int:
    """Bytes one encrypted element moves: whole AES blocks plus an 8-byte nonce."""
    return AES_BLOCK_BYTES * math.ceil(plaintext_bytes / AES_BLOCK_BYTES) + NONCE_BYTES


def omap_slot_bytes(key_bytes: int = 7, value_bytes: int = 8) -> int:
    """Bytes one host slot of the map moves: valid bit, key and value, encrypted."""
    return encrypted_bytes((VALID_BITS + 8 * key_bytes + 8 * value_bytes) / 8)


def omap_bytes_per_query(capacity: int, slots: int = 8, value_bytes: int = 8,
                         key_bytes: int = 7) -> dict:
    """The map's host bytes per query and its overhead (bytes / value bytes).

    ``capacity`` is accepted for symmetry and does not enter: a query moves three pages
    whatever N is. Returns ``bytes``, ``overhead``, ``slot_bytes``, ``requests`` (slot
    transfers per query: 3 slots) and ``one_block`` (the slot fits one AES block, as in every
    configuration the controller builds).
    """
    if capacity < 1 or slots < 1 or value_bytes < 1 or key_bytes < 1:
        raise ValueError("capacity, slots, value_bytes and key_bytes must be >= 1")
    slot = omap_slot_bytes(key_bytes, value_bytes)
    requests = 3 * slots
    total = requests * slot
    return {"bytes": total, "overhead": total / value_bytes, "slot_bytes": slot,
            "requests": requests,
            "one_block": VALID_BITS + 8 * (key_bytes + value_bytes) <= 8 * AES_BLOCK_BYTES}


def _levels(blocks: int) -> int:
    """Tree height as ``PathOram`` builds it: 2^levels leaves, at least 2."""
    return max(1, math.ceil(math.log2(max(2, blocks))))


@dataclass(frozen=True)
class OramTree:
    blocks: int
    levels: int
    block_bytes: int      # on the wire, encrypted

    @property
    def path_buckets(self) -> int:
        return self.levels + 1


def path_oram_trees(capacity: int, value_bytes: int = 8, pack: int = 8, on_chip: int = 64,
                    block_bytes: int | None = None) -> list[OramTree]:
    """The recursion's trees, data tree first, with the bytes a block of each moves.

    ``block_bytes``, when given, is the on-the-wire size of every block of every tree (an
    ORAM with one block size throughout); otherwise the sizes follow the module's
    conventions.
    """
    if capacity < 1 or pack < 2 or on_chip < 1 or value_bytes < 1:
        raise ValueError("capacity >= 1, value_bytes >= 1, pack >= 2 and on_chip >= 1 required")
    counts = [capacity]
    while counts[-1] > on_chip:
        counts.append(-(-counts[-1] // pack))
    trees = []
    for i, count in enumerate(counts):
        if block_bytes is not None:
            size = block_bytes
        elif i == 0:
            size = encrypted_bytes(value_bytes + ORAM_METADATA_BYTES)
        else:
            label_bytes = math.ceil(_levels(counts[i - 1]) / 8)
            size = encrypted_bytes(pack * label_bytes + ORAM_METADATA_BYTES)
        trees.append(OramTree(count, _levels(count), size))
    return trees


def path_oram_bytes_per_access(capacity: int, value_bytes: int = 8, z: int = 4, pack: int = 8,
                               on_chip: int = 64, block_bytes: int | None = None) -> dict:
    """Path ORAM's host bytes for one access (read and write back one path in every tree).

    Returns ``bytes``, ``overhead`` (bytes / value bytes), ``read_bytes``, ``trees`` (the
    number of trees: dependent host round trips, since each tree's leaf comes from the tree
    above), ``buckets`` (bucket transfers, reads plus writes) and ``per_tree`` (blocks,
    levels, block bytes, bytes).
    """
    trees = path_oram_trees(capacity, value_bytes, pack, on_chip, block_bytes)
    per_tree = [(t.blocks, t.levels, t.block_bytes, 2 * t.path_buckets * z * t.block_bytes)
                for t in trees]
    total = sum(row[3] for row in per_tree)
    return {"bytes": total, "overhead": total / value_bytes, "read_bytes": total // 2,
            "trees": len(trees), "buckets": sum(2 * t.path_buckets for t in trees),
            "per_tree": per_tree}


def overhead_table(ns=range(10, 31, 2), value_bytes: int = 8, key_bytes: int = 7,
                   slots: int = 8, z: int = 4, pack: int = 8, on_chip: int = 64) -> list[dict]:
    """One row per N = 2^n: the map's and Path ORAM's bytes and overheads, and their ratio
    (Path ORAM bytes / map bytes)."""
    rows = []
    for n in ns:
        capacity = 1 << n
        omap = omap_bytes_per_query(capacity, slots, value_bytes, key_bytes)
        oram = path_oram_bytes_per_access(capacity, value_bytes, z, pack, on_chip)
        rows.append({"log2_n": n, "n": capacity, "omap_bytes": omap["bytes"],
                     "oram_bytes": oram["bytes"], "omap_overhead": omap["overhead"],
                     "oram_overhead": oram["overhead"], "ratio": oram["bytes"] / omap["bytes"],
                     "oram_trees": oram["trees"]})
    return rows


def markdown_table(rows: list[dict]) -> str:
    lines = [("| N | map bytes/query | Path ORAM bytes/access | map overhead | "
             "Path ORAM overhead | Path ORAM / map |"),
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| 2^{r['log2_n']} | {r['omap_bytes']} | {r['oram_bytes']:,} | "
                     f"{r['omap_overhead']:.0f} | {r['oram_overhead']:,.0f} | {r['ratio']:.1f}x |")
    return "\n".join(lines)


def _controller_params(capacity: int, slots: int, key_bytes: int, value_bytes: int,
                       hbm_latency: int, host_latency: int) -> dict:
    from .params import PARAMS

    values = {p.name: p.default for p in PARAMS}
    values.update(capacity=capacity, slots=slots, hbm_latency=hbm_latency,
                  host_latency=host_latency, key_width=min(64, 8 * key_bytes),
                  value_width=min(64, 8 * value_bytes))
    return values


def u55c_latency(capacity: int, slots: int = 8, value_bytes: int = 8, key_bytes: int = 7,
                 hbm_latency: int = 60, host_round_trip_s: float = HOST_ROUND_TRIP_S,
                 clock_hz: float = CLOCK_HZ, link_bytes_per_s: float = PCIE_BYTES_PER_S,
                 z: int = 4, pack: int = 8, on_chip: int = 64) -> dict:
    """Estimated query latency of the map and of one Path ORAM access on a U55C-like card.

    The map: ``model.schedule`` with ``host_latency`` = the round trip in cycles (1 us at
    300 MHz = 300 cycles) and ``hbm_latency`` cycles (30 to 100 is HBM's range at 300 MHz;
    default 60). The schedule is the controller's dependency chain: position-map lookup,
    first page read (one round trip, then one AES decryption per slot), answer, placement,
    flush page read (a second round trip), write-back; the link time of 3 x 192 bytes
    (46 ns at 12.5 GB/s) hides under the per-slot AES work. ``response_us``: request
    accepted to answer; ``period_us``: one query to the next (the whole chain, which also
    bounds throughput, one query at a time).

    Path ORAM: each tree's path read waits for the leaf from the tree above (the top tree's
    leaf is on chip), so ``trees`` dependent round trips, plus all the bytes read and written
    over the link: ``trees * round_trip + bytes / link``. Decryption and stash work are left
    out (pipelined hardware would hide them), so this is a lower bound for hardware Path
    ORAM at one access per query.

    HBM bandwidth (460 GB/s) does not limit either: the map makes a few tens of HBM accesses
    per query, each one latency-bound.
    """
    from .model import schedule

    host_latency = max(1, round(host_round_trip_s * clock_hz))
    params = _controller_params(capacity, slots, key_bytes, value_bytes, hbm_latency,
                                host_latency)
    s = schedule(params)
    omap = omap_bytes_per_query(capacity, slots, value_bytes, key_bytes)
    oram = path_oram_bytes_per_access(capacity, value_bytes, z, pack, on_chip)
    oram_s = oram["trees"] * host_round_trip_s + oram["bytes"] / link_bytes_per_s
    return {
        "capacity": capacity, "clock_mhz": clock_hz / 1e6, "hbm_latency": hbm_latency,
        "host_latency": host_latency,
        "omap_response_cycles": s["response"], "omap_query_cycles": s["query"],
        "omap_response_us": s["response"] / clock_hz * 1e6,
        "omap_period_us": s["query"] / clock_hz * 1e6,
        "omap_link_us": omap["bytes"] / link_bytes_per_s * 1e6,
        "oram_trees": oram["trees"], "oram_bytes": oram["bytes"],
        "oram_link_us": oram["bytes"] / link_bytes_per_s * 1e6,
        "oram_round_trips_us": oram["trees"] * host_round_trip_s * 1e6,
        "oram_access_us": oram_s * 1e6,
    }
