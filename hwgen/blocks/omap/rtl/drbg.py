"""A counter-mode random bit generator on the AES-128 core: NIST SP 800-90A CTR_DRBG with
AES-128 and no derivation function, for the oblivious map's placements and dummy reads
(issue 7). The golden model (``drbg_blocks``) follows the same standard with the
`cryptography` package's AES.

* A beat on ``seed`` (256 bits of seed material) instantiates: K = V = 0, then Update(seed).
* Each output block: V = V + 1, out = AES_K(V). After every ``blocks_per_request`` blocks
  (one generate request) the state moves on with Update(0), so earlier outputs cannot be
  recomputed from a later state (backtracking resistance).
* Update(provided): two blocks AES_K(V + 1), AES_K(V + 2) (V counting as it goes), XORed
  with ``provided``, become the new K (the first 16 bytes) and V.

Until the first seed the output stream is not valid.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .aes import Aes128

MASK128 = (1 << 128) - 1

# phases (nonzero codes)
UNSEEDED, UPDATE_LOW, UPDATE_HIGH, GENERATE, HOLD = range(1, 6)


class CtrDrbg(wiring.Component):
    seed: In(stream.Signature(256))
    random: Out(stream.Signature(128))

    def __init__(self, blocks_per_request: int = 4):
        if not 1 <= blocks_per_request <= 1 << 16:
            self._MustUse__silence = True  # never built, so not an unused elaboratable either
            raise ValueError(f"blocks_per_request={blocks_per_request} is out of range: "
                             f"allowed 1..65536")
        self.blocks_per_request = blocks_per_request
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.aes = aes = Aes128()
        key = Signal(128)
        counter = Signal(128)
        provided = Signal(256)
        first_half = Signal(128)
        phase = Signal(range(HOLD + 1), init=UNSEEDED)
        issued = Signal()          # the AES core is working for this phase
        produced = Signal(range(self.blocks_per_request + 1))
        next_counter = (counter + 1)[:128]

        m.d.comb += [aes.key.eq(key), aes.block.eq(next_counter)]
        # a reseed waits for an offered block to be taken (a stream never withdraws a beat)
        m.d.comb += self.seed.ready.eq(~aes.busy & ~issued & ~self.random.valid)
        with m.If(self.seed.valid & self.seed.ready):
            m.d.sync += [key.eq(0), counter.eq(0), provided.eq(self.seed.payload),
                         phase.eq(UPDATE_LOW), self.random.valid.eq(0)]
        with m.Elif((phase == UPDATE_LOW) | (phase == UPDATE_HIGH) | (phase == GENERATE)):
            with m.If(~issued):
                m.d.comb += aes.start.eq(1)
                m.d.sync += [issued.eq(1), counter.eq(next_counter)]
            with m.Elif(aes.done):
                m.d.sync += issued.eq(0)
                with m.If(phase == UPDATE_LOW):
                    m.d.sync += [first_half.eq(aes.result), phase.eq(UPDATE_HIGH)]
                with m.Elif(phase == UPDATE_HIGH):
                    m.d.sync += [key.eq(first_half ^ provided[128:]),
                                 counter.eq(aes.result ^ provided[:128]),
                                 produced.eq(0), phase.eq(GENERATE)]
                with m.Else():
                    m.d.sync += [self.random.payload.eq(aes.result), self.random.valid.eq(1),
                                 produced.eq(produced + 1), phase.eq(HOLD)]
        with m.Elif(phase == HOLD):
            with m.If(self.random.ready):
                m.d.sync += self.random.valid.eq(0)
                with m.If(produced == self.blocks_per_request):
                    m.d.sync += [provided.eq(0), phase.eq(UPDATE_LOW)]
                with m.Else():
                    m.d.sync += phase.eq(GENERATE)
        return m
