"""The flash-resident KV cache of a head: which page holds what, and on which channel.

A page is 16 token rows of ``head_dim`` elements (InstInfer: 4 KB = 16 x 128 fp16). K is
stored twice: token-major (one page per 16 tokens, for exact scores) and channel-major (one
page per channel and block of ``16 * head_dim`` tokens, for SparF's approximate scores over a
few channels); V token-major; and one page holds the V mean that the KV-append path keeps for
SparF. Pages are striped over the flash channels (``Geometry`` gives ids and channels). Rows past
``seq_len`` are zero padding: the engine's per-channel filter drops them.
"""

from __future__ import annotations

import numpy as np

from .params import PAGE_TOKENS, Geometry


def _beats(rows: np.ndarray, lanes: int) -> np.ndarray:
    """A page's elements (row-major) as flash beats of ``lanes`` elements."""
    return np.ascontiguousarray(rows, dtype=np.uint64).reshape(-1, lanes)


def flash_pages(geo: Geometry, K: np.ndarray, V: np.ndarray, v_mean: np.ndarray,
                head: int = 0) -> dict[int, dict[int, np.ndarray]]:
    """channel -> {page id -> (page_beats, lanes) element bit patterns} for head ``head``'s
    cache (its page ids ``geo.head_page(head, local id)``)."""
    channels = _head_pages(geo, K, V, v_mean)
    return {c: {geo.head_page(head, local): beats for local, beats in pages.items()}
            for c, pages in channels.items()}


def _head_pages(geo: Geometry, K: np.ndarray, V: np.ndarray, v_mean: np.ndarray) -> dict[int, dict[int, np.ndarray]]:
    seq_len, head_dim = K.shape
    used_pages = -(-seq_len // PAGE_TOKENS)
    padded = used_pages * PAGE_TOKENS
    K_pad = np.zeros((padded, head_dim), dtype=np.uint64)
    V_pad = np.zeros((padded, head_dim), dtype=np.uint64)
    K_pad[:seq_len], V_pad[:seq_len] = K, V
    channels: dict[int, dict[int, np.ndarray]] = {c: {} for c in range(geo.flash_channels)}
    for j in range(used_pages):
        rows = slice(j * PAGE_TOKENS, (j + 1) * PAGE_TOKENS)
        channels[geo.token_channel(j)][geo.k_page(j)] = _beats(K_pad[rows], geo.lanes)
        channels[geo.token_channel(j)][geo.v_page(j)] = _beats(V_pad[rows], geo.lanes)
    mean_page = np.zeros((PAGE_TOKENS, head_dim), dtype=np.uint64)
    mean_page[0] = v_mean
    channels[geo.mean_channel()][geo.mean_page()] = _beats(mean_page, geo.lanes)
    blocks = -(-seq_len // geo.cm_tokens)
    for block in range(blocks):
        column = np.zeros((head_dim, geo.cm_tokens), dtype=np.uint64)
        tokens = slice(block * geo.cm_tokens, min(seq_len, (block + 1) * geo.cm_tokens))
        column[:, :tokens.stop - tokens.start] = K[tokens].T
        for channel in range(head_dim):
            channels[geo.cm_channel(channel, block)][geo.cm_page(channel, block)] = \
                _beats(column[channel], geo.lanes)
    return channels
