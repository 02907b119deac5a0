"""Progress of a long run on stderr: a bar with the total, the percentage and the time left on a terminal,
and where stderr is not a terminal (a log file, CI, a cluster job) one plain line every so often.

`ASSAY_PROGRESS_EVERY_S` sets how often that line is printed (default 30 seconds).
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
import time
from pathlib import Path
from typing import IO, Any, Literal

from tqdm import tqdm

Mode = Literal["bar", "lines", "off"]
DEFAULT_EVERY_S = 30.0
#: Counting the lines of an input first is given up past this long (the bar then shows no total).
COUNT_BUDGET_S = 3.0
_CHUNK = 1 << 20


def count_lines(path: str | Path, budget_s: float = COUNT_BUDGET_S) -> int | None:
    """The number of lines of a regular file (`.gz` decompressed), or None: not a regular file, unreadable, or
    longer to count than `budget_s`. Blank lines count too, so the total can run a little high."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        opener: Any = gzip.open if str(path).endswith(".gz") else open
        deadline = time.monotonic() + budget_s
        lines, last = 0, b"\n"
        with opener(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
                if time.monotonic() > deadline:
                    return None
        return lines + (last != b"\n")
    except (OSError, EOFError, ValueError):
        return None


def _every_s() -> float:
    try:
        return max(0.0, float(os.environ.get("ASSAY_PROGRESS_EVERY_S", DEFAULT_EVERY_S)))
    except ValueError:
        return DEFAULT_EVERY_S


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class Progress:
    """`update(n)` as items are done, `close()` at the end. `mode` None: a bar on a terminal, else lines."""

    def __init__(
        self, label: str, total: int | None, mode: Mode | None = None, stream: IO[str] | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.mode: Mode = mode or ("bar" if self.stream.isatty() else "lines")
        self.label, self.total = label, total
        self.done = 0
        self.started = self.last_line = time.monotonic()
        self.every_s = _every_s()
        self.bar = tqdm(desc=label, unit=" samples", total=total, file=self.stream) if self.mode == "bar" else None

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.mode == "lines" and n:
            now = time.monotonic()
            if now - self.last_line >= self.every_s:
                self.last_line = now
                print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        """`math: 12,000 of 29,970 samples (40 %), 1,200/s, about 15 s left`."""
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done:,}"
        if self.total:
            text += f" of {self.total:,} samples ({100 * min(self.done / self.total, 1.0):.0f} %)"
        else:
            text += " samples"
        text += f", {rate:,.0f}/s, {_duration(elapsed)} so far"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
