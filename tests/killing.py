"""Stopping a Snakemake job mid-run in a test: the signal follows an event the job itself makes (a
log line, a checkpoint file), never a time."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import psutil


def signal_job_when(proc: subprocess.Popen[str], ready: Callable[[], bool], script: str,
                    sig: int = signal.SIGTERM, timeout: float = 300) -> None:
    """Wait until ``ready()`` holds while Snakemake (``proc``) runs, then send ``sig`` to each process
    of the job running ``script`` (e.g. ``mnist_train.py``), not to Snakemake itself."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"snakemake ended before the job got there:\n{proc.communicate()[0]}"
        assert time.monotonic() < deadline, f"the job running {script} never got there"
        time.sleep(0.2)
    jobs = [p for p in psutil.Process(proc.pid).children(recursive=True)
            if any(script in part for part in p.cmdline())]
    assert jobs, f"no process runs {script}"
    for p in jobs:
        os.kill(p.pid, sig)
