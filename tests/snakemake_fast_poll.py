"""``python tests/snakemake_fast_poll.py ARGS``: ``snakemake ARGS`` with the SLURM executor plugin
asking for job states at least every POLL_S seconds (tests/test_slurm.py's submitting process only).

snakemake-executor-plugin-slurm (2.8.0) waits 10 s longer after every status poll that finds no
finished job (``next_seconds_between_status_checks + 10``, up to 180 s; back to
``--slurm-init-seconds-before-status-checks`` once one has finished), and has no setting for that
step. On a test cluster whose jobs take seconds, the jobs mostly sit finished until the next poll:
the test's run was mostly waiting. Here the wait is capped after each poll; what is submitted, and
how the states are read (squeue), stay the plugin's own.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator

from snakemake_executor_plugin_slurm import Executor

POLL_S = 2

_check_active_jobs = Executor.check_active_jobs


async def _check_and_cap(self: Executor, active_jobs: list) -> AsyncGenerator:
    async for job in _check_active_jobs(self, active_jobs):
        yield job
    # the plugin has just set its next wait (+10 s, or its initial wait): cap it
    self.next_seconds_between_status_checks = min(self.next_seconds_between_status_checks, POLL_S)


Executor.check_active_jobs = _check_and_cap  # type: ignore[method-assign]

if __name__ == "__main__":
    from snakemake.cli import main

    sys.exit(main(sys.argv[1:]))
