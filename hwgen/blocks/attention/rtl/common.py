"""What the attention engine's units share: fp32 constants, bit helpers, the layouts of the
streams between units, and ``Operators``, which instantiates ``hwgen.numerics`` operators."""

from __future__ import annotations

import math
import numpy as np

from amaranth.hdl import Cat, Mux, Signal, unsigned
from amaranth.lib import data, stream

from ....core.logic import equals, select
from ....numerics.formats import PRESETS
from ....numerics.rtl import FloatConverter
from ..params import PAGE_TOKENS, geometry
from ..pipeline import cm_stages

F32 = PRESETS["fp32"]
ONE32 = 0x3F800000
NEG_INF32 = 0xFF800000
# The two consumers, by bit 0 of a page's kind (params.KIND_*).
SIDE_A, SIDE_B = 0, 1


class Config:
    """The parameters of one engine and what follows from them, shared by its units."""

    def __init__(self, p):
        self.p = p
        self.geo = geometry(p)
        self.D = PRESETS[p.dtype]
        self.sparse = p.mode == "sparf"
        self.online = p.softmax == "online"
        # the score memory: two_pass scores and exps, SparF's approximate-score sums
        self.uses_memory = self.sparse or not self.online


def c_d(head_dim: int) -> int:
    """The fp32 pattern of 1/sqrt(head_dim) (the spec's constant, rounded once from float64)."""
    return f32_bits(1.0 / math.sqrt(head_dim))


def f32_bits(value: float) -> int:
    return int(np.float32(value).view(np.uint32))


def one_bits(fmt) -> int:
    return fmt.bias << fmt.man_bits


def bit_of(vector, index):
    """Bit ``index`` of ``vector`` (a variable index below ``len(vector)``), as a multiplexer.
    (A shift of a wide vector by a variable amount, ``$shr``, trips an assertion in Yosys's abc9
    pass, ABC_OPS_REINTEGRATE, on the SparF engine's 2048-bit bitmap.)"""
    return select([vector[i] for i in range(len(vector))], index)


def with_bit(vector, index):
    """``vector`` with bit ``index`` set: a decoder, one compare per bit (no shift)."""
    return Cat(*(vector[i] | equals(index, i) for i in range(len(vector))))


def order_key(bits):
    """An unsigned key whose order is the fp32 order of ``bits`` (spec: Key32)."""
    return Mux(bits[31], ~bits, bits | (1 << 31))[:32]


def key_bits(key):
    """The fp32 pattern back from ``order_key``."""
    return Mux(key[31], key & 0x7FFFFFFF, ~key)[:32]


def lane_of(word, token, lanes: int, width: int = 32):
    """Element ``token % lanes`` of a word of ``lanes`` values of ``width`` bits."""
    return select((word[width * i:width * (i + 1)] for i in range(lanes)), token % lanes)


def word_lane(words, index, lane, width=32):
    """Lane ``lane`` of ``words[index]`` (a mux per lane: words are plain signals)."""
    return select((w[width * lane:width * (lane + 1)] for w in words), index)


# -- stream layouts ---------------------------------------------------------------------------

def query_layout(cfg: Config):
    return data.StructLayout({"q": data.ArrayLayout(16, cfg.p.head_dim),
                              "seq_len": unsigned(cfg.geo.seq_bits)})


def channel_shape(cfg: Config):
    return range(max(2, cfg.p.flash_channels))


def entry_layout(cfg: Config):
    """A page asked of a channel, as its filter records it: kind, token page j, the rows of a
    token page its query uses (1..16: the last page's are fewer), and for a channel-major page
    its channel c and block b; SparF: ``mask``, the page's 16 bits of the token bitmap (looked
    up when the page is issued, so the filter's drop decision, on the flash bus's ready path,
    tests one of 16 bits instead of one of max_seq_len)."""
    p, geo = cfg.p, cfg.geo
    fields = {"kind": 2, "j": range(max(2, geo.token_pages)), "rows": range(PAGE_TOKENS + 1),
              "c": range(p.head_dim), "b": range(max(2, geo.cm_blocks))}
    if cfg.sparse:
        fields["mask"] = PAGE_TOKENS
    return data.StructLayout(fields)


def page_layout(cfg: Config):
    """A page to issue: its id, its channel, what its filter records, and the generation of
    its query (``gen``: a bit that flips with every query taken)."""
    return data.StructLayout({"page": unsigned(cfg.geo.page_id_bits), "channel": channel_shape(cfg),
                              "entry": entry_layout(cfg), "gen": 1})


def order_layout(cfg: Config):
    """An issued page as its side's consumer awaits it: the channel and its query's ``gen``."""
    return data.StructLayout({"channel": channel_shape(cfg), "gen": 1})


