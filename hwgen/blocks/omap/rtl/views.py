"""Combinational views of the oblivious map's HBM words, and its hash unit: components the
sequencer (``controller.py``) instantiates around the word it last read and the pending row it
holds. The functions at the end build the words written back.

Word formats (docs/omap.md, "Layout"), LSB first:

* a bucket: ``ways`` entries, each valid (1), state (2), key, page label, value;
* a pending row: the label's count, then ``queue_ways`` ways of (valid, key).
"""

from amaranth.hdl import Cat, Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import equals, lowest, select
from ..params import HASH_MULTIPLIER, Geometry


def _entries(g: Geometry, word):
    return [word[w * g.entry_bits:(w + 1) * g.entry_bits] for w in range(g.ways)]


def _row_ways(g: Geometry, word):
    width = 1 + g.key_width
    return [word[g.count_bits + j * width:g.count_bits + (j + 1) * width] for j in range(g.queue_ways)]


class BucketHash(wiring.Component):
    """The bucket a key hashes to (reference.py ``bucket_of``): a 64-bit key folds to 32 bits,
    Knuth's multiplicative hash, the top ``bucket_bits`` bits of the low 32."""

    def __init__(self, g: Geometry):
        self.g = g
        super().__init__({"key": In(g.key_width), "bucket": Out(g.bucket_bits)})

    def elaborate(self, platform):
        m = Module()
        g, key = self.g, self.key
        folded = key[:32] ^ key[32:] if g.key_width > 32 else key
        product = (folded * HASH_MULTIPLIER)[:32]
        m.d.comb += self.bucket.eq(product[32 - g.bucket_bits:32])
        return m


class BucketView(wiring.Component):
    """A bucket word searched for ``key``: the lowest way holding it (``hit``, ``way``) and that
    entry's fields, and the lowest free way."""

    def __init__(self, g: Geometry):
        self.g = g
        way = range(max(2, g.ways))
        super().__init__({
            "word": In(g.ways * g.entry_bits), "key": In(g.key_width),
            "hit": Out(1), "way": Out(way), "state": Out(2), "label": Out(g.page_bits),
            "value": Out(g.value_width), "has_free": Out(1), "free_way": Out(way),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.g
        kw, pb, vw = g.key_width, g.page_bits, g.value_width
        entries = _entries(g, self.word)
        valid = [e[0] for e in entries]
        keys = [e[3:3 + kw] for e in entries]

        hit, way = lowest(m, [v & equals(k, self.key) for v, k in zip(valid, keys)], "hit")
        has_free, free_way = lowest(m, [~v for v in valid], "free")
        m.d.comb += [self.hit.eq(hit), self.way.eq(way),
                     self.has_free.eq(has_free), self.free_way.eq(free_way)]
        m.d.comb += [self.state.eq(select([e[1:3] for e in entries], way)),
                     self.label.eq(select([e[3 + kw:3 + kw + pb] for e in entries], way)),
                     self.value.eq(select([e[3 + kw + pb:3 + kw + pb + vw] for e in entries], way))]
        return m


class RowView(wiring.Component):
    """A pending row: its count, the lowest way queueing ``key`` (``hit``, ``way``), the lowest
    free way, and the way at ``index`` (``at_valid``, ``at_key``)."""

    def __init__(self, g: Geometry):
        self.g = g
        way = range(max(2, g.queue_ways))
        super().__init__({
            "word": In(g.pending_bits), "key": In(g.key_width),
            "index": In(max(1, (g.queue_ways - 1).bit_length())),
            "count": Out(g.count_bits), "hit": Out(1), "way": Out(way),
            "has_free": Out(1), "free_way": Out(way), "at_valid": Out(1), "at_key": Out(g.key_width),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.g
        ways = _row_ways(g, self.word)
        valid = [w[0] for w in ways]
        keys = [w[1:] for w in ways]

        m.d.comb += self.count.eq(self.word[:g.count_bits])
        hit, way = lowest(m, [v & equals(k, self.key) for v, k in zip(valid, keys)], "hit")
        has_free, free_way = lowest(m, [~v for v in valid], "free")
        m.d.comb += [self.hit.eq(hit), self.way.eq(way),
                     self.has_free.eq(has_free), self.free_way.eq(free_way)]
        # (select pads the list to every index value: a complete case even for one way)
        m.d.comb += [self.at_valid.eq(select(valid, self.index)),
                     self.at_key.eq(select(keys, self.index))]
        return m


# -- the words written back -----------------------------------------------------------------------

def bucket_entry(state, key, label, value):
    """A valid position-map entry."""
    return Cat(Const(1, 1), state, key, label, value)


def bucket_with_entry(g: Geometry, word, way, entry, enable=1):
    """The bucket ``word`` with the entry at ``way`` replaced by ``entry`` (when ``enable``)."""
    return Cat(*(Mux(enable & equals(way, w), entry, e) for w, e in enumerate(_entries(g, word))))


def bucket_after(g: Geometry, word, way, entry, persist, delete):
    """The bucket ``word`` with the entry at ``way`` replaced by ``entry`` (when ``persist``) or
    emptied (when ``delete``)."""
    return Cat(*(Mux(equals(way, w) & persist, entry, Mux(equals(way, w) & delete, 0, e))
                 for w, e in enumerate(_entries(g, word))))


def row_with_way(g: Geometry, count, word, way, new, enable=1):
    """The pending row with count ``count`` and the ways of ``word``, the one at ``way``
    replaced by ``new`` (when ``enable``)."""
    ways = (Mux(enable & equals(way, j), new, w) for j, w in enumerate(_row_ways(g, word)))
    return Cat(count[:g.count_bits], *ways)
