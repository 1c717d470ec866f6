"""The CTR_DRBG (hwgen/blocks/omap/drbg.py) on Amaranth's simulator against its golden model
(SP 800-90A CTR_DRBG, AES-128, no derivation function, on the `cryptography` package's AES):
every block, across request boundaries (the Update after each request), under random
back-pressure, and across a reseed."""

from __future__ import annotations

import random

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from hwgen import toolchain
from hwgen.blocks.omap.drbg import CtrDrbg, drbg_blocks


def run(dut, seeds_and_counts, rng, backpressure=0.0):
    """For each (seed, count): seed the generator, then take ``count`` blocks."""
    taken = []

    async def bench(ctx):
        for seed, count in seeds_and_counts:
            ctx.set(dut.random.ready, 0)
            ctx.set(dut.seed.payload, int.from_bytes(seed, "big"))
            ctx.set(dut.seed.valid, 1)
            while True:
                _, _, ready = await ctx.tick().sample(dut.seed.ready)
                if ready:
                    break
            ctx.set(dut.seed.valid, 0)
            blocks = []
            while len(blocks) < count:
                ready = not (backpressure and rng.random() < backpressure)
                ctx.set(dut.random.ready, ready)
                _, _, valid, ready_seen, payload = await ctx.tick().sample(
                    dut.random.valid, dut.random.ready, dut.random.payload)
                if valid and ready_seen:
                    blocks.append(payload.to_bytes(16, "big"))
            taken.append(blocks)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return taken


@pytest.mark.parametrize("per_request", [1, 3, 4])
def test_blocks_match_the_golden_model(per_request):
    rng = random.Random(per_request)
    seed = rng.randbytes(32)
    [blocks] = run(CtrDrbg(per_request), [(seed, 13)], rng)
    assert blocks == drbg_blocks(seed, 13, per_request)
    assert len(set(blocks)) == len(blocks)


def test_back_pressure_and_reseed():
    rng = random.Random(7)
    seeds = [rng.randbytes(32) for _ in range(2)]
    first, second = run(CtrDrbg(4), [(seeds[0], 9), (seeds[1], 6)], rng, backpressure=0.5)
    assert first == drbg_blocks(seeds[0], 9, 4)
    assert second == drbg_blocks(seeds[1], 6, 4)


def test_golden_model_properties():
    seed = bytes(range(32))
    blocks = drbg_blocks(seed, 8, 4)
    assert drbg_blocks(seed, 8, 4) == blocks                      # deterministic
    assert drbg_blocks(seed, 4, 4) == blocks[:4]                  # a prefix is a prefix
    assert drbg_blocks(seed, 8, 2) != blocks                      # requests' Updates matter
    assert drbg_blocks(bytes(32), 8, 4) != blocks
    with pytest.raises(ValueError, match="seed must be 32 bytes"):
        drbg_blocks(b"short", 1)
    with pytest.raises(ValueError, match="blocks_per_request=0"):
        CtrDrbg(0)


def test_lint_clean(tmp_path):
    path = tmp_path / "drbg.v"
    path.write_text(verilog.convert(CtrDrbg(4), name="drbg"))
    assert toolchain.lint(path, "drbg") == []
