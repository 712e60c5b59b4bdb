"""Progress lines for long training runs and attack evaluations: share done, examples/s and ETA, at
most every 30 s (under Snakemake stderr is no terminal, so no progress bar is drawn).

Training: :class:`ProgressLog`, told after each optimizer step, logs a line once ``interval_s`` have
passed (rates count only the work of this process: a resumed run's earlier work is not timed).
Evaluation:

PGD over 10,000 images or an AutoAttack component on a CPU runs for minutes in one call; a job log
that says nothing for ten minutes cannot be told from a hung one. :class:`EtaLog` counts the
examples done after each batch and logs a line such as::

    AutoAttack linf eps=0.3, APGD-T (2/4): 2000/9731 examples (20.6%), 3.4 examples/s, 9m47s elapsed, ETA 37m55s

on the first batch (the rate is then known), then whenever ``every`` seconds (30 by default) have
passed since the last line, and on the last batch. A batch that itself runs longer (one AutoAttack
batch of 500 images on a CPU: minutes) is wrapped in :meth:`EtaLog.running`: a heartbeat thread adds
a line every ``every`` seconds while it runs (``...; batch 2/2 (500) running for 1m30s``). The clock
is :data:`CLOCK` unless one is passed, and :class:`Heartbeat` takes its wait function, so tests drive
both without sleeping.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

__all__ = ["CLOCK", "EVERY_S", "EtaLog", "Heartbeat", "ProgressLog", "duration"]

log = logging.getLogger(__name__)

CLOCK: Callable[[], float] = time.monotonic
"""The default clock (seconds); :class:`EtaLog` reads it when it is created."""
EVERY_S: Final = 30.0
"""Seconds between two progress lines (at most; a line also comes at the first and the last batch)."""


def duration(seconds: float) -> str:
    """``1h02m03s``, ``4m05s``, ``12s``; ``?`` where unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


class EtaLog:
    """Progress of one pass over ``total`` items (``what``: what runs, e.g. "PGD linf eps=0.3, 20 steps
    x 1 restart (3/7)"). :meth:`advance` after each batch; it logs through ``emit`` (default: this
    module's logger at INFO) and returns the line it logged, or None."""

    def __init__(self, what: str, total: int, *, unit: str = "examples", every: float = EVERY_S,
                 clock: Callable[[], float] | None = None, emit: Callable[[str], None] | None = None) -> None:
        if total < 0:
            raise ValueError(f"progress of {what!r}: total must be >= 0 (got {total})")
        if every < 0:
            raise ValueError(f"progress of {what!r}: every must be >= 0 seconds (got {every})")
        self.what, self.total, self.unit, self.every = what, int(total), unit, float(every)
        self._clock = clock if clock is not None else CLOCK
        self._emit = emit if emit is not None else log.info
        self.start = self._clock()
        self.done = 0
        self._last: float | None = None
        self._batch: tuple[int, int, float] | None = None  # (number, size, start) of the batch running
        self._batches = 0

    def line(self, now: float) -> str:
        """The progress line at clock time ``now``."""
        elapsed = max(now - self.start, 0.0)
        rate = self.done / elapsed if elapsed > 0 else float("nan")
        left = self.total - self.done
        eta = left / rate if rate > 0 else (0.0 if left <= 0 else float("nan"))
        pct = 100.0 * self.done / self.total if self.total else 100.0
        rate_text = f"{rate:.1f} {self.unit}/s" if math.isfinite(rate) and self.done else f"? {self.unit}/s"
        return (f"{self.what}: {self.done}/{self.total} {self.unit} ({pct:.1f}%), {rate_text}, "
                f"{duration(elapsed)} elapsed, ETA {duration(eta)}")

    def beat(self) -> str:
        """Log (and return) the progress line with the batch that is running and for how long."""
        now = self._clock()
        text = self.line(now)
        if self._batch is not None:
            number, size, start = self._batch
            text += f"; batch {number} ({size}) running for {duration(now - start)}"
        self._emit(text)
        self._last = now
        return text

    @contextlib.contextmanager
    def running(self, n: int, *, heartbeat: bool = True) -> Iterator[None]:
        """Around one batch of ``n`` items: a :class:`Heartbeat` line every ``every`` seconds while it
        runs (``heartbeat=False``: none), then :meth:`advance` by ``n`` when it ends without error."""
        self._batches += 1
        self._batch = (self._batches, int(n), self._clock())
        try:
            with Heartbeat(self) if heartbeat and self.every > 0 else contextlib.nullcontext():
                yield
        finally:
            self._batch = None
        self.advance(n)

    def advance(self, n: int) -> str | None:
        """Count ``n`` more items done; log a line if it is the first batch, the last, or ``every``
        seconds have passed since the last line."""
        self.done += int(n)
        now = self._clock()
        if self._last is None or self.done >= self.total or now - self._last >= self.every:
            text = self.line(now)
            self._emit(text)
            self._last = now
            return text
        return None


class Heartbeat:
    """A daemon thread that calls ``progress.beat()`` every ``progress.every`` seconds until the
    ``with`` block ends (``wait``: the function that waits that long and says whether to stop;
    default the stop event's ``wait``; :meth:`run` is the thread's loop, callable directly)."""

    def __init__(self, progress: EtaLog, *, wait: Callable[[float], bool] | None = None) -> None:
        self.progress = progress
        self._stop = threading.Event()
        self._wait = wait if wait is not None else self._stop.wait
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        while not self._wait(self.progress.every):
            self.progress.beat()

    def __enter__(self) -> Heartbeat:
        self._thread = threading.Thread(target=self.run, name=f"progress: {self.progress.what}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class ProgressLog:
    """Logs ``<label>: P% (done/total <what>), R examples/s, ETA T<note>`` every ``interval_s``.

    ``total``: units of the whole job; ``done``: units already done when it starts (a resumed run);
    ``note``: appended to each line (e.g. that the total is a cap the job may stop short of).
    """

    def __init__(self, total: int, done: int = 0, *, log: logging.Logger, what: str = "iterations",
                 label: str = "training", note: str = "", interval_s: float = 30.0,
                 clock: Callable[[], float] | None = None) -> None:
        if total < 1 or not 0 <= done <= total:
            raise ValueError(f"ProgressLog: needs total >= 1 and 0 <= done <= total (got {done}/{total})")
        if interval_s <= 0:
            raise ValueError(f"ProgressLog: interval_s must be > 0 (got {interval_s!r})")
        self.total, self.what, self.label, self.note = total, what, label, note
        self.log, self.interval_s = log, interval_s
        self.clock = clock if clock is not None else CLOCK
        self.start_done = done
        self.start = self.last = self.clock()
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
        eta = duration((self.total - done) * elapsed / units) if units > 0 else "?"
        return (f"{self.label}: {100 * done / self.total:.1f}% ({done}/{self.total} {self.what}), "
                f"{self.examples / elapsed:.1f} examples/s, ETA {eta}{self.note}")
