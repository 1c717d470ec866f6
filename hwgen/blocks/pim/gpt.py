"""The PIM-GPT decode model: the latency of one generated token of a GPT model on ``channels``
PIM channels and the ASIC beside them, at batch 1, split by layer operation. See docs/pim_gpt.md.

Costs come from the exact models of the blocks:

* **GEMVs** (QKV, attention scores, attention times V, output projection, MLP up and down, LM
  head) from ``schedule.ChannelScheduler``, the command-level model that the ``pim_channel`` RTL
  equals cycle for cycle. A GEMV is cut over channels by ``mapping.split_gemv``; the channels
  run in parallel, so it takes the slowest channel's time; a channel runs its parts (column
  tiles) one after another. Each distinct (rows, cols, segment) shape is scheduled once.
* **ASIC work** (LayerNorm, softmax, GELU, residual, bias and partial-sum adds) from
  ``vector_model.vector_cycles``, the exact model of ``pim_vector_unit``.
* **Data movement** the GEMV command streams do not already carry (the vector operand is the
  GEMV's WR_GBs, the result its RD_MACs): the embedding read and the new token's K and V
  written into the channels.

Batch 1 leaves nothing to overlap: every step needs the previous step's output, so the ops run
one after another and the token latency is their sum.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from functools import cache

from ...core.params import ParamError, ParamSet
from ...core.system_model import Arg, BlockParams, Output, SystemModel, register
from .channel.params import PARAMS as CHANNEL_PARAMS
from .mapping import ChannelLayout, GemvPart, split_gemv
from .schedule import ChannelScheduler, Command
from .timing import Timing
from .vector.model import sequence_cycles
from .vector.params import MEASURED_FMAX_MHZ as VECTOR_UNIT_FMAX_MHZ

VOCAB = 50257
MAX_CHANNELS = 64
FP16_BYTES = 2          # the GPU rooflines read weights and KV cache in fp16/bf16


@dataclass(frozen=True)
class GptModel:
    """A GPT decoder's shape: ``layers`` blocks of attention (``heads`` heads) and a 4x MLP."""

    name: str
    layers: int
    d_model: int
    heads: int
    max_context: int
    vocab: int = VOCAB

    def __post_init__(self):
        for name in ("layers", "d_model", "heads", "max_context", "vocab"):
            if getattr(self, name) < 1:
                raise ValueError(f"{self.name}: {name}={getattr(self, name)} is out of range: allowed >= 1")
        if self.d_model % self.heads:
            raise ValueError(f"{self.name}: d_model={self.d_model} is not a multiple of heads={self.heads}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.heads

    @property
    def d_mlp(self) -> int:
        return 4 * self.d_model

    @property
    def parameters(self) -> int:
        """All parameters: per layer the QKV, output, MLP matrices with their biases and two
        LayerNorms (12 d^2 + 13 d); the token and position embeddings; the final LayerNorm.
        The LM head shares the token embedding (GPT-2 and GPT-3 tie them)."""
        d = self.d_model
        return self.layers * (12 * d * d + 13 * d) + (self.vocab + self.max_context) * d + 2 * d

    @property
    def parameters_read(self) -> int:
        """Parameters one decode step must read: all of them except the position-embedding
        rows of other positions (only one row is used)."""
        return self.parameters - (self.max_context - 1) * self.d_model

    def kv_elements(self, context: int) -> int:
        """K and V elements of ``context`` tokens in every layer."""
        return 2 * self.layers * context * self.d_model


MODELS = {m.name: m for m in (
    GptModel("gpt2-small", 12, 768, 12, 1024),
    GptModel("gpt2-medium", 24, 1024, 16, 1024),
    GptModel("gpt2-large", 36, 1280, 20, 1024),
    GptModel("gpt2-xl", 48, 1600, 25, 1024),
    GptModel("gpt3-125m", 12, 768, 12, 2048),
    GptModel("gpt3-350m", 24, 1024, 16, 2048),
    GptModel("gpt3-760m", 24, 1536, 16, 2048),
    GptModel("gpt3-1.3b", 24, 2048, 32, 2048),
)}

# Memory-bandwidth rooflines of batch-1 decode on a GPU: name -> (description, bytes/s).
ROOFLINES = {
    "t4": ("NVIDIA T4, 16 GB GDDR6, 320 GB/s", 320e9),
    "h100": ("NVIDIA H100 SXM5, 80 GB HBM3, 3.35 TB/s", 3.35e12),
}

# Operations of a decode step, in execution order within a layer (then the LM head).
OPS = ("layernorm", "qkv", "data_movement", "attention_scores", "softmax", "attention_v",
       "output_projection", "residual", "mlp_up", "gelu", "mlp_down", "adds", "lm_head")


def get_model(model: str | GptModel) -> GptModel:
    if isinstance(model, GptModel):
        return model
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: allowed {', '.join(MODELS)}")
    return MODELS[model]


# -- one channel's GEMV, scheduled once per shape ---------------------------------------------------
@dataclass(frozen=True)
class GemvCost:
    """One GEMV on one channel: cycles from its request to its last result beat at the ASIC,
    and the commands it took."""

    cycles: int
    commands: dict

    def count(self, cmd: Command) -> int:
        return self.commands.get(cmd.name, 0)


@cache
def gemv_cost(layout: ChannelLayout, timing: Timing, bank_groups: int, read_to_mac: int,
              result_delay: int, rows: int, cols: int, segment: int | None = None) -> GemvCost:
    """Schedule a rows x cols GEMV on a channel with all banks precharged.

    The refresh timer is taken half way through its interval when the GEMV starts: GEMVs
    start at no fixed phase of the refresh timer, and from the mean phase a GEMV of D cycles
    meets about round(D / REFI) refreshes, the right number on average (starting freshly
    refreshed would count about floor(D / REFI), half a refresh too few per GEMV)."""
    scheduler = ChannelScheduler(layout, timing, bank_groups, read_to_mac=read_to_mac,
                                 result_delay=result_delay)
    scheduler.refresh_base = 0
    accepted = timing.REFI // 2
    _, reads = scheduler.gemv(accepted, rows, cols, segment=segment)
    commands = {c.name: 0 for c in Command}
    for issued in scheduler.trace:
        commands[issued.cmd.name] += 1
    return GemvCost(cycles=reads[-1] + scheduler.y_delay + 1 - accepted, commands=commands)


# -- the decode step ------------------------------------------------------------------------------
@dataclass
class OpTime:
    """One operation of the step, summed over layers: PIM cycles (tCK) on the slowest channel,
    ASIC cycles (ASIC clock), channel-bus cycles (tCK), and the time they take in series."""

    pim_cycles: int = 0
    asic_cycles: int = 0
    bus_cycles: int = 0
    ns: float = 0.0


@dataclass
class DecodeResult:
    model: str
    channels: int
    context: int
    ops: dict[str, OpTime]
    latency_ns: float
    tokens_per_s: float
    row_hit_rate: float
    weight_bytes: int         # parameters read in DRAM (matrices, embedding rows, biases, LayerNorms)
    kv_bytes: int             # K and V read by the attention GEMVs
    bus_bytes: int            # vectors moved over the channel buses (both directions)
    capacity_used: float      # weights + KV cache over the channels' DRAM
    rooflines: dict[str, dict]
    assumptions: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class System:
    """What the model needs to know about the channels and the ASIC."""

    layout: ChannelLayout
    timing: Timing
    bank_groups: int
    read_to_mac: int          # the bank MACs' rules (pim_channel.read_to_mac, .result_delay)
    result_delay: int
    element_bytes: int
    acc_bytes: int
    bank_rows: int            # DRAM rows per bank of the device (capacity only)
    asic_lanes: int
    asic_clock_ns: float


def system(channel_params: dict | None = None, asic_lanes: int = 16, asic_clock_ns: float | None = None,
           bank_rows: int = 16384) -> System:
    """The system built from ``pim_channel`` with ``channel_params`` (its defaults otherwise):
    the scheduler's inputs exactly as ``PimChannel.scheduler()`` sets them up. ``bank_rows``
    is the device's rows per bank (GDDR6 8 Gb: 16K rows of 2 KiB), used only for the capacity
    check; the ASIC clock defaults to the command clock tCK."""
    from .channel.rtl import PimChannel

    channel = PimChannel(**(channel_params or {}))
    if asic_lanes < 1:
        raise ParamError(f"asic_lanes={asic_lanes} is out of range: allowed >= 1")
    clock = channel.timing.tck_ns if asic_clock_ns is None else asic_clock_ns
    if not clock > 0:
        raise ParamError(f"asic_clock_ns={asic_clock_ns} is out of range: allowed > 0")
    return System(layout=channel.layout, timing=channel.timing, bank_groups=channel.p.bank_groups,
                  read_to_mac=channel.read_to_mac, result_delay=channel.result_delay,
                  element_bytes=(channel.element_bits + 7) // 8,
                  acc_bytes=(channel.acc_bits + 7) // 8, bank_rows=bank_rows,
                  asic_lanes=asic_lanes, asic_clock_ns=clock)


class _Step:
    """Accumulates one decode step: op times, command counts and bytes."""

    def __init__(self, sys: System, channels: int):
        self.sys, self.channels = sys, channels
        self.ops = {name: OpTime() for name in OPS}
        self.acts = self.macs = 0
        self.bus_bytes = 0

    def _cost(self, rows: int, cols: int, layout: ChannelLayout, segment: int | None = None) -> GemvCost:
        s = self.sys
        return gemv_cost(layout, s.timing, s.bank_groups, s.read_to_mac, s.result_delay, rows, cols,
                         segment)

    def _count(self, cost: GemvCost, times: int) -> None:
        s = self.sys
        self.acts += times * cost.count(Command.ACT)
        self.macs += times * cost.count(Command.MAC_ABK)
        self.bus_bytes += times * (cost.count(Command.WR_GB) * s.layout.lanes * s.element_bytes
                                   + cost.count(Command.RD_MAC) * s.layout.banks * s.acc_bytes)

    def _run_parts(self, parts: list[GemvPart], layout: ChannelLayout, segment: int | None,
                   times: int) -> int:
        """Run per-channel parts; returns the slowest channel's cycles."""
        per_channel = [0] * self.channels
        for part in parts:
            cost = self._cost(part.rows, part.cols, layout, segment)
            per_channel[part.channel] += cost.cycles
            self._count(cost, times)
        return max(per_channel)

    def gemv(self, op: str, rows: int, cols: int, times: int, bias: bool = True) -> None:
        """A rows x cols weight GEMV (``times`` of them, one per layer) split over the
        channels; the ASIC adds the column tiles' partial sums and the bias."""
        layout = self.sys.layout
        parts = split_gemv(rows, cols, self.channels, layout)
        self.ops[op].pim_cycles += times * self._run_parts(parts, layout, None, times)
        tiles = len({p.col_start for p in parts})
        self.asic("adds", "add", rows, times * (tiles - 1 + bias))

    def attention(self, model: GptModel, context: int, times: int) -> None:
        """The score GEMV over the K cache and the probabilities-times-V GEMVs of one layer."""
        s = self.sys
        lanes = s.layout.lanes
        head_beats = -(-model.d_head // lanes)           # each head's columns padded to whole beats
        if head_beats > s.layout.gb_columns:
            raise ValueError(f"d_head={model.d_head} needs {head_beats} global-buffer columns: "
                             f"the channel has {s.layout.gb_columns}")
        # K: token rows, heads side by side; one RD_MAC per head (segment); column tiles hold
        # whole heads, so every score is complete in one tile and needs no partial-sum add
        k_layout = replace(s.layout, gb_columns=s.layout.gb_columns // head_beats * head_beats)
        parts = split_gemv(context, model.heads * head_beats * lanes, self.channels, k_layout)
        self.ops["attention_scores"].pim_cycles += times * self._run_parts(parts, k_layout, head_beats, times)
        self.asic("softmax", "softmax", context, times * model.heads)
        # V: per head a d_head x context GEMV (V stored transposed), heads dealt to channels in
        # turn; contexts wider than the global buffer are tiled and the ASIC adds the tiles
        tiles = split_gemv(model.d_head, context, 1, s.layout)
        head = 0
        for tile in tiles:
            cost = self._cost(tile.rows, tile.cols, s.layout)
            head += cost.cycles
            self._count(cost, times * model.heads)
        busiest = -(-model.heads // self.channels)
        self.ops["attention_v"].pim_cycles += times * busiest * head
        self.asic("adds", "add", model.d_model, times * (len(tiles) - 1))

    def asic(self, op: str, kind: str, length: int, count: int) -> None:
        """``count`` vector-unit ops of ``length`` elements, each run as its own sequence."""
        if count:
            self.ops[op].asic_cycles += count * sequence_cycles([(kind, length)], self.sys.asic_lanes)

    def transfer(self, elements: int, spacing: int, access: int, times: int) -> None:
        """Data movement on a channel bus: ``elements`` in column bursts of ``lanes``, one per
        ``spacing`` cycles, after an ``access`` latency (opening the row, or reading out)."""
        s = self.sys
        bursts = -(-elements // s.layout.lanes)
        self.ops["data_movement"].bus_cycles += times * (access + bursts * spacing)
        self.bus_bytes += times * bursts * s.layout.lanes * s.element_bytes

    def finish(self) -> float:
        s = self.sys
        total = 0.0
        for op in self.ops.values():
            op.ns = (op.pim_cycles + op.bus_cycles) * s.timing.tck_ns + op.asic_cycles * s.asic_clock_ns
            total += op.ns
        return total


def decode_token(model: str | GptModel, channels: int = 8, context: int = 512, *,
                 channel_params: dict | None = None, asic_lanes: int = 16,
                 asic_clock_ns: float | None = None) -> DecodeResult:
    """Latency of generating one token with ``context`` tokens in the KV cache (the new one
    included) on ``channels`` PIM channels, each a ``pim_channel`` with ``channel_params``,
    and an ASIC vector unit of ``asic_lanes`` lanes at ``asic_clock_ns`` (default: tCK)."""
    m = get_model(model)
    if not 1 <= channels <= MAX_CHANNELS:
        raise ValueError(f"channels={channels} is out of range: allowed 1..{MAX_CHANNELS}")
    if not 1 <= context <= m.max_context:
        raise ValueError(f"context={context} is out of range for {m.name}: allowed 1..{m.max_context}")
    s = system(channel_params, asic_lanes, asic_clock_ns)
    t, d, L = s.timing, m.d_model, m.layers
    step = _Step(s, channels)

    # token and position embedding rows: read from DRAM, added by the ASIC
    step.transfer(2 * d, t.CCDS, t.RP + t.RCDRD + t.CL, 1)
    step.asic("residual", "add", d, 1)

    # per layer: biases (9d) and LayerNorm gamma, beta (4d), stored spread over the channels
    # and read in parallel; then the final LayerNorm's (2d)
    step.transfer(-(-13 * d // channels), t.CCDS, t.RP + t.RCDRD + t.CL, L)
    step.transfer(2 * d, t.CCDS, t.RP + t.RCDRD + t.CL, 1)

    step.asic("layernorm", "layernorm", d, 2 * L)
    step.gemv("qkv", 3 * d, d, L)
    # the new token's K (one matrix row: one bank, same-group column spacing) and V (one
    # element in each of its channel's feature rows: masked writes spread over the banks)
    v_writes = -(-m.heads // channels) * m.d_head
    step.transfer(d, t.CCDL, t.RP + t.RCDWR, L)
    step.transfer(v_writes * s.layout.lanes, t.CCDS, 0, L)
    step.attention(m, context, L)
    step.gemv("output_projection", d, d, L)
    step.asic("residual", "add", d, 2 * L)
    step.gemv("mlp_up", m.d_mlp, d, L)
    step.asic("gelu", "gelu", m.d_mlp, L)
    step.gemv("mlp_down", d, m.d_mlp, L)

    step.asic("layernorm", "layernorm", d, 1)
    step.gemv("lm_head", m.vocab, d, 1, bias=False)
    latency = step.finish()

    capacity = channels * s.layout.banks * s.bank_rows * s.layout.row_columns * s.layout.lanes
    rooflines = {}
    for name, (description, bandwidth) in ROOFLINES.items():
        roof_bytes = (m.parameters_read + m.kv_elements(context)) * FP16_BYTES
        roof_ns = roof_bytes / bandwidth * 1e9
        rooflines[name] = {"device": description, "bandwidth_bytes_per_s": bandwidth,
                           "bytes": roof_bytes, "ns": roof_ns, "speedup": roof_ns / latency}
    return DecodeResult(
        model=m.name, channels=channels, context=context, ops=step.ops, latency_ns=latency,
        tokens_per_s=1e9 / latency,
        row_hit_rate=1 - step.acts / (s.layout.banks * step.macs),
        weight_bytes=m.parameters_read * s.element_bytes,
        kv_bytes=m.kv_elements(context) * s.element_bytes,
        bus_bytes=step.bus_bytes,
        capacity_used=(m.parameters + m.kv_elements(m.max_context)) / capacity,
        rooflines=rooflines,
        assumptions={"tck_ns": t.tck_ns, "asic_clock_ns": s.asic_clock_ns, "asic_lanes": s.asic_lanes,
                     "element_bytes": s.element_bytes, "overlap": "none (serial)"},
    )


# -- text output ------------------------------------------------------------------------------------
def format_table(results: list[DecodeResult]) -> str:
    """Markdown table: one row per model."""
    lines = [("| model | params | channels | context | latency (us) | tokens/s | row hits | "
              "vs T4 roofline | vs H100 roofline |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        m = MODELS.get(r.model)
        params = f"{m.parameters / 1e6:.0f}M" if m else "-"
        lines.append(f"| {r.model} | {params} | {r.channels} | {r.context} | {r.latency_ns / 1e3:.1f} | "
                     f"{r.tokens_per_s:.0f} | {100 * r.row_hit_rate:.1f}% | "
                     f"{r.rooflines['t4']['speedup']:.2f}x | {r.rooflines['h100']['speedup']:.2f}x |")
    return "\n".join(lines)


def format_breakdown(result: DecodeResult) -> str:
    """Markdown table: the step's time per operation."""
    lines = [(f"{result.model} on {result.channels} channels at context {result.context}: "
              f"{result.latency_ns / 1e3:.1f} us per token"),
             "",
             "| op | PIM cycles | ASIC cycles | bus cycles | time (us) | share |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, op in result.ops.items():
        lines.append(f"| {name} | {op.pim_cycles} | {op.asic_cycles} | {op.bus_cycles} | "
                     f"{op.ns / 1e3:.2f} | {100 * op.ns / result.latency_ns:.1f}% |")
    return "\n".join(lines)


# -- hwgen model pim-gpt ------------------------------------------------------------------------------
def _context_rule(v) -> str | None:
    for name in (MODELS if v["model"] == "all" else [v["model"]]):
        if v["context"] > MODELS[name].max_context:
            return (f"parameter context={v['context']} is out of range for {name}: "
                    f"allowed 1..{MODELS[name].max_context}")
    return None


CLI_PARAMS = ParamSet(
    params=(
        Arg("model", str, "gpt2-medium", "the GPT model, or all for a table of every model",
            choices=(*MODELS, "all"), metavar="NAME"),
        Arg("channels", int, 8, "PIM channels in parallel", min=1, max=MAX_CHANNELS, metavar="N"),
        Arg("context", int, 512, "tokens in the KV cache, the new one included, up to the "
            "model's context", min=1, max=1 << 20, metavar="N"),
        Arg("asic_lanes", int, 16, "ASIC vector lanes", min=1, max=4096, metavar="N"),
        Arg("asic_clock_ns", float, None, "ASIC clock period in ns", above=0, max=1000,
            unset="tCK", metavar="NS"),
        Arg("json", bool, False, "print the result(s) as JSON"),
    ),
    rules=(_context_rule,),
)


def run_cli(v) -> Output:
    """``hwgen model pim-gpt``: the breakdown of one model, or the table of all of them."""
    names = list(MODELS) if v["model"] == "all" else [v["model"]]
    results = [decode_token(name, v["channels"], v["context"], channel_params=v["channel_params"],
                            asic_lanes=v["asic_lanes"], asic_clock_ns=v["asic_clock_ns"])
               for name in names]
    if v["json"]:
        data = [r.as_dict() for r in results] if v["model"] == "all" else results[0].as_dict()
        return Output(json.dumps(data, indent=2))
    if v["model"] == "all":
        lines = [format_table(results)]
    else:
        r = results[0]
        lines = [format_breakdown(r), "",
                 f"tokens/s {r.tokens_per_s:.1f}; row-hit rate {100 * r.row_hit_rate:.2f}%; "
                 f"DRAM reads: weights {r.weight_bytes / 1e6:.1f} MB, KV {r.kv_bytes / 1e6:.1f} MB; "
                 f"channel buses {r.bus_bytes / 1e6:.2f} MB"]
        lines += [f"roofline {roof['device']}: {roof['ns'] / 1e3:.1f} us per token; "
                  f"PIM speedup {roof['speedup']:.2f}x" for roof in r.rooflines.values()]
    a = results[0].assumptions
    clock_source = "tCK: the ASIC at the memory's command clock" if v["asic_clock_ns"] is None else "--asic-clock-ns"
    lines.append(f"assumptions: tCK {a['tck_ns']} ns, ASIC {a['asic_lanes']} lanes at {a['asic_clock_ns']} ns "
                 f"({clock_source}), no overlap of ASIC and PIM work (batch 1); see docs/pim_gpt.md")
    # the same step with the ASIC work at the speed our vector unit's RTL closes timing
    prototype = [decode_token(r.model, v["channels"], v["context"], channel_params=v["channel_params"],
                              asic_lanes=v["asic_lanes"], asic_clock_ns=1e3 / VECTOR_UNIT_FMAX_MHZ)
                 for r in results]
    lines.append(f"at pim_vector_unit's measured Fmax ({VECTOR_UNIT_FMAX_MHZ} MHz on ECP5-85k, "
                 f"docs/pim_vector_unit.md) for the ASIC work: " + ", ".join(
                     f"{r.model} {r.latency_ns / 1e3:.1f} us per token" for r in prototype))
    notes = tuple(f"note: {r.model} with a {MODELS[r.model].max_context}-token KV cache needs "
                  f"{r.capacity_used:.2f}x the DRAM of {r.channels} channel{'s' * (r.channels != 1)}"
                  for r in results if r.capacity_used > 1)
    return Output("\n".join(lines), notes)


register(SystemModel(
    "pim-gpt", "PIM-GPT per-token decode latency of GPT models",
    "Per-token decode latency of a GPT model at batch 1 on PIM channels (pim_channel's "
    "command-level scheduler for every GEMV) and the ASIC vector unit (pim_vector_unit's cycle "
    "model), split by operation, with the row-hit rate, bytes moved, tokens/s and the speedup "
    "over T4 and H100 memory-bandwidth rooflines. See docs/pim_gpt.md.",
    CLI_PARAMS, run_cli,
    block_params=BlockParams("channel_params", "pim_channel", CHANNEL_PARAMS,
                             "a pim_channel parameter for every channel")))
