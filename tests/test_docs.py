"""The tutorial in docs/writing-a-block.md works as written: its block code and its run
snippet are extracted from the Markdown and executed (generate, lint, both simulators)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def fenced_after(marker: str, text: str) -> str:
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)\n```", text, re.DOTALL)
    assert match, f"docs/writing-a-block.md has no {marker} block"
    return match.group(1)


@pytest.mark.verilator
def test_tutorial_block_runs(tmp_path):
    text = (REPO / "docs" / "writing-a-block.md").read_text()
    script = tmp_path / "tutorial.py"
    script.write_text(fenced_after("tutorial-block", text) + "\n\n" + fenced_after("tutorial-run", text) + "\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lint clean" in done.stdout and "cycles = model" in done.stdout


def test_docs_exist_for_every_block():
    from hwgen import blocks

    # blocks that tests register from their own files are not the product's
    for name in [n for n in blocks.names() if blocks.block_class(n).__module__.startswith("hwgen.")]:
        doc = REPO / "docs" / f"{name}.md"
        assert doc.exists(), f"{name} has no docs/{name}.md"
        headings = [line.lower() for line in doc.read_text().splitlines() if line.startswith("## ")]
        for topic in ("origin", "microarchitecture", "parameters", "ports", "golden model",
                      "performance model"):
            assert any(topic in h for h in headings), f"docs/{name}.md has no section on {topic}"
