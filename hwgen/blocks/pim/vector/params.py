"""``pim_vector_unit``'s parameters."""

from __future__ import annotations

from ....core.params import Param, ParamSet
from . import golden
from .pipeline import DEFAULT_TARGET_MHZ, max_target_mhz

MAX_LEN_LIMIT = 1 << 14  # the 1/n table is exact up to here (see reciprocal_table)
FP32_MAX_FINITE = 0x7F7FFFFF
# Up to 9.1 MHz every operator runs at latency 0 (the slowest at latency 0, GELU, measures
# 11.9 MHz, and operators are chosen for 1.3 times the target), so the targets there
# all build the same, shortest pipeline.
MIN_TARGET_MHZ = 1.0
# The unit's Fmax at its defaults as measured (`hwgen synth pim_vector_unit --target ecp5 --device
# 85k`, nextpnr seed 1; docs/pim_vector_unit.md, "Synthesis results"): below its 100 MHz target,
# the clock `hwgen model pim-gpt` also times the ASIC work at, to show a prototype's token time.
MEASURED_FMAX_MHZ = 88.2

PARAMS = ParamSet(params=(
    Param("lanes", int, 4, "bf16 elements per beat", min=1, max=16),
    Param("max_len", int, 1024, "longest vector (elements) the buffers hold", min=256,
          max=MAX_LEN_LIMIT),
    Param("eps", int, golden.EPS_DEFAULT, "LayerNorm epsilon as an fp32 bit pattern "
          "(default 0x3727C5AC = 1e-5); non-negative and finite", min=0, max=FP32_MAX_FINITE),
    Param("ftz", bool, False, "flush subnormal inputs and results to zero in every operator"),
    Param("target_mhz", float, DEFAULT_TARGET_MHZ,
          "clock target on ECP5-85k: each operator at the smallest latency whose measured Fmax "
          "reaches 1.3 times it, or its best (docs/pim_vector_unit.md, Parameters); "
          "the default is the 90 MHz goal with a 10% margin", min=MIN_TARGET_MHZ, max=max_target_mhz()),
))
