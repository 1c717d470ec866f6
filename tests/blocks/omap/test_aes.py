"""The AES-128 core (hwgen/blocks/omap/rtl/aes.py) against the `cryptography` package's AES: the
FIPS-197 example vectors and random keys and blocks, on Amaranth's simulator; lint clean."""

from __future__ import annotations

import random

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hwgen import toolchain
from hwgen.blocks.omap.rtl.aes import ROUNDS, SBOX, Aes128

FIPS_197 = [
    # Appendix B (the cipher example) and Appendix C.1 (AES-128)
    ("2b7e151628aed2a6abf7158809cf4f3c", "3243f6a8885a308d313198a2e0370734",
     "3925841d02dc09fbdc118597196a0b32"),
    ("000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff",
     "69c4e0d86a7b0430d8cdb78070b4c55a"),
]


def reference(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def run(cases, *, start_while_busy=False):
    """Encrypt each (key, block) on the core; return (ciphertext bytes, cycles to done)."""
    dut = Aes128()
    results = []

    async def bench(ctx):
        for key, block in cases:
            ctx.set(dut.key, int.from_bytes(key, "big"))
            ctx.set(dut.block, int.from_bytes(block, "big"))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, int(start_while_busy))
            if start_while_busy:  # new operands offered during the rounds must be ignored
                ctx.set(dut.block, 0)
            cycles = 0
            while not ctx.get(dut.done):
                assert ctx.get(dut.busy)
                await ctx.tick()
                cycles += 1
            ctx.set(dut.start, 0)
            results.append((ctx.get(dut.result).to_bytes(16, "big"), cycles))
            await ctx.tick()
            assert not ctx.get(dut.done)  # a one-cycle pulse

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return results


def test_sbox_is_the_aes_sbox():
    assert sorted(SBOX) == list(range(256))
    assert (SBOX[0x00], SBOX[0x01], SBOX[0x53], SBOX[0xFF]) == (0x63, 0x7C, 0xED, 0x16)


def test_fips_197_vectors():
    cases = [(bytes.fromhex(k), bytes.fromhex(p)) for k, p, _ in FIPS_197]
    for (ciphertext, cycles), (_, _, expected) in zip(run(cases), FIPS_197):
        assert ciphertext.hex() == expected
        assert cycles == ROUNDS


@pytest.mark.parametrize("seed", [1, 2])
def test_random_keys_and_blocks_match_cryptography(seed):
    rng = random.Random(seed)
    cases = [(rng.randbytes(16), rng.randbytes(16)) for _ in range(100)]
    cases += [(bytes(16), bytes(16)), (b"\xff" * 16, b"\xff" * 16)]
    for (key, block), (ciphertext, _) in zip(cases, run(cases)):
        assert ciphertext == reference(key, block)


def test_start_while_busy_is_ignored():
    rng = random.Random(3)
    cases = [(rng.randbytes(16), rng.randbytes(16)) for _ in range(5)]
    for (key, block), (ciphertext, _) in zip(cases, run(cases, start_while_busy=True)):
        assert ciphertext == reference(key, block)


def test_lint_clean(tmp_path):
    path = tmp_path / "aes128.v"
    path.write_text(verilog.convert(Aes128(), name="aes128"))
    assert toolchain.lint(path, "aes128") == []
