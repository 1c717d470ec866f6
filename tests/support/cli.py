"""Running ``hwgen`` as a user does: a fresh interpreter, this checkout on its path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def hwgen(*args: str, cwd: Path | str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m hwgen ARGS`` in ``cwd``, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "hwgen", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})
