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


def pytest_runtest_logreport(report):
    """With HWGEN_TEST_TIMES=<file>, append each test's call duration as it finishes, and a
    setup or teardown that failed or took over a second (a module fixture's build), as
    ``seconds, outcome, phase, test id``: a profile of a long run that survives an interrupted
    session. (Under pytest-xdist both the worker and the controller see each report: sort
    the file with ``sort -u``.)"""
    import os

    path = os.environ.get("HWGEN_TEST_TIMES")
    if path and (report.when == "call" or report.failed or report.duration > 1.0):
        with open(path, "a") as f:
            f.write(f"{report.duration:.2f}\t{report.outcome}\t{report.when}\t{report.nodeid}\n")
