"""Writing a benchmark's table into a document, between a pair of HTML comment markers."""

from __future__ import annotations

import re
import sys
from pathlib import Path


def write_between_markers(path: Path, marker: str, text: str) -> None:
    """Replace what stands between ``<!-- marker:begin -->`` and ``<!-- marker:end -->`` in
    ``path`` with ``text``; exit with a message when the markers are missing."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    doc = path.read_text()
    if begin not in doc or end not in doc:
        sys.exit(f"{path}: the markers {begin} and {end} are missing")
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: f"{begin}\n{text}\n{end}",
                 doc, flags=re.S)
    path.write_text(doc)
    print(f"wrote the table into {path}", file=sys.stderr)
