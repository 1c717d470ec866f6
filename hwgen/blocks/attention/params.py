"""Parameters of ``attention_engine`` and the geometry they imply (flash pages, beats, ids)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ...core.ints import value_bits
from ...core.params import Param, ParamSet

DTYPES = ("fp16", "bf16")
SOFTMAX_KINDS = ("two_pass", "online")
MODES = ("dense", "sparf")
POWERS_OF_TWO = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PAGE_TOKENS = 16          # token rows per flash page (InstInfer: 4 KB = 16 x 128 fp16)
SCORE_FIFO_DEPTH = 32     # online softmax: scores between the K GeMV and the V GeMV
# Page kinds: bit 0 clear = side A (the K GeMV), set = side B (the V GeMV).
KIND_K, KIND_V, KIND_CM, KIND_MEAN = 0, 1, 2, 3
# Fmax of the engine at its defaults on ECP5-85k, nextpnr seed 1 (hwgen synth attention_engine
# --target ecp5 --device 85k; docs/attention.md, Synthesis): the system model's default clock
MEASURED_FMAX_MHZ = 75.3


def _rules(p):
    if p["lanes"] > p["head_dim"]:
        return f"lanes={p['lanes']} exceeds head_dim={p['head_dim']}: allowed 2..{p['head_dim']}"
    # top_r and top_k size SparF's selection; a dense engine has none, so any value builds it
    if p["mode"] != "sparf":
        return None
    if p["top_r"] > p["head_dim"]:
        return f"top_r={p['top_r']} exceeds head_dim={p['head_dim']}: allowed 1..{p['head_dim']}"
    if p["top_k"] > p["max_seq_len"]:
        return f"top_k={p['top_k']} exceeds max_seq_len={p['max_seq_len']}: allowed 1..{p['max_seq_len']}"
    return None


PARAMS = ParamSet(
    params=(
        Param("head_dim", int, 128, "elements per head (q, k and v rows)",
              choices=(8, 16, 32, 64, 128, 256)),
        Param("max_seq_len", int, 2048, "longest KV cache the engine holds scores for "
              "(whole flash pages of 16 tokens)", min=16, max=8192, step=PAGE_TOKENS),
        Param("dtype", str, "fp16", "element format of q, K, V and o", choices=DTYPES),
        Param("softmax", str, "two_pass", "two_pass (the paper: scores buffered, then max, exp, "
              "sum, normalize) or online (running max and rescale: K and V in one pass, no "
              "score buffer)", choices=SOFTMAX_KINDS),
        Param("mode", str, "dense", "dense attention or SparF (top-r channels, top-k tokens)",
              choices=MODES),
        Param("top_r", int, 32, "SparF: channels of |q| used for the approximate scores (unset, "
              "32 or head_dim when that is less)", min=1, max=256, depends_on=("head_dim",),
              follows=lambda p: min(32, p["head_dim"])),
        Param("top_k", int, 64, "SparF: tokens kept for exact attention (unset, 64 or "
              "max_seq_len when that is less)", min=1, max=256, depends_on=("max_seq_len",),
              follows=lambda p: min(64, p["max_seq_len"])),
        Param("heads", int, 1, "heads whose KV caches the engine serves, query i against head "
              "i mod heads; dense: the next query's pages are read while the current one computes",
              min=1, max=64),
        Param("flash_channels", int, 4, "flash channels the pages are striped over (a power of two)",
              choices=(1, 2, 4, 8, 16)),
        Param("lanes", int, 8, "multipliers of the score GeMV and of the V GeMV; one flash beat "
              "carries lanes elements", choices=(2, 4, 8, 16, 32, 64), depends_on=("head_dim",)),
        Param("flash_queue", int, 16, "page reads outstanding per flash channel", min=1, max=64),
        Param("flash_latency", int, 5700, "flash page-read latency in cycles (default 20 us at "
              "285 MHz)", min=1, max=10_000_000),
        Param("flash_mbps", int, 1400, "bandwidth of one flash channel in MB/s", min=1, max=100_000),
        Param("clock_mhz", int, 285, "engine clock in MHz (the flash model's time base)",
              min=1, max=2000),
    ),
    rules=(_rules,),
)


@dataclass(frozen=True)
class Geometry:
    """Sizes that follow from the parameters. Page ids (``docs/attention.md``, Flash layout),
    within a head: token-major K page j -> j; V page j -> P + j; the V-mean page -> 2P;
    channel-major K page (channel c, block b) -> 2P + 1 + c * CB + b. Head h's pages have
    ``h`` above those bits (``head_page``)."""

    head_dim: int
    lanes: int
    max_seq_len: int
    flash_channels: int
    heads: int = 1

    @property
    def beats_per_row(self) -> int:           # B: flash beats per token row
        return self.head_dim // self.lanes

    @property
    def page_beats(self) -> int:
        return PAGE_TOKENS * self.head_dim // self.lanes

    @property
    def token_pages(self) -> int:             # P
        return self.max_seq_len // PAGE_TOKENS

    @property
    def cm_tokens(self) -> int:               # tokens of one channel in a channel-major page
        return PAGE_TOKENS * self.head_dim

    @property
    def cm_blocks(self) -> int:               # CB
        return -(-self.max_seq_len // self.cm_tokens)

    @property
    def page_ids(self) -> int:
        return 2 * self.token_pages + 1 + self.head_dim * self.cm_blocks

    @property
    def local_id_bits(self) -> int:          # a page id within its head
        return value_bits(self.page_ids - 1)

    @property
    def head_bits(self) -> int:
        return (self.heads - 1).bit_length()

    @property
    def page_id_bits(self) -> int:
        return self.local_id_bits + self.head_bits

    def head_page(self, head: int, local: int) -> int:
        return head << self.local_id_bits | local

    @property
    def seq_bits(self) -> int:
        return value_bits(self.max_seq_len)

    @property
    def token_bits(self) -> int:
        return value_bits(self.max_seq_len - 1)

    @property
    def score_words(self) -> int:             # score memory words of `lanes` fp32 scores
        return -(-self.max_seq_len // self.lanes)

    def k_page(self, j: int) -> int:
        return j

    def v_page(self, j: int) -> int:
        return self.token_pages + j

    def mean_page(self) -> int:
        return 2 * self.token_pages

    def cm_page(self, channel: int, block: int) -> int:
        return 2 * self.token_pages + 1 + channel * self.cm_blocks + block

    def token_channel(self, j: int) -> int:
        return j % self.flash_channels

    def mean_channel(self) -> int:
        return self.token_pages % self.flash_channels

    def cm_channel(self, channel: int, block: int) -> int:
        return (channel * self.cm_blocks + block) % self.flash_channels


def geometry(p) -> Geometry:
    return Geometry(p.head_dim, p.lanes, p.max_seq_len, p.flash_channels, p.heads)


def beat_cycles(p) -> Fraction:
    """Cycles one flash beat (lanes 2-byte elements) occupies a channel's bus."""
    return Fraction(2 * p.lanes * p.clock_mhz, p.flash_mbps)
