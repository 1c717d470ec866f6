"""hwgen's machine-wide cache folder: ``$HWGEN_CACHE_DIR``, else ``~/.cache/hwgen``. It holds
generated Verilog (``verilog/``), simulator builds (``verilator/``, ``icarus/``) and the
sweep point cache; deleting it only costs time."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "HWGEN_CACHE_DIR"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hwgen")
