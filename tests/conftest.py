"""Shared fixtures. Verilator builds are cached by Verilog hash (``sim.runner.build``, locked
across xdist workers), so each parameter point is built once however many tests use it; the
generated files of a session go to one temporary ``rtl_out``."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def rtl_out(tmp_path_factory):
    return tmp_path_factory.mktemp("rtl_out")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
