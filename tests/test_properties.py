"""Property test over the parameter space: every draw either raises ParamError (naming the
parameter) or elaborates, lints clean and simulates bit-exactly under stalls.

Draws are simulated in Amaranth's Python simulator, which needs no compile step, so many points
fit in the suite's time; the Verilator path is covered point by point in test_*_sim.py.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, event, given, settings, strategies as st

from hwgen import blocks, toolchain
from hwgen.core.params import ParamError
from hwgen.generate import generate
from sim.pysim import simulate_pysim

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def check(name, params, rtl_out, vectors):
    try:
        block = blocks.get(name, **params)
    except ParamError as error:
        assert any(f"{key}=" in str(error) for key in params), error
        event("ParamError")
        return
    event("simulated")
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []
    result = simulate_pysim(block, vectors=vectors, seed=len(str(params)), idle=0.2, backpressure=0.3)
    assert result.passed, (params, result.summary()["verdict"])
    inputs = block.stimulus(np.random.default_rng(1), vectors)
    clean = simulate_pysim(block, inputs)
    assert clean.passed and clean.cycles == block.model(block.workload(inputs)).cycles


def with_one_spoiled(data, params, outside):
    """Now and then (one draw in four) replace one parameter by a value outside its range."""
    spoil = data.draw(st.sampled_from([None] * (3 * len(outside)) + list(outside)), label="spoiled")
    if spoil is not None:
        params[spoil] = data.draw(st.sampled_from(outside[spoil]), label=spoil)
    return params


@settings(SETTINGS, max_examples=15)
@given(data=st.data(), lanes=st.integers(1, 40) | st.just(256), width=st.integers(2, 32),
       signed=st.booleans(), vector_length=st.integers(1, 6) | st.just(4096),
       acc_width=st.sampled_from([0, 0, 0, 80]))
def test_mac_array_parameter_space(data, lanes, width, signed, vector_length, acc_width, rtl_out):
    depth = (lanes - 1).bit_length()
    params = dict(lanes=lanes, width=width, signed=signed, vector_length=vector_length,
                  tree_stages=data.draw(st.integers(0, depth), label="tree_stages"),
                  acc_width=acc_width)
    params = with_one_spoiled(data, params, {
        "lanes": [0, 257], "width": [1, 33], "vector_length": [0, 4097], "acc_width": [5, 257],
        "tree_stages": [-1, depth + 1, 9]})
    vectors = 2 if params["vector_length"] * params["lanes"] > 1000 else 12
    check("mac_array", params, rtl_out, vectors)


@settings(SETTINGS, max_examples=25)
@given(data=st.data(), in_width=st.integers(2, 130), out_width=st.integers(2, 64),
       signed=st.booleans(), rounding=st.sampled_from(["truncate", "half_up"]))
def test_requant_parameter_space(data, in_width, out_width, signed, rounding, rtl_out):
    params = dict(in_width=in_width, out_width=out_width, signed=signed, rounding=rounding,
                  shift=data.draw(st.integers(0, in_width - 1), label="shift"))
    params = with_one_spoiled(data, params, {
        "in_width": [1, 257], "out_width": [1, 65], "shift": [-1, in_width, 256],
        "rounding": ["nearest"]})
    check("requant", params, rtl_out, 40)
