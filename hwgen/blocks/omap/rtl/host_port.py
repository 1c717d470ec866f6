"""The oblivious map's host port: encrypted pages in, encrypted slots out, through one
AES-128 core in counter mode (``aes.py``). A host word is a slot's ciphertext (128 bits) below
the nonce of the page write that made it; slot ``i`` of a page written with nonce ``n`` is
encrypted with the counter block (n, i).

* ``read``: the sequencer offers a page; its S read requests leave back to back, each slot is
  decrypted as it arrives and leaves on ``plaintext``; the offer is taken with the last slot.
* ``write``: the sequencer offers a slot (plaintext, page, slot index, nonce); it is encrypted
  (``encrypted`` pulses when the ciphertext is ready) and written; the offer is taken when
  the host takes the write.
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.logic import equals
from .aes import Aes128
from ..params import NONCE_BITS, SLOT_BLOCK_BITS, Geometry


def slot_bits(g: Geometry) -> int:
    return max(1, (g.slots - 1).bit_length())


def host_request_layout(g: Geometry):
    """The payload of the host request stream (``RamMemory``'s packing)."""
    return data.StructLayout({"address": g.host_address_width, "write": 1, "data": g.host_width})


def plaintext_layout(g: Geometry):
    """A decrypted slot: its index in the page and its word."""
    return data.StructLayout({"at": slot_bits(g), "word": SLOT_BLOCK_BITS})


def slot_write_layout(g: Geometry):
    """A slot to encrypt and write."""
    return data.StructLayout({"page": g.page_bits, "at": slot_bits(g), "nonce": NONCE_BITS,
                              "word": SLOT_BLOCK_BITS})


class HostPort(wiring.Component):
    """``key`` (the slot key), ``read``, ``plaintext``, ``write`` and ``encrypted`` for the
    sequencer and the page buffer; ``request`` and ``response`` to the host the bench serves."""

    def __init__(self, g: Geometry):
        self.g = g
        super().__init__({
            "key": In(128),
            "read": In(stream.Signature(g.page_bits)),
            "plaintext": Out(stream.Signature(plaintext_layout(g), always_ready=True)),
            "write": In(stream.Signature(slot_write_layout(g))),
            "encrypted": Out(1),
            "request": Out(stream.Signature(host_request_layout(g))),
            "response": In(stream.Signature(g.host_width)),
        })

    def elaborate(self, platform):
        m = Module()
        S, bits = self.g.slots, slot_bits(self.g)
        read, plaintext, write = self.read, self.plaintext, self.write
        request, response = self.request, self.response

        m.submodules.aes = aes = Aes128()
        m.d.comb += aes.key.eq(self.key)
        issued = Signal(range(S + 1))         # read requests sent for this page
        received = Signal(range(S + 1))       # slots decrypted
        started = Signal()                    # the core works (or worked) on the current slot
        cipher = Signal(128)                  # its ciphertext: from the host, or for the host
        ciphered = Signal()                   # the slot to write is encrypted

        # -- read a page: S requests back to back, each slot decrypted as it arrives ----------
        with m.If(read.valid):
            m.d.comb += [request.valid.eq(issued < S),
                         request.payload.address.eq(Cat(issued[:bits], read.payload)),
                         request.payload.write.eq(0)]
            with m.If(request.valid & request.ready):
                m.d.sync += issued.eq(issued + 1)
            # one slot in the core at a time
            m.d.comb += response.ready.eq(~started)
            with m.If(response.valid & response.ready):
                nonce = response.payload[SLOT_BLOCK_BITS:SLOT_BLOCK_BITS + NONCE_BITS]
                m.d.comb += [aes.block.eq(Cat(received[:bits], Const(0, 64 - bits), nonce)),
                             aes.start.eq(1)]
                m.d.sync += [cipher.eq(response.payload[:SLOT_BLOCK_BITS]), started.eq(1)]
            m.d.comb += [plaintext.valid.eq(aes.done), plaintext.payload.at.eq(received[:bits]),
                         plaintext.payload.word.eq(cipher ^ aes.result)]
            with m.If(aes.done):
                m.d.sync += [received.eq(received + 1), started.eq(0)]
                with m.If(equals(received, S - 1)):
                    m.d.comb += read.ready.eq(1)
                    m.d.sync += [issued.eq(0), received.eq(0)]

        # -- write a slot: encrypt it, then offer the host its ciphertext and nonce ----------
        with m.If(write.valid & ~ciphered):
            m.d.comb += [aes.block.eq(Cat(write.payload.at, Const(0, 64 - bits), write.payload.nonce)),
                         aes.start.eq(~aes.busy & ~started)]
            with m.If(aes.start):
                m.d.sync += started.eq(1)
            with m.If(aes.done):
                m.d.comb += self.encrypted.eq(1)
                m.d.sync += [cipher.eq(write.payload.word ^ aes.result), ciphered.eq(1)]
        with m.If(write.valid & ciphered):
            m.d.comb += [request.valid.eq(1),
                         request.payload.address.eq(Cat(write.payload.at, write.payload.page)),
                         request.payload.write.eq(1),
                         request.payload.data.eq(Cat(cipher, write.payload.nonce))]
            with m.If(request.ready):
                m.d.comb += write.ready.eq(1)
                m.d.sync += [started.eq(0), ciphered.eq(0)]
        return m
