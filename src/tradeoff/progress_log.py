"""Progress as log lines, by the clock: percentage done, examples/s and ETA at least every 30 s.

Under Snakemake stderr is no terminal, so no progress bar is drawn; a long job would otherwise say
nothing between its per-epoch lines. :class:`ProgressLog` is told how far the work is after each unit
(an optimizer step) and logs one line once ``interval_s`` have passed since its last line (or its
start). Rates count only the work done in this process (a resumed run's earlier work is not
timed), and the clock is injectable, so the lines are tested without sleeping.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["ProgressLog", "duration"]


def duration(seconds: float) -> str:
    """``seconds`` for a reader: ``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class ProgressLog:
    """Logs ``<label>: P% (done/total <what>), R examples/s, ETA T<note>`` every ``interval_s``.

    ``total``: units of the whole job; ``done``: units already done when it starts (a resumed run);
    ``note``: appended to each line (e.g. that the total is a cap the job may stop short of).
    """

    def __init__(self, total: int, done: int = 0, *, log: logging.Logger, what: str = "iterations",
                 label: str = "training", note: str = "", interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if total < 1 or not 0 <= done <= total:
            raise ValueError(f"ProgressLog: needs total >= 1 and 0 <= done <= total (got {done}/{total})")
        if interval_s <= 0:
            raise ValueError(f"ProgressLog: interval_s must be > 0 (got {interval_s!r})")
        self.total, self.what, self.label, self.note = total, what, label, note
        self.log, self.interval_s, self.clock = log, interval_s, clock
        self.start_done = done
        self.start = self.last = clock()
        self.examples = 0

    def update(self, done: int, examples: int = 0) -> str | None:
        """``done`` units are finished, ``examples`` more examples processed; the line, if one is due."""
        self.examples += examples
        now = self.clock()
        if now - self.last < self.interval_s:
            return None
        self.last = now
        line = self.line(done, now)
        self.log.info("%s", line)
        return line

    def line(self, done: int, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        units = done - self.start_done
        eta = duration((self.total - done) * elapsed / units) if units > 0 else "unknown"
        return (f"{self.label}: {100 * done / self.total:.1f}% ({done}/{self.total} {self.what}), "
                f"{self.examples / elapsed:.1f} examples/s, ETA {eta}{self.note}")
