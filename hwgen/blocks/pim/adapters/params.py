"""Parameters of the pim adapters and the host-beat fields they pass on."""

from __future__ import annotations

from ....core.params import Param, ParamSet
from ...common import dtypes
from ..channel.params import HOST_FIELDS  # noqa: F401  (the adapters pass these on)

SPLICE_FIELDS = ("splice", "lane", "pop")

ACC_TO_BF16_PARAMS = ParamSet(params=(
    Param("banks", int, 4, "accumulators per input beat (the channel's banks)", min=1, max=32),
    Param("lanes", int, 4, "bf16 elements per output beat", min=1, max=32),
    Param("acc", str, "fp32", "accumulator format of the channel", choices=("fp32", "bf16")),
    Param("ftz", bool, False, "flush subnormal results to zero"),
))

SPLICE_PARAMS = ParamSet(params=(
    Param("banks", int, 4, "the channel's banks", min=1, max=32),
    Param("lanes", int, 4, "the channel's lanes (elements per column)", min=1, max=32),
    Param("dtype", str, "bf16", "the channel's element type", choices=dtypes.DTYPES),
    Param("row_columns", int, 64, "the channel's column accesses per DRAM row", min=1, max=256),
    Param("bank_rows", int, 64, "the channel's DRAM rows per bank", min=1, max=4096),
    Param("gb_columns", int, 64, "the channel's global-buffer columns", min=1, max=256),
))
