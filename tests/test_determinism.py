"""Same parameters, same bytes: across runs, across working folders, across checkout folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POINTS = [("mac_array", ["lanes=7", "signed=false", "tree_stages=2"]), ("requant", ["shift=3"])]


def generate_in_checkout(checkout: Path, workdir: Path, block: str, params: list[str]) -> Path:
    workdir.mkdir(parents=True)
    args = [sys.executable, "-m", "hwgen", "generate", block, *sum((["-p", p] for p in params), [])]
    done = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(checkout)})
    assert done.returncode == 0, done.stderr
    return workdir / Path(done.stdout.splitlines()[0]).parent


def test_byte_identical_across_checkouts_and_folders(tmp_path):
    checkouts = []
    for place in ("first/checkout", "elsewhere/deeper/other_name"):
        target = tmp_path / place
        for package in ("hwgen", "sim"):
            shutil.copytree(REPO / package, target / package,
                            ignore=shutil.ignore_patterns("__pycache__"))
        checkouts.append(target)
    for block, params in POINTS:
        a = generate_in_checkout(checkouts[0], tmp_path / f"run_a_{block}", block, params)
        b = generate_in_checkout(checkouts[1], tmp_path / f"run_b_{block}" / "x", block, params)
        again = generate_in_checkout(checkouts[0], tmp_path / f"run_c_{block}", block, params)
        assert a.name == b.name == again.name
        for name in (f"{block}.v", "manifest.json"):
            assert (a / name).read_bytes() == (b / name).read_bytes() == (again / name).read_bytes()
        text = (a / f"{block}.v").read_text() + (a / "manifest.json").read_text()
        for place in [str(tmp_path), str(REPO), os.path.expanduser("~")]:
            assert place not in text, f"generated output mentions {place}"
        assert "src =" not in text  # Amaranth's source-location attributes carry absolute paths
