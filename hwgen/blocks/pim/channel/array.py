"""One bank's DRAM array in ``pim_channel``: ``words`` column words in block RAMs, sliced so
that every block RAM holds a few bits of every word instead of every bit of a few words.

A DP16KD holds 16 Kbit as 16384 x 1, 8192 x 2, 4096 x 4, 2048 x 9, 1024 x 18 or 512 x 36. A
bank of 4096 words (64 rows of 64 columns) of 128 bits (8 bf16 lanes) takes 32 of them either
way. Cut by depth (512 x 36: eight blocks of four RAMs), every write bit went to eight RAMs and
every read word came from one of eight blocks spread over the die through a 1024-to-128
multiplexer; the 4-bank, 8-lane channel then placed at 53-61 MHz (nextpnr's estimate) and its
router had not finished after hours. Cut by width (4096 x 4: each RAM four bits of every
word), a write bit goes to one RAM, a read bit comes from one RAM, and the address is the only
net a bank's RAMs share. So the array is ``slice_bits``-wide memories of ``block_words`` words,
``slice_bits`` the widest that keeps a slice in one RAM: a power-of-two part of one element
(taking that element's write enable) or whole elements (one enable bit each). Only arrays
deeper than one RAM at one bit a word are also cut by depth, into ``blocks``.

Each slice's read is registered beside its RAM (a DP16KD's read data is slow: 5.8 ns clock to
out on ECP5), and once more after the block choice (when there is one). Writes are registered
per array, the slices' element enables decoded before the register, so a LOAD decided in the
controller (its state, the host handshake, the mask) is a register away from every RAM."""

from __future__ import annotations

import math

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ....core.ints import index_bits
from ....core.logic import delay, equals, select
from ....core.memories import simple_dual_port

RAM_BITS = 16384   # a DP16KD's data bits (the 9-, 18- and 36-bit modes' ninth bits unused)
READ_LATENCY = 3   # the RAM's synchronous read, the register beside it, the register after the choice


class BankArray(wiring.Component):
    """``words`` words of ``lanes`` elements of ``element_bits``, each element written on its
    own (``write_en``, one bit per element). A read of ``read_addr`` in cycle t gives
    ``read_data`` in cycle t + READ_LATENCY; a write presented in cycle t is written at the end of
    cycle t + 1 and can be read from cycle t + 2. A read of a word in the cycle it is written is
    undefined on the FPGA (``simple_dual_port``; simulators return the old word): the channel
    never uses one (LOADs are taken in IDLE, a GEMV's first MAC_ABK issues at least three cycles
    later)."""

    def __init__(self, words: int, lanes: int, element_bits: int):
        self.words, self.lanes, self.element_bits = words, lanes, element_bits
        # at least two words a block: a one-word memory has a zero-width address, which
        # Verilog cannot declare
        self.block_words = max(2, min(words, RAM_BITS))
        self.blocks = -(-words // self.block_words)
        # the bits of a word one RAM holds at this depth (a power of two), as whole elements
        # where it holds one or more (as many as divide the lanes), else a part of one
        fitting = max(1, RAM_BITS >> (self.block_words - 1).bit_length())
        if fitting >= element_bits:
            self.slice_bits = element_bits * math.gcd(lanes, 1 << (fitting // element_bits).bit_length() - 1)
        else:
            self.slice_bits = math.gcd(element_bits, fitting)
        address = unsigned(index_bits(max(2, words)))
        super().__init__({
            "write_addr": In(address), "write_data": In(unsigned(lanes * element_bits)),
            "write_en": In(lanes),
            "read_addr": In(address), "read_data": Out(unsigned(lanes * element_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        offset_bits = index_bits(self.block_words)
        slices = self.lanes * self.element_bits // self.slice_bits
        # a slice's write enable: its element's, or its elements' (one bit each)
        slice_elements = max(1, self.slice_bits // self.element_bits)
        # the write stage: address and data held while no element of this array is written
        # (so the registers of different arrays never share an input, and Yosys keeps one copy
        # beside each array), each block's element enables decoded from the address
        write_addr = Signal.like(self.write_addr, name="write_addr_q")
        write_data = Signal.like(self.write_data, name="write_data_q")
        with m.If(self.write_en.any()):
            m.d.sync += [write_addr.eq(self.write_addr), write_data.eq(self.write_data)]
        block_outputs = []
        for block in range(self.blocks):
            enable = Signal(self.lanes, name=f"block{block}_write_en")
            in_block = self.write_en
            if self.blocks > 1:
                in_block = in_block & equals(self.write_addr[offset_bits:], block).replicate(self.lanes)
            m.d.sync += enable.eq(in_block)
            outputs = []
            for index in range(slices):
                bits = slice(index * self.slice_bits, (index + 1) * self.slice_bits)
                first = index * self.slice_bits // self.element_bits   # its (first) element
                write, read = simple_dual_port(m, f"block{block}_slice{index}", shape=unsigned(self.slice_bits),
                                               depth=self.block_words,
                                               granularity=min(self.slice_bits, self.element_bits))
                m.d.comb += [write.addr.eq(write_addr[:offset_bits]), write.data.eq(write_data[bits]),
                             write.en.eq(enable[first:first + slice_elements]),
                             read.addr.eq(self.read_addr[:offset_bits])]
                outputs.append(read.data)
            block_outputs.append(delay(m, Cat(*outputs), 1, f"block{block}_data"))
        # the block a read chose, two cycles on (the RAM's read, the register beside it)
        which = delay(m, self.read_addr[offset_bits:], 2, "read_block") if self.blocks > 1 else 0
        chosen_data = select(block_outputs, which) if self.blocks > 1 else block_outputs[0]
        m.d.sync += self.read_data.eq(chosen_data)
        return m
