"""Cycle and traffic model of ``omap_controller`` (docs/omap.md, "Performance model").

Cycles follow the controller's fixed schedule with memories that accept a request every
cycle and return read data ``latency`` cycles after accepting the request (the bench's RAM
model with no stalls): an HBM read costs 2 + hbm_latency cycles (the request register is set,
the request moves, then the wait), an HBM write 3 (set, moved, noticed), decrypting or encrypting a slot 12 (the AES core's ten rounds, start and finish),
and a page read overlaps its S requests with the decryption of the slots that have arrived.
"""

from __future__ import annotations

from typing import Mapping

from .params import DRBG_BLOCKS_PER_REQUEST, Geometry

AES_SLOT_CYCLES = 12        # start, ten rounds, result taken
HBM_WRITE_CYCLES = 3        # request set, accepted, noticed


def _get(p, name):
    return p[name] if isinstance(p, Mapping) else getattr(p, name)


# The DRBG (drbg.py): its first block can be taken DRBG_FIRST cycles after the seed beat
# moves (instantiate: two AES blocks of Update, then one of output); later blocks
# DRBG_NEXT cycles after the previous one was taken, or DRBG_AFTER_UPDATE after every
# DRBG_BLOCKS_PER_REQUEST-th (Update(0) runs first).
DRBG_FIRST = 37
DRBG_NEXT = 13
DRBG_AFTER_UPDATE = 37
CLEAR_START = 1             # BOOT to the first HBM clear write being offered


def _geometry(params) -> Geometry:
    return Geometry.of(dict(params) if isinstance(params, Mapping) else params.__dict__)


def schedule(params) -> dict[str, int]:
    """Cycles of each part of the schedule (no memory stalls). ``query`` is the time from
    one query's request being accepted to the next's; ``response`` from a request being
    accepted to its response being taken."""
    g = _geometry(params)
    hbm_read = 2 + _get(params, "hbm_latency")
    host_latency = _get(params, "host_latency")
    S, Q = g.slots, g.queue_ways
    read_page = host_latency + AES_SLOT_CYCLES * S      # first data after latency, then 12 per slot
    write_page = (AES_SLOT_CYCLES + 1) * S              # encrypt, then one cycle to write
    lookup = hbm_read + 1                               # bucket read, decide
    unlink = hbm_read + HBM_WRITE_CYCLES
    place = 2 * hbm_read + 1 + hbm_read + HBM_WRITE_CYCLES + HBM_WRITE_CYCLES
    flush_head = hbm_read + 1                           # pending row read, then start
    live = S * (hbm_read + 1)
    move = Q * (hbm_read + HBM_WRITE_CYCLES + 1)
    flush_tail = move + HBM_WRITE_CYCLES + write_page
    accept = 1
    respond = lookup + read_page + 1 + unlink + 1       # accepted to response offered
    return {
        "query": accept + respond + place + flush_head + read_page + live + flush_tail,
        "response": respond + 1,
        "seal_page": flush_head + flush_tail,
        "load_hit": accept + lookup + 1 + HBM_WRITE_CYCLES,
        "load_miss": accept + lookup + 1 + place,
        "load_response": lookup + 2,
        "clear": g.hbm_words,
        "read_page": read_page,
    }


def controller_cycles(params, workload: Mapping[str, object]) -> dict[str, int]:
    """Cycles from the seed beat to the last response, for ``loads`` LOAD requests (of which
    those at the indices in ``load_hits`` find their key already loaded) then ``queries``
    GET / PUT / DELETE requests, with memories and streams that never stall."""

    s = schedule(params)
    g = _geometry(params)
    loads, queries = int(workload["loads"]), int(workload["queries"])
    hits = set(workload.get("load_hits", ()))
    taken = DRBG_FIRST                    # the key block, taken in BOOT
    blocks = 1
    idle_from = taken + CLEAR_START + s["clear"] + 1   # when the controller is next idle
    last_out = 0

    def accept():
        nonlocal taken, blocks
        ready = taken + (DRBG_AFTER_UPDATE if blocks % DRBG_BLOCKS_PER_REQUEST == 0 else DRBG_NEXT)
        taken = max(idle_from, ready)
        blocks += 1
        return taken

    for index in range(loads):
        at = accept()
        last_out = at + s["load_response"]
        idle_from = at + s["load_hit" if index in hits else "load_miss"]
    seal = g.pages * s["seal_page"] if queries else 0
    # the leaky test variant skips the page read (and the slot search after it) of these
    skipped = set(workload.get("skipped_reads", ()))
    for index in range(queries):
        at = accept()
        if index == 0:
            at += seal
        saved = s["read_page"] + 1 if index in skipped else 0
        last_out = at + s["response"] - saved
        idle_from = at + s["query"] - saved
    total = last_out + 1 if loads or queries else 0
    return {**s, "seal": seal, "total": total}


def host_bytes_per_query(params) -> int:
    """Host bytes moved per query: one page read, one page read and written back."""
    g = _geometry(params)
    return 3 * g.slots * g.host_width // 8
