"""One bank's DRAM array in ``pim_channel``: ``words`` column words in block RAMs, with a read
path that closes timing however many block RAMs the array takes.

A block RAM's read data is slow (5.8 ns clock-to-out on ECP5) and a bank's array spreads over
many of them across the die; read through one memory, Yosys multiplexes their outputs behind
that delay, and a register behind the multiplexer is too far from most of them (the 4-bank,
8-lane channel: 84.3 MHz, 5.8 ns of routing after the clock-to-out). So the array is split into
blocks of ``BLOCK_WORDS`` words (one DP16KD deep at 36 bits a port), each read registered
beside its RAM, and the block is chosen from those registers into one more.

Writes are registered too, per array, with each block's element enables decoded before the
register: a LOAD decided in the controller (its state, the host handshake, the mask) drove the
write enables of every block RAM of every bank in the same cycle (the 4-bank, 8-lane channel:
77.4 MHz, 0.7 ns of logic and 11.4 ns of routing to a far RAM)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ....core.ints import index_bits
from ....core.logic import delay, equals, select
from ....core.memories import simple_dual_port

BLOCK_WORDS = 512
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
        self.block_words = max(2, min(words, BLOCK_WORDS))
        self.blocks = -(-words // self.block_words)
        address = unsigned(index_bits(max(2, words)))
        super().__init__({
            "write_addr": In(address), "write_data": In(unsigned(lanes * element_bits)),
            "write_en": In(lanes),
            "read_addr": In(address), "read_data": Out(unsigned(lanes * element_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        offset_bits = index_bits(self.block_words)
        # the write stage: address and data held while no element of this array is written
        # (so the registers of different arrays never share an input, and Yosys keeps one copy
        # beside each array), each block's element enables decoded from the address
        write_addr = Signal.like(self.write_addr, name="write_addr_q")
        write_data = Signal.like(self.write_data, name="write_data_q")
        with m.If(self.write_en.any()):
            m.d.sync += [write_addr.eq(self.write_addr), write_data.eq(self.write_data)]
        block_enables = []
        for index in range(self.blocks):
            enable = Signal(self.lanes, name=f"block{index}_write_en")
            in_block = self.write_en
            if self.blocks > 1:
                in_block = in_block & equals(self.write_addr[offset_bits:], index).replicate(self.lanes)
            m.d.sync += enable.eq(in_block)
            block_enables.append(enable)
        outputs = []
        for index in range(self.blocks):
            write, read = simple_dual_port(m, f"block{index}", shape=unsigned(self.lanes * self.element_bits),
                                           depth=self.block_words, granularity=self.element_bits)
            m.d.comb += [write.addr.eq(write_addr[:offset_bits]), write.data.eq(write_data),
                         write.en.eq(block_enables[index]), read.addr.eq(self.read_addr[:offset_bits])]
            outputs.append(delay(m, read.data, 1, f"block{index}_data"))
        # the block a read chose, two cycles on (the RAM's read, the register beside it)
        which = delay(m, self.read_addr[offset_bits:], 2, "read_block") if self.blocks > 1 else 0
        chosen_data = select(outputs, which) if self.blocks > 1 else outputs[0]
        m.d.sync += self.read_data.eq(chosen_data)
        return m
