"""``pim_bank_mac``'s parameters: those of the shared bank MAC core it wraps."""

from __future__ import annotations

from ...common.bank_mac.params import PARAMS, mac_latency, tree_depth

__all__ = ["PARAMS", "mac_latency", "tree_depth"]
