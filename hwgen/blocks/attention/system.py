"""The InstInfer system model: decode tokens/s of a large model with its KV cache in flash,
for a FlexGen-style baseline (the KV cache streamed from SSDs to the GPU every step) and for
in-storage attention (the drives compute decode attention where the KV cache lives, dense or
SparF), on 1 to 16 drives. See docs/attention.md ("System throughput model").

Per decode step (one new token for every sequence of the batch, all layers) the model adds up,
for each resource, the work it must do, and the step takes as long as the busiest resource:
both systems overlap I/O with compute (FlexGen by its zig-zag block schedule, InstInfer by
pipelining micro-batches between GPU and drives), so step time = max of the parts.

* **GPU**: a roofline of the A6000: the weight GEMMs (and, in the baseline, attention) at the
  fp16 tensor peak, or the bytes read from its memory at its bandwidth, whichever is longer.
* **GPU link** (PCIe 4.0 x16): weights that do not fit in GPU memory, streamed from host DRAM
  every step, plus the KV cache (baseline) or q, k, v and o (in-storage).
* **Drive links** (PCIe 4.0 x4 each): the KV cache read and the new k, v written (baseline), or
  q, k, v in and o out (in-storage).
* **In-storage engines**: ``head_cycles`` per head and sequence, heads split across drives,
  each drive's flash channels split among its engines; plus programming the new k, v (and for
  SparF the channel-major K copy) into flash at the channels' bandwidth.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from ...core.params import ParamError, ParamSet
from ...core.system_model import Arg, SystemModel, int_list, register
from .params import MEASURED_FMAX_MHZ, PAGE_TOKENS
from .pipeline import (alpha_stages, cm_stages, online_stages, output_stages, recip_stages, scale_stages,
                       scan_stages, score_stages, sum_latency, topr_stages, v_stages)

FP16_BYTES = 2
CLOCK_MHZ = 285                  # the paper's ZU17EG engine clock (head_cycles' default)
FLASH_MBPS = 1400                # one flash channel (InstInfer's scale-out model)
FLASH_LATENCY_US = 20            # a page read
FLASH_LATENCY = 5700             # page read, cycles: 20 us at 285 MHz
FLASH_QUEUE = 16                 # page reads outstanding per flash channel (the engine's default)
SYSTEMS = ("baseline", "dense", "sparf")
BATCHES = (4, 8, 16, 32, 64, 128, 256)
MAX_BATCH = 4096                # sequences per decode step (the paper runs up to 256)
SEQUENCES = (1024, 2048)
DRIVES = (1, 2, 4, 8, 16)
MAX_SEQ = 4096                   # input = output length (contexts up to 8192)
MAX_DRIVES = 64
LANE_CHOICES = (2, 4, 8, 16, 32, 64)
CHANNEL_CHOICES = (1, 2, 4, 8, 16)


# -- per-head engine time -----------------------------------------------------------------------
def uniform_pages_touched(pages: int, tokens: int) -> float:
    """Expected distinct pages holding ``tokens`` distinct tokens drawn uniformly from
    ``pages`` pages (each token's page independent): P (1 - (1 - 1/P)^k)."""
    return pages * (1 - (1 - 1 / pages) ** tokens)


def pass_times(pages: int, needed_beats: int, *, page_beats: int, flash_channels: int,
               period: Fraction, consumers: int = 1) -> tuple[Fraction, Fraction]:
    """(flash, compute) cycles of one pass over ``pages`` pages striped round robin over the
    channels: the busiest channel moves ceil(pages / F) pages at one beat per ``period``;
    the consumers take one needed beat per cycle each (padding and unselected beats are dropped
    by the filters, off the consumers' path). The pass takes the larger."""
    flash = -(-pages // flash_channels) * page_beats * period
    return flash, Fraction(-(-needed_beats // consumers))


def _pass_cycles(*args, **kwargs) -> Fraction:
    return max(pass_times(*args, **kwargs))


def beat_period(lanes: int, flash_mbps: int = FLASH_MBPS, clock_mhz: int = CLOCK_MHZ) -> Fraction:
    """Cycles between two beats of one flash channel: a beat of ``lanes`` fp16 values takes
    2 * lanes * clock / bandwidth cycles of the bus, and a channel hands over at most one beat
    per cycle."""
    return max(Fraction(1), 2 * lanes * Fraction(str(clock_mhz)) / flash_mbps)


def head_cycles(head_dim: int, seq_len: int, *, lanes: int = 8, flash_channels: int = 4,
                softmax: str = "two_pass", mode: str = "dense", top_r: int = 32, top_k: int = 64,
                flash_latency: int = FLASH_LATENCY, flash_mbps: int = FLASH_MBPS,
                clock_mhz: int | float = CLOCK_MHZ, pages_touched: int | float | None = None,
                flash_queue: int = FLASH_QUEUE, dtype: str = "fp16") -> int:
    """Analytic cycles of one head's decode attention on ``attention_engine`` (fp16 or bf16,
    its pipeline depths from ``pipeline``).

    A pass over a set of pages takes max(flash time, compute time) after the first page's
    ``flash_latency``: a flash beat is ``lanes`` fp16 values and occupies a channel's bus for
    2 * lanes * clock / bandwidth cycles (at least one: one beat per cycle per channel); the
    score GeMV takes one K beat per cycle and the V GeMV one V beat per cycle.

    * two_pass: K pass, the score pipeline's drain, a softmax scan of seq_len cycles with its
      pipeline and sum, the reciprocal, then the V pass. The V pages are requested as soon as
      the last K pages are (``flash_queue`` per channel ahead), so the V pass starts at the
      later of the end of the softmax and the first V page's arrival.
    * online: K and V pages interleaved in one pass, both GeMVs busy at once; then 1/l and a
      pass over the row.
    * SparF first ranks the channels (head_dim cycles and the ranking's pipeline), takes the
      scale, reads the V-mean page and the channel-major K pages of the top_r channels (one
      beat: lanes tokens of one channel), scans the approximate scores for the top-k (seq_len
      cycles), marks them (top_k), sums the approximate softmax (seq_len); then the exact pass
      reads only ``pages_touched`` K and V pages (default: top_k tokens spread uniformly over
      the pages, see ``uniform_pages_touched``) and computes top_k tokens; then mixes in the
      V mean (a pass over the row).
    * Every query ends with a pass converting the row (``lanes`` values a word) and the
      output cycle.
    """
    if lanes < 1 or lanes & (lanes - 1) or head_dim % lanes:
        raise ParamError(f"lanes={lanes} is out of range: allowed a power of two dividing "
                         f"head_dim={head_dim}")
    if seq_len < 1:
        raise ParamError(f"seq_len={seq_len} is out of range: allowed >= 1")
    if flash_channels < 1:
        raise ParamError(f"flash_channels={flash_channels} is out of range: allowed >= 1")
    if softmax not in ("two_pass", "online"):
        raise ParamError(f"softmax={softmax!r} is out of range: allowed two_pass, online")
    if mode not in ("dense", "sparf"):
        raise ParamError(f"mode={mode!r} is out of range: allowed dense, sparf")
    if dtype not in ("fp16", "bf16"):
        raise ParamError(f"dtype={dtype!r} is out of range: allowed fp16, bf16")
    for name, value in (("flash_mbps", flash_mbps), ("clock_mhz", clock_mhz),
                        ("flash_queue", flash_queue), ("top_r", top_r), ("top_k", top_k)):
        if not value > 0:
            raise ParamError(f"{name}={value} is out of range: allowed >= 1")
    if flash_latency < 0:
        raise ParamError(f"flash_latency={flash_latency} is out of range: allowed >= 0")

    beats_per_row = head_dim // lanes
    page_beats = PAGE_TOKENS * beats_per_row
    period = beat_period(lanes, flash_mbps, clock_mhz)
    pages = -(-seq_len // PAGE_TOKENS)
    score = score_stages(dtype, lanes, head_dim)            # a row's last beat to its score
    v_drain = v_stages(dtype, softmax == "online") + 1       # the V GeMV's pipeline empties
    row_pass = beats_per_row + v_drain                      # NORM or MIX: a word a cycle, then the drain
    recip = recip_stages(dtype) + 1                         # a phase that waits for the reciprocal
    scan = scan_stages(dtype, mode == "sparf")["sum"]
    convert = beats_per_row + output_stages(dtype) + 2      # CONVERT, then the output cycle
    cycles = Fraction(0)

    if mode == "sparf":
        top_r = min(top_r, head_dim)
        tokens = min(top_k, seq_len)
        if pages_touched is None:
            pages_touched = pages if tokens >= seq_len else uniform_pages_touched(pages, tokens)
        if not 1 <= pages_touched <= pages:
            raise ParamError(f"pages_touched={pages_touched} is out of range: allowed 1..{pages}")
        touched = math.ceil(pages_touched)
        cm_blocks = -(-seq_len // (PAGE_TOKENS * head_dim))
        approximate = _pass_cycles(1 + top_r * cm_blocks, beats_per_row + top_r * -(-seq_len // lanes),
                                   page_beats=page_beats, flash_channels=flash_channels,
                                   period=period)
        # TOPR, SCALE1, SCALE2; the channel-major pass and its writes; TOPK, BITMAP, EXPSCAN, ALPHA
        cycles += head_dim + topr_stages(head_dim) + sum_latency(dtype) + recip + scale_stages(dtype)
        cycles += flash_latency + approximate + cm_stages(dtype)["write"]
        cycles += (seq_len + scan) + tokens + (seq_len + scan + sum_latency(dtype)) + recip + alpha_stages(dtype)
        exact_pages, exact_tokens = touched, tokens
    else:
        exact_pages, exact_tokens = pages, seq_len

    kw = dict(page_beats=page_beats, flash_channels=flash_channels, period=period)
    if softmax == "online":
        cycles += flash_latency + _pass_cycles(2 * exact_pages, 2 * exact_tokens * beats_per_row,
                                               consumers=2, **kw)
        cycles += score + online_stages(dtype) + v_drain + recip + row_pass
    else:
        k_pass = _pass_cycles(exact_pages, exact_tokens * beats_per_row, **kw)
        k_end = flash_latency + k_pass
        per_channel = -(-exact_pages // flash_channels)
        # the last K pages (and so the first V pages) are requested flash_queue pages per
        # channel before the K pass ends
        v_request = flash_latency + k_pass * max(0, per_channel - flash_queue) / per_channel
        softmax_end = k_end + score + seq_len + scan + sum_latency(dtype) + recip
        v_start = max(softmax_end, v_request + flash_latency)
        cycles += v_start + _pass_cycles(exact_pages, exact_tokens * beats_per_row, **kw) + v_drain
    if mode == "sparf":
        cycles += row_pass                         # MIX: alpha o + beta vmean
    return math.ceil(cycles + convert)


def heads_cycles(jobs: int, head: int, *, mode: str = "dense", flash_latency: int = FLASH_LATENCY) -> int:
    """``jobs`` heads (or sequences' heads) back to back on one engine, each ``head`` cycles
    alone: dense walks the next head's pages while the current one computes, so only the first
    page latency is exposed; SparF's page lists follow from each head's own scores, so every
    head pays its latencies."""
    if jobs < 1:
        return 0
    if mode == "dense":
        return flash_latency + jobs * (head - flash_latency)
    return jobs * head


# -- model shapes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LlmShape:
    """A decoder-only model's shape. ``gated``: SwiGLU MLP (three d x ffn matrices, Llama),
    else a two-matrix MLP with biases (OPT). ``tied``: the LM head is the token embedding."""

    name: str
    layers: int
    d_model: int
    heads: int
    ffn: int
    vocab: int
    positions: int        # learned position embeddings (0: rotary)
    gated: bool
    tied: bool

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    @property
    def layer_matmul_params(self) -> int:
        d = self.d_model
        return 4 * d * d + (3 if self.gated else 2) * d * self.ffn

    @property
    def parameters(self) -> int:
        d = self.d_model
        if self.gated:
            per_layer = self.layer_matmul_params + 2 * d                       # two RMSNorms
        else:
            per_layer = self.layer_matmul_params + 4 * d + self.ffn + d + 4 * d  # biases, LNs
        embeddings = self.vocab * d * (1 if self.tied else 2) + self.positions * d
        final_norm = d if self.gated else 2 * d
        return self.layers * per_layer + embeddings + final_norm

    @property
    def matmul_flops_per_token(self) -> int:
        """Multiply-adds x 2 of every weight matrix and the LM head, for one token."""
        return 2 * (self.layers * self.layer_matmul_params + self.vocab * self.d_model)


MODELS = {m.name: m for m in (
    # OPT (Zhang et al. 2022, Table 1; HF facebook/opt-13b, opt-30b configs)
    LlmShape("opt-13b", 40, 5120, 40, 20480, 50272, 2050, gated=False, tied=True),
    LlmShape("opt-30b", 48, 7168, 56, 28672, 50272, 2050, gated=False, tied=True),
    # Llama 2 (Touvron et al. 2023; HF meta-llama/Llama-2-13b-hf config)
    LlmShape("llama2-13b", 40, 5120, 40, 13824, 32000, 0, gated=True, tied=False),
)}


# -- the systems ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hardware:
    """GPU, links and drives. Defaults and sources in docs/attention.md."""

    gpu_memory: float = 48e9            # RTX A6000: 48 GB GDDR6 (NVIDIA datasheet)
    gpu_bandwidth: float = 768e9        # 768 GB/s (datasheet)
    gpu_flops: float = 154.8e12         # fp16 tensor, dense (datasheet; 309.7 with sparsity)
    gpu_workspace: float = 2e9          # activations, KV staging buffers, CUDA context
    host_link: float = 28e9             # PCIe 4.0 x16 at the x4 figure's efficiency: 4 x 7 GB/s
    drive_link: float = 7e9             # PCIe 4.0 x4, InstInfer's figure
    flash_channels: int = 8             # per drive (InstInfer's scale-out model)
    engine_channels: int = 4            # per engine (the engine block's default)
    flash_mbps: int = FLASH_MBPS
    flash_latency_us: float = FLASH_LATENCY_US
    # the engine's clock: its measured Fmax at the defaults on ECP5-85k (hwgen synth), or a
    # stated clock (InstInfer's ZU17EG engine: 285 MHz)
    clock_mhz: float = MEASURED_FMAX_MHZ
    lanes: int = 8
    softmax: str = "two_pass"
    top_r: int = 32
    top_k: int = 64

    @property
    def engines(self) -> int:
        return self.flash_channels // self.engine_channels

    @property
    def flash_latency(self) -> int:
        """A page read in engine cycles."""
        return round(self.flash_latency_us * self.clock_mhz)


@dataclass
class StepResult:
    model: str
    system: str
    batch: int
    seq: int              # input = output length
    context: int          # mean context over the output, evaluated here
    drives: int
    step_s: float
    tokens_per_s: float
    bound: str            # the resource that sets the step time
    parts_s: dict         # resource -> seconds of work per step
    drive_bytes: int      # bytes crossing the drive boundary (all drives, both ways) per step
    flash_bytes: int      # bytes read from flash (in-storage) or from the SSDs (baseline) per step
    written_bytes: int    # bytes programmed into flash per step: the new k and v (SparF: and K's channel-major copy)
    weights_streamed: int  # weight bytes streamed over the host link per step
    assumptions: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def mean_context(seq: int) -> int:
    """Prompt ``seq`` tokens, then ``seq`` generated: step i (1..seq) attends over seq + i
    tokens, a mean of seq + (seq + 1) / 2, taken rounded down (1536 and 3072)."""
    return seq + seq // 2


def get_model(model: str | LlmShape) -> LlmShape:
    if isinstance(model, LlmShape):
        return model
    if model not in MODELS:
        raise ParamError(f"model={model!r} is out of range: allowed {', '.join(MODELS)}")
    return MODELS[model]


def _check(name, value, allowed):
    if value not in allowed:
        raise ParamError(f"{name}={value} is out of range: allowed {', '.join(map(str, allowed))}")


def validate(hw: Hardware) -> None:
    _check("lanes", hw.lanes, LANE_CHOICES)
    _check("flash_channels", hw.flash_channels, CHANNEL_CHOICES)
    _check("engine_channels", hw.engine_channels, CHANNEL_CHOICES)
    if hw.engine_channels > hw.flash_channels:
        raise ParamError(f"engine_channels={hw.engine_channels} is out of range: allowed "
                         f"1..flash_channels={hw.flash_channels}")
    _check("softmax", hw.softmax, ("two_pass", "online"))
    for name in ("top_r", "top_k"):
        if not 1 <= getattr(hw, name) <= 256:
            raise ParamError(f"{name}={getattr(hw, name)} is out of range: allowed 1..256")
    for name in ("gpu_memory", "gpu_bandwidth", "gpu_flops", "host_link", "drive_link", "clock_mhz",
                 "flash_latency_us"):
        if not getattr(hw, name) > 0:
            raise ParamError(f"{name}={getattr(hw, name)} is out of range: allowed > 0")


def kv_read_bytes(m: LlmShape, batch: int, context: int) -> int:
    """K and V of every layer, head and sequence, fp16: what the baseline moves each step."""
    return 2 * m.layers * batch * context * m.d_model * FP16_BYTES


def kv_write_bytes(m: LlmShape, batch: int) -> int:
    """The new token's k and v, every layer and sequence."""
    return 2 * m.layers * batch * m.d_model * FP16_BYTES


def qkvo_bytes(m: LlmShape, batch: int) -> int:
    """In-storage: q, k, v to the drives and o back, every layer and sequence."""
    return 4 * m.layers * batch * m.d_model * FP16_BYTES


def decode_step(model: str | LlmShape, system: str, batch: int, seq: int, drives: int = 1,
                hw: Hardware | None = None) -> StepResult:
    """One decode step of ``batch`` sequences at the mean context of a ``seq``/``seq``
    input/output run, on ``system`` with ``drives`` drives."""
    m = get_model(model)
    hw = hw or Hardware()
    validate(hw)
    _check("system", system, SYSTEMS)
    if batch < 1:
        raise ParamError(f"batch={batch} is out of range: allowed >= 1")
    if seq < 1 or seq > MAX_SEQ:
        raise ParamError(f"seq={seq} is out of range: allowed 1..{MAX_SEQ} (contexts up to {2 * MAX_SEQ})")
    if not 1 <= drives <= MAX_DRIVES:
        raise ParamError(f"drives={drives} is out of range: allowed 1..{MAX_DRIVES}")
    context = mean_context(seq)
    weights = m.parameters * FP16_BYTES
    resident = min(weights, max(0.0, hw.gpu_memory - hw.gpu_workspace))
    streamed = int(weights - resident)
    flops = m.matmul_flops_per_token * batch
    gpu_bytes = resident + streamed            # every weight is read once per step

    parts: dict[str, float] = {}
    if system == "baseline":
        kv = kv_read_bytes(m, batch, context)
        new_kv = kv_write_bytes(m, batch)
        flops += 4 * m.layers * batch * context * m.d_model          # q K^T and p V
        gpu_bytes += kv + new_kv
        parts["ssd_links"] = (kv + new_kv) / (drives * hw.drive_link)
        parts["host_link"] = (kv + new_kv + streamed) / hw.host_link
        drive_bytes, flash_bytes, written = kv + new_kv, kv, new_kv
    else:
        mode = system
        heads_per_drive = -(-m.heads // drives)
        head = head_cycles(m.head_dim, context, lanes=hw.lanes, flash_channels=hw.engine_channels,
                           softmax=hw.softmax, mode=mode, top_r=hw.top_r, top_k=hw.top_k,
                           flash_latency=hw.flash_latency, flash_mbps=hw.flash_mbps,
                           clock_mhz=hw.clock_mhz)
        jobs = -(-batch * heads_per_drive // hw.engines)             # heads per engine per layer
        # an engine's heads back to back (dense: only the first page latency exposed)
        engine_s = m.layers * heads_cycles(jobs, head, mode=mode, flash_latency=hw.flash_latency) \
            / (hw.clock_mhz * 1e6)
        # new k, v (and SparF's channel-major K copy) programmed into flash
        copies = 3 if mode == "sparf" else 2
        program = m.layers * batch * heads_per_drive * m.head_dim * FP16_BYTES * copies
        written = m.layers * batch * m.heads * m.head_dim * FP16_BYTES * copies
        parts["engines"] = engine_s + program / (hw.flash_channels * hw.flash_mbps * 1e6)
        traffic = qkvo_bytes(m, batch)
        per_drive = 4 * m.layers * batch * heads_per_drive * m.head_dim * FP16_BYTES
        parts["drive_links"] = per_drive / hw.drive_link
        parts["host_link"] = (traffic + streamed) / hw.host_link
        gpu_bytes += traffic
        drive_bytes = traffic
        flash_bytes = m.layers * batch * m.heads * _head_flash_bytes(m, context, mode, hw)
    parts["gpu"] = max(flops / hw.gpu_flops, gpu_bytes / hw.gpu_bandwidth)
    bound = max(parts, key=parts.get)
    step = parts[bound]
    return StepResult(
        model=m.name, system=system, batch=batch, seq=seq, context=context, drives=drives,
        step_s=step, tokens_per_s=batch / step, bound=bound, parts_s=parts,
        drive_bytes=int(drive_bytes), flash_bytes=int(flash_bytes), written_bytes=int(written),
        weights_streamed=streamed,
        assumptions={"overlap": "step = max of the parts", "mean_context": context,
                     "hardware": asdict(hw)})


def _head_flash_bytes(m: LlmShape, context: int, mode: str, hw: Hardware) -> int:
    """Flash bytes one head reads (whole pages, padding included)."""
    page_bytes = PAGE_TOKENS * m.head_dim * FP16_BYTES
    pages = -(-context // PAGE_TOKENS)
    if mode == "dense":
        return 2 * pages * page_bytes
    tokens = min(hw.top_k, context)
    touched = pages if tokens >= context else math.ceil(uniform_pages_touched(pages, tokens))
    cm_blocks = -(-context // (PAGE_TOKENS * m.head_dim))
    return (1 + min(hw.top_r, m.head_dim) * cm_blocks + 2 * touched) * page_bytes


# -- sweeps and tables ----------------------------------------------------------------------------
def sweep(models=tuple(MODELS), systems=SYSTEMS, batches=BATCHES, seqs=SEQUENCES, drives=DRIVES,
          hw: Hardware | None = None) -> list[StepResult]:
    return [decode_step(m, s, b, q, n, hw) for m in models for q in seqs for n in drives
            for b in batches for s in systems]


def speedups(results: list[StepResult]) -> list[tuple[StepResult, StepResult, float]]:
    """(in-storage result, its baseline at the same model, batch, seq and drives, speedup)."""
    base = {(r.model, r.batch, r.seq, r.drives): r for r in results if r.system == "baseline"}
    out = []
    for r in results:
        b = base.get((r.model, r.batch, r.seq, r.drives))
        if r.system != "baseline" and b is not None:
            out.append((r, b, r.tokens_per_s / b.tokens_per_s))
    return out


def format_table(results: list[StepResult]) -> str:
    """Markdown: one row per (model, seq, drives, batch), tokens/s per system and speedups."""
    systems = [s for s in SYSTEMS if any(r.system == s for r in results)]
    rows: dict[tuple, dict[str, StepResult]] = {}
    for r in results:
        rows.setdefault((r.model, r.seq, r.drives, r.batch), {})[r.system] = r
    head = "| model | seq | context | drives | batch | " + " | ".join(f"{s} tok/s" for s in systems)
    rule = "|---|---:|---:|---:|---:|" + "---:|" * len(systems)
    with_base = "baseline" in systems
    extra = [s for s in systems if s != "baseline"] if with_base else []
    head += "".join(f" | {s} x" for s in extra) + " | bound |"
    rule += "---:|" * len(extra) + "---|"
    lines = [head, rule]
    for (model, seq, drives, batch), by in rows.items():
        any_r = next(iter(by.values()))
        cells = [f"{by[s].tokens_per_s:.2f}" if s in by else "-" for s in systems]
        ratios = [f"{by[s].tokens_per_s / by['baseline'].tokens_per_s:.2f}" for s in extra]
        bounds = ", ".join(f"{s[0]}:{by[s].bound}" for s in systems)
        lines.append(f"| {model} | {seq} | {any_r.context} | {drives} | {batch} | "
                     + " | ".join(cells + ratios) + f" | {bounds} |")
    return "\n".join(lines)


# -- hwgen model instinfer ------------------------------------------------------------------------

def _engine_rule(v) -> str | None:
    if v["engine_channels"] > v["flash_channels"]:
        return (f"engine_channels={v['engine_channels']} is out of range: allowed "
                f"1..flash_channels={v['flash_channels']}")
    return None


CLI_PARAMS = ParamSet(
    params=(
        Arg("model", str, "opt-13b", "the model shape, or all", choices=(*MODELS, "all"), metavar="NAME"),
        int_list("batch", BATCHES, "batch sizes", min=1, max=MAX_BATCH),
        int_list("seq", SEQUENCES, "input = output lengths", min=1, max=MAX_SEQ),
        int_list("drives", DRIVES, "drive counts", min=1, max=MAX_DRIVES),
        Arg("system", str, "all", "the system, or all", choices=(*SYSTEMS, "all"), metavar="NAME"),
        Arg("flash_channels", int, Hardware.flash_channels, "flash channels per drive, "
            f"{FLASH_MBPS / 1000:g} GB/s each", choices=CHANNEL_CHOICES, metavar="N"),
        Arg("engine_channels", int, Hardware.engine_channels, "flash channels per attention engine; "
            "a drive has flash/engine channels engines", choices=CHANNEL_CHOICES, metavar="N"),
        Arg("lanes", int, Hardware.lanes, "engine lanes", choices=LANE_CHOICES, metavar="N"),
        Arg("softmax", str, Hardware.softmax, "engine softmax", choices=("two_pass", "online"),
            metavar="KIND"),
        Arg("top_r", int, Hardware.top_r, "SparF channels", min=1, max=256, metavar="R"),
        Arg("top_k", int, Hardware.top_k, "SparF tokens", min=1, max=256, metavar="K"),
        Arg("clock_mhz", float, Hardware.clock_mhz, "engine clock in MHz (default: the engine's "
            "measured Fmax at its defaults on ECP5-85k; InstInfer's ZU17EG engine: 285)",
            above=0, max=2000, metavar="MHZ"),
        Arg("json", bool, False, "print every point as JSON"),
    ),
    rules=(_engine_rule,),
)


def run_cli(v) -> str:
    """``hwgen model instinfer``: the table of every point, the largest speedup, the assumptions."""
    hw = Hardware(flash_channels=v["flash_channels"], engine_channels=v["engine_channels"],
                  lanes=v["lanes"], softmax=v["softmax"], top_r=v["top_r"], top_k=v["top_k"],
                  clock_mhz=v["clock_mhz"])
    names = list(MODELS) if v["model"] == "all" else [v["model"]]
    systems = list(SYSTEMS) if v["system"] == "all" else [v["system"]]
    results = sweep(names, systems, v["batch"], v["seq"], v["drives"], hw)
    if v["json"]:
        return json.dumps([r.as_dict() for r in results], indent=2)
    lines = [format_table(results)]
    gains = speedups(results)
    if gains:
        best, base, ratio = max(gains, key=lambda g: g[2])
        lines.append(f"largest speedup: {ratio:.2f}x, {best.system} over baseline, {best.model} seq "
                     f"{best.seq} batch {best.batch} on {best.drives} drive{'s' * (best.drives != 1)} "
                     f"({best.tokens_per_s:.2f} vs {base.tokens_per_s:.2f} tokens/s)")
    lines.append(f"assumptions: context = mean over the output (seq + seq/2); step = max of GPU, links "
                 f"and engines (overlapped); {hw.flash_channels} flash channels x {hw.flash_mbps} MB/s "
                 f"per drive, {hw.engines} engine{'s' * (hw.engines != 1)} of {hw.engine_channels} "
                 f"channels and {hw.lanes} lanes at {hw.clock_mhz:g} MHz"
                 f"{' (measured Fmax, ECP5-85k)' if hw.clock_mhz == MEASURED_FMAX_MHZ else ''}, "
                 f"a page read {hw.flash_latency_us:g} us ({hw.flash_latency} cycles), the heads of "
                 f"an engine back to back; new k and v programmed into flash at the channels' "
                 f"bandwidth; see docs/attention.md")
    return "\n".join(lines)


register(SystemModel(
    "instinfer", "InstInfer decode tokens/s: SSD baseline vs in-storage attention",
    "Decode tokens/s of OPT-13B, OPT-30B and Llama-2-13B shapes with the KV cache in flash: a "
    "FlexGen-style baseline (KV streamed from SSDs to an RTX A6000 every step) against "
    "in-storage attention (dense or SparF) on 1 to 16 drives, heads split across drives, with "
    "the speedup over the baseline at the same drive count. See docs/attention.md.",
    CLI_PARAMS, run_cli))