def beat_layout(cfg: Config):
    """A received beat: its elements, and where they belong (kind, token, position in the row,
    channel, score word), or an end marker left by a dropped last beat."""
    p, geo = cfg.p, cfg.geo
    return data.StructLayout({
        "payload": data.ArrayLayout(16, p.lanes), "kind": 2, "token": geo.token_bits + 1,
        "bpos": range(max(2, geo.beats_per_row)), "c": range(p.head_dim),
        "word": range(max(2, geo.score_words)), "end": 1, "marker": 1})


def recent_words_layout(cfg: Config):
    """SparF: the score words of the channel-major beats taken in the last ``spacing - 1``
    cycles (``pipeline.cm_stages``): a beat of any of them must wait."""
    entry = data.StructLayout({"valid": 1, "word": range(max(2, cfg.geo.score_words))})
    return data.ArrayLayout(entry, cm_stages(cfg.p.dtype)["spacing"] - 1)


def token_value_layout(cfg: Config):
    """An fp32 value for one token (a score, or an exp in its low half)."""
    return data.StructLayout({"token": cfg.geo.token_bits + 1, "value": 32})


def candidate_layout(cfg: Config):
    """SparF TOPK: a token's approximate score, for the top-k sorter."""
    return data.StructLayout({"token": range(cfg.p.max_seq_len), "s_hat": 32})


def rank_layout():
    """SparF TOPR: a channel's |q| in fp32, whether it is one of the top_r, and whether it is
    the last channel."""
    return data.StructLayout({"abs_q": 32, "selected": 1, "last": 1})


def word_write_layout(cfg: Config):
    """A write of a whole score-memory word (``mask``: which fp32 lanes)."""
    return data.StructLayout({"addr": range(cfg.geo.score_words), "data": 32 * cfg.p.lanes,
                              "mask": cfg.p.lanes})


def weight_layout():
    """online: the V side's (scale, p) for one token."""
    return data.StructLayout({"scale": 16, "p": 16})


def strobes(shape):
    """A stream without back-pressure: the payload counts in each cycle ``valid`` is high."""
    return stream.Signature(shape, always_ready=True)


# -- pipelines --------------------------------------------------------------------------------

class TagLine:
    """What travels beside a value down a pipeline (a ``layout`` with a ``valid`` field), a
    register per stage; every stage is kept, so ``busy`` can say whether any holds a value."""

    def __init__(self, m, layout):
        self.m, self.layout, self.stages = m, layout, []
        self.inputs = []        # each stage's valid at its register's input
        self._busy = None

    def follow(self, tag, count: int, name: str):
        """``tag`` through ``count`` more registers."""
        for k in range(count):
            staged = Signal(self.layout, name=f"{name}{k}")
            self.m.d.sync += staged.eq(tag)
            self.stages.append(staged)
            self.inputs.append(tag.valid)
            tag = staged
        return tag

    def add(self, stage, valid_in):
        """A stage registered elsewhere, whose register takes ``valid_in``."""
        self.stages.append(stage)
        self.inputs.append(valid_in)

    def busy(self):
        """Whether any stage holds a value: a register of the OR of the stages' inputs, so it
        is exact and the phase logic that waits for it reads one register (the OR of a long
        pipeline's stages, spread over the die, into the sequencer held the small two_pass
        point to 69.8 MHz). Call it once the line is built."""
        if self._busy is None:
            self._busy = Signal(name="line_busy")
            self.m.d.sync += self._busy.eq(Cat(*self.inputs).any())
        return self._busy

    def recent(self, count: int, match):
        """Whether a value entered the line in the last ``count`` cycles (the first ``count``
        stages) for which ``match(stage)`` holds."""
        return Cat(*(stage.valid & match(stage) for stage in self.stages[:count])).any()


# -- numerics operators -----------------------------------------------------------------------

class Operators:
    """Instantiates ``hwgen.numerics`` operators into ``m``, wires their operands and returns
    their results; ``D`` is the engine's element format."""

    def __init__(self, m, D):
        self.m, self.D = m, D
        self.count = 0

    def unit(self, component, name: str, **inputs):
        self.count += 1
        self.m.submodules[f"{name}_{self.count}"] = component
        for port, value in inputs.items():
            self.m.d.comb += getattr(component, port).eq(value)
        return component.y

    def staged(self, component, name: str, **inputs):
        """``unit``, its result registered (an operator of latency L: L + 1 edges)."""
        result = self.unit(component, name, **inputs)
        registered = Signal(len(result), name=f"{name}_{self.count}_q")
        self.m.d.sync += registered.eq(result)
        return registered

    def cvt(self, value, fin, fout, name="cvt"):
        return self.unit(FloatConverter(fin, fout), name, a=value)
