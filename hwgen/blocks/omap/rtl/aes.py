"""AES-128 encryption in RTL, iterative (one round per cycle), for counter-mode encryption of
the oblivious map's host slots (issue 7, after BOLT).

Only the forward cipher is built: counter mode encrypts and decrypts with it. The round keys
are expanded on the fly beside the rounds, so the core holds one round key, not eleven. The
S-box is computed here from its definition (the multiplicative inverse in GF(2^8) modulo
x^8 + x^4 + x^3 + x + 1, then the affine map with 0x63), not copied from a table.

Byte order: a 128-bit value holds AES byte 0 in its top 8 bits, so ``int.from_bytes(b, "big")``
of a 16-byte block is its port value (FIPS-197's "input" order).
"""


from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

ROUNDS = 10


def _gf_mul(a: int, b: int) -> int:
    product = 0
    while b:
        if b & 1:
            product ^= a
        a = (a << 1) ^ (0x11B if a & 0x80 else 0)
        b >>= 1
    return product


def sbox_table() -> list[int]:
    inverse = [0] * 256
    for a in range(1, 256):
        inverse[a] = next(b for b in range(1, 256) if _gf_mul(a, b) == 1)
    table = []
    for a in range(256):
        x = inverse[a]
        # b_i ^ b_{i+4} ^ b_{i+5} ^ b_{i+6} ^ b_{i+7} ^ c_i, c = 0x63 (rotations of x)
        rotations = [((x << k) | (x >> (8 - k))) & 0xFF for k in range(1, 5)]
        value = x ^ 0x63
        for r in rotations:
            value ^= r
        table.append(value)
    return table


def round_constants() -> list[int]:
    rcon, value = [], 1
    for _ in range(ROUNDS):
        rcon.append(value)
        value = _gf_mul(value, 2)
    return rcon


SBOX = sbox_table()
RCON = round_constants()


def _bytes(value) -> list:
    """AES bytes 0..15 of a 128-bit value (byte 0 in the top bits)."""
    return [value[8 * (15 - i):8 * (16 - i)] for i in range(16)]


def _looked_up(m, rom, index, name) -> Signal:
    """rom[index] through a read port of its own, as a signal."""
    port = rom.read_port(domain="comb")
    out = Signal(8, name=name)
    m.d.comb += [port.addr.eq(index), out.eq(port.data)]
    return out


def _join(parts) -> Cat:
    return Cat(*reversed(parts))


class Aes128(wiring.Component):
    """``start`` (while idle) loads ``key`` and ``block``; ``ROUNDS`` cycles later ``done``
    pulses for one cycle with the ciphertext on ``result`` (held until the next start).
    ``busy`` is high while the rounds run; a ``start`` then is ignored."""

    key: In(128)
    block: In(128)
    start: In(1)
    result: Out(128)
    done: Out(1)
    busy: Out(1)

    def elaborate(self, platform):
        m = Module()
        # one ROM with a combinational read port per S-box lookup: Verilator compiles an
        # array read, where a 256-way case per lookup took minutes
        m.submodules.sbox = sbox = memory.Memory(shape=8, depth=256, init=SBOX)
        state = Signal(128)
        round_key = Signal(128)
        round_index = Signal(range(ROUNDS + 1))

        # next round key: w0' = w0 ^ SubWord(RotWord(w3)) ^ rcon, then each word ^= the one before
        key_bytes = _bytes(round_key)
        words = [key_bytes[4 * j:4 * j + 4] for j in range(4)]
        # (padded to 16 entries and indexed by 4 bits: a complete case in the Verilog)
        rcon_table = Array([Const(v, 8) for v in RCON] + [Const(0, 8)] * (16 - ROUNDS))
        rcon = rcon_table[(round_index - 1)[:4]]
        rotated = words[3][1:] + words[3][:1]
        temp = [_looked_up(m, sbox, b, f"key_sub{i}") for i, b in enumerate(rotated)]
        temp[0] = temp[0] ^ rcon
        next_words, previous = [], temp
        for j in range(4):
            word = [words[j][k] ^ previous[k] for k in range(4)]
            next_words.append(word)
            previous = word
        next_key = _join([b for word in next_words for b in word])

        # SubBytes, ShiftRows (byte r + 4c takes the byte of row r, column c + r), MixColumns
        substituted = [_looked_up(m, sbox, b, f"sub{i}") for i, b in enumerate(_bytes(state))]
        shifted = [substituted[(i % 4) + 4 * (((i // 4) + (i % 4)) % 4)] for i in range(16)]
        mixed = []
        for c in range(4):
            a = shifted[4 * c:4 * c + 4]
            doubled = [Mux(x[7], (x << 1)[:8] ^ 0x1B, (x << 1)[:8]) for x in a]
            for r in range(4):
                # 2*a_r ^ 3*a_{r+1} ^ a_{r+2} ^ a_{r+3}
                mixed.append(doubled[r] ^ doubled[(r + 1) % 4] ^ a[(r + 1) % 4] ^ a[(r + 2) % 4] ^ a[(r + 3) % 4])
        last = round_index == ROUNDS
        after = Mux(last, _join(shifted), _join(mixed)) ^ next_key

        m.d.comb += [self.result.eq(state)]
        m.d.sync += self.done.eq(0)
        with m.If(self.busy):
            m.d.sync += [state.eq(after), round_key.eq(next_key), round_index.eq(round_index + 1)]
            with m.If(last):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
        with m.Elif(self.start):
            m.d.sync += [state.eq(self.block ^ self.key), round_key.eq(self.key),
                         round_index.eq(1), self.busy.eq(1)]
        return m
