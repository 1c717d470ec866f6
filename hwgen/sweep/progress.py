"""Live progress of a sweep: a rich progress bar with done / failed / timed-out / invalid counts
and an ETA, or one log line per point with ``--quiet`` (for CI logs and files)."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn


class SweepProgress:
    def __init__(self, spec, quiet: bool = False):
        self.spec = spec
        self.quiet = quiet
        self.counts = {"ok": 0, "failed": 0, "timeout": 0, "invalid": 0}
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self):
        if not self.quiet:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("ok {task.fields[ok]}  failed {task.fields[failed]}  "
                           "timeout {task.fields[timeout]}  invalid {task.fields[invalid]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=sys.stderr), transient=False)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def _log(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def update(self, event: str, info: dict) -> None:
        if event == "planned":
            self.counts.update(info["counts"])
            done = info["total"] - info["remaining"]
            if self.progress is not None:
                self.task = self.progress.add_task(self.spec.name, total=info["total"],
                                                   completed=done, **self.counts)
            else:
                self._log(f"sweep {self.spec.name}: {info['total']} points: {done} already done, "
                          f"cached or invalid ({self.counts['invalid']} invalid), "
                          f"{info['remaining']} to run")
            return
        self.counts[info["status"]] += 1
        if self.progress is not None:
            self.progress.update(self.task, advance=1, **self.counts)
        else:
            params = ", ".join(f"{k}={v}" for k, v in info["params"].items() if k in self.spec.axes)
            error = f": {info['error']}" if info.get("error") else ""
            self._log(f"point {info['point_id']} ({params}): {info['status']} in "
                      f"{info['wall_s']:.1f} s{error}")
