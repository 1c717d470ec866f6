"""``pim_bank_mac``'s cycle model."""

from __future__ import annotations

from ....core.block import Estimate


def estimate(workload, latency: int, lanes: int, element_bits: int, acc_bits: int,
             hold: int = 0) -> Estimate:
    """Never stalled, the block takes one operation per edge, and after each load or read
    (an interleaved accumulator's) none for ``hold`` more; the last read's value leaves
    ``latency`` edges after that read was accepted. ``workload``: counts of ops, macs, loads
    and reads, the index of the last read and the loads and reads before it
    (``PimBankMac.workload``)."""
    last = workload["last_read"]
    accepted = last + hold * workload.get("controls_before_last_read", 0)
    element_bytes = (element_bits + 7) // 8
    acc_bytes = (acc_bits + 7) // 8
    return Estimate(
        cycles=accepted + 1 + latency if last >= 0 else 0,
        latency=latency,
        busy=workload["ops"],
        bytes_in=workload["macs"] * 2 * lanes * element_bytes + workload["loads"] * acc_bytes,
        bytes_out=workload["reads"] * acc_bytes,
    )
