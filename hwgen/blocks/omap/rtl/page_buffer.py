"""The oblivious map's page buffer: the S plaintext slots of the page a query reads or flushes.
A slot is valid (1), key, value, LSB first, in one AES block.

It is filled by the host port as the slots are decrypted (``fill``), and changed and searched
by the sequencer (``access``): emptied before a flush, a slot dropped when its element no
longer lives there, an element moved in from the queue.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import equals, lowest, select
from .host_port import plaintext_layout, slot_bits
from ..params import SLOT_BLOCK_BITS, Geometry


class PageAccess(wiring.Signature):
    """The sequencer's side of the page buffer.

    * ``clear``: empty every slot. ``drop``: empty the slot at ``index``. ``insert``: store
      (``insert_key``, ``insert_value``) in the lowest free slot.
    * ``hit``, ``hit_value``: the lowest slot holding ``key`` and its value; ``has_free``: a
      slot is free; ``at_key``, ``at_slot``: the slot at ``index``.
    """

    def __init__(self, g: Geometry):
        super().__init__({
            "clear": Out(1), "index": Out(slot_bits(g)), "drop": Out(1), "insert": Out(1),
            "insert_key": Out(g.key_width), "insert_value": Out(g.value_width),
            "key": Out(g.key_width),
            "hit": In(1), "hit_value": In(g.value_width), "has_free": In(1),
            "at_key": In(g.key_width), "at_slot": In(SLOT_BLOCK_BITS),
        })


class PageBuffer(wiring.Component):
    def __init__(self, g: Geometry):
        self.g = g
        super().__init__({
            "fill": In(stream.Signature(plaintext_layout(g), always_ready=True)),
            "access": In(PageAccess(g)),
        })

    def elaborate(self, platform):
        m = Module()
        g, fill, access = self.g, self.fill, self.access
        kw, vw = g.key_width, g.value_width
        slots = [Signal(SLOT_BLOCK_BITS, name=f"slot{i}") for i in range(g.slots)]
        valid = [s[0] for s in slots]
        keys = [s[1:1 + kw] for s in slots]
        values = [s[1 + kw:1 + kw + vw] for s in slots]

        hit, hit_at = lowest(m, [v & equals(k, access.key) for v, k in zip(valid, keys)], "hit")
        has_free, free_at = lowest(m, [~v for v in valid], "free")
        m.d.comb += [access.hit.eq(hit), access.hit_value.eq(select(values, hit_at)),
                     access.has_free.eq(has_free),
                     access.at_key.eq(select(keys, access.index)),
                     access.at_slot.eq(select(slots, access.index))]

        # one If per slot, not an Array on the left: that gives each slot register an
        # incomplete case statement
        for i, slot in enumerate(slots):
            with m.If(access.clear):
                m.d.sync += slot.eq(0)
            with m.Elif(fill.valid & equals(fill.payload.at, i)):
                m.d.sync += slot.eq(fill.payload.word)
            with m.Elif(access.drop & equals(access.index, i)):
                m.d.sync += slot.eq(0)
            with m.Elif(access.insert & equals(free_at, i)):
                m.d.sync += slot.eq(Cat(Const(1, 1), access.insert_key, access.insert_value))
        return m
