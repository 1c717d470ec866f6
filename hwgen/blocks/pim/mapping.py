"""Where a weight matrix lives in PIM memory: the PIM-GPT mapping.

**In one channel.** Matrix row ``r`` goes to bank ``r % banks`` as that bank's slot
``r // banks``, so the banks work on ``banks`` consecutive rows at once, all reading the same
column of the same DRAM row (one MAC_ABK serves all banks). A slot is ``beats =
ceil(cols / lanes)`` column accesses; slots are laid end to end in a bank's DRAM rows, a matrix
row continuing into the next DRAM row when it does not fit in what is left of one. So DRAM rows
are filled completely and every ACT is followed by ``row_columns`` MAC_ABKs (except at the end),
which is what gives PIM-GPT its high row-hit rate. The vector slice for beat ``c`` sits in
global-buffer column ``c``.

**Across channels** (``split_gemv``): the matrix rows are dealt out to channels in contiguous
blocks, so each channel computes a contiguous part of ``y``; a matrix wider than the global
buffer is cut into column tiles whose partial sums the ASIC adds afterwards.

**Attention** (``attention_layout``): K is stored row-major (one token's key per matrix row,
all heads side by side, so a DRAM row holds whole tokens and appending a token writes one row
slot); V is stored column-major (V^T: one matrix row per feature, tokens along the row), so the
score-times-V product is again a GEMV over rows of the stored matrix. Heads are concatenated
along the row to fill DRAM rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelLayout:
    """The geometry the mapping needs from a channel."""

    banks: int
    lanes: int
    row_columns: int   # column accesses per DRAM row
    bank_rows: int     # DRAM rows per bank the channel models
    gb_columns: int    # global-buffer capacity in column accesses


def beats_per_row(cols: int, lanes: int) -> int:
    return max(1, math.ceil(cols / lanes))


def slots(rows: int, banks: int) -> int:
    return math.ceil(rows / banks)


def column_address(slot: int, beat: int, beats: int, row_columns: int, base_row: int = 0) -> tuple[int, int]:
    """(DRAM row, column) of ``beat`` of ``slot`` in every bank."""
    linear = slot * beats + beat
    return base_row + linear // row_columns, linear % row_columns


def dram_rows_used(rows: int, cols: int, layout: ChannelLayout) -> int:
    beats = beats_per_row(cols, layout.lanes)
    return math.ceil(slots(rows, layout.banks) * beats / layout.row_columns)


def check_fits(rows: int, cols: int, layout: ChannelLayout, base_row: int = 0) -> str | None:
    """Why a rows x cols matrix does not fit the channel, or None."""
    beats = beats_per_row(cols, layout.lanes)
    if rows < 1 or cols < 1:
        return f"a {rows} x {cols} matrix is empty: rows and cols must be at least 1"
    if beats > layout.gb_columns:
        return (f"cols={cols} needs {beats} global-buffer columns of {layout.lanes} elements: the "
                f"buffer holds {layout.gb_columns} (at most {layout.gb_columns * layout.lanes} cols; "
                f"split wider matrices with split_gemv)")
    used = dram_rows_used(rows, cols, layout)
    if base_row + used > layout.bank_rows:
        return (f"a {rows} x {cols} matrix needs DRAM rows {base_row}..{base_row + used - 1} of each "
                f"bank: the channel models {layout.bank_rows} rows per bank")
    return None


def row_hit_rate(rows: int, cols: int, layout: ChannelLayout) -> float:
    """Fraction of column accesses (MAC_ABK, counted once per bank) that find their row open,
    for one GEMV from all-banks-precharged: every DRAM row used costs one ACT per bank."""
    accesses = slots(rows, layout.banks) * beats_per_row(cols, layout.lanes)
    return 1 - dram_rows_used(rows, cols, layout) / accesses


@dataclass(frozen=True)
class GemvPart:
    channel: int
    row_start: int
    rows: int
    col_start: int
    cols: int


def split_gemv(rows: int, cols: int, channels: int, layout: ChannelLayout) -> list[GemvPart]:
    """Cut a rows x cols GEMV into per-channel parts: contiguous row blocks (as equal as
    possible) and column tiles no wider than the global buffer."""
    tile = layout.gb_columns * layout.lanes
    parts = []
    base, extra = divmod(rows, channels)
    start = 0
    for channel in range(channels):
        count = base + (channel < extra)
        if count:
            for col_start in range(0, cols, tile):
                parts.append(GemvPart(channel, start, count, col_start, min(tile, cols - col_start)))
        start += count
    return parts


@dataclass(frozen=True)
class AttentionLayout:
    """Attention GEMVs of one layer for one head group at context length ``context``: the K
    GEMV (scores, rows = tokens, cols = head width, heads concatenated) and the V GEMV
    (rows = features, cols = tokens)."""

    k_rows: int
    k_cols: int
    v_rows: int
    v_cols: int


def attention_layout(d_model: int, heads: int, context: int) -> AttentionLayout:
    """With heads concatenated, the per-token key row is d_model wide: a K GEMV over
    ``context`` rows of ``d_model`` columns computes every head's q.k partial products, the
    per-head sums being separate accumulations (each head's d_model/heads columns); the V GEMV
    (V stored column-major) runs over d_model feature rows of ``context`` tokens each."""
    return AttentionLayout(k_rows=context, k_cols=d_model, v_rows=d_model, v_cols=context)
