"""``pim_bank_mac``'s cycle model."""

from __future__ import annotations

from ....core.block import Estimate


def estimate(workload, latency: int, lanes: int, element_bits: int, acc_bits: int) -> Estimate:
    """Never stalled, the block takes one operation per edge; the last read's value leaves
    ``latency`` edges after that read was accepted. ``workload``: counts of ops, macs, loads
    and reads, and the index of the last read (``PimBankMac.workload``)."""
    last = workload["last_read"]
    element_bytes = (element_bits + 7) // 8
    acc_bytes = (acc_bits + 7) // 8
    return Estimate(
        cycles=last + 1 + latency if last >= 0 else 0,
        latency=latency,
        busy=workload["ops"],
        bytes_in=workload["macs"] * 2 * lanes * element_bytes + workload["loads"] * acc_bytes,
        bytes_out=workload["reads"] * acc_bytes,
    )
