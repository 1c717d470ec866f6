"""``pim_vector_unit``'s parameters."""

from __future__ import annotations

from ....core.params import Param, ParamSet
from . import golden

MAX_LEN_LIMIT = 1 << 14  # the 1/n table is exact up to here (see reciprocal_table)
FP32_MAX_FINITE = 0x7F7FFFFF

PARAMS = ParamSet(params=(
    Param("lanes", int, 4, "bf16 elements per beat", min=1, max=16),
    Param("max_len", int, 1024, "longest vector (elements) the buffers hold", min=256,
          max=MAX_LEN_LIMIT),
    Param("eps", int, golden.EPS_DEFAULT, "LayerNorm epsilon as an fp32 bit pattern "
          "(default 0x3727C5AC = 1e-5); non-negative and finite", min=0, max=FP32_MAX_FINITE),
    Param("ftz", bool, False, "flush subnormal inputs and results to zero in every operator"),
))
