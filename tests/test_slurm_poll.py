"""tests/snakemake_fast_poll.py, the SLURM test's launcher: it caps the SLURM executor plugin's wait
between status polls, which the plugin lets grow by 10 s after each poll that finds no finished job.
Checked on the installed plugin's own check_active_jobs, without a cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import snakemake_fast_poll as fast_poll


async def _drain(jobs: AsyncIterator) -> list:
    return [job async for job in jobs]


def _poll(executor: SimpleNamespace, active_jobs: list) -> list:
    """One status poll through the patched Executor.check_active_jobs."""
    return asyncio.run(_drain(fast_poll.Executor.check_active_jobs(executor, active_jobs)))


def _executor(initial_s: int, next_s: int) -> SimpleNamespace:
    logs: list[str] = []
    return SimpleNamespace(
        workflow=SimpleNamespace(executor_settings=SimpleNamespace(init_seconds_before_status_checks=initial_s)),
        logger=SimpleNamespace(debug=logs.append, info=logs.append),
        next_seconds_between_status_checks=next_s,
        logs=logs,
    )


def test_the_plugin_resets_its_wait_to_the_initial_one_and_the_launcher_caps_it() -> None:
    # no active jobs: the plugin's fast path sets the wait to --slurm-init-seconds-before-status-checks
    plugin = _executor(initial_s=40, next_s=70)
    assert asyncio.run(_drain(fast_poll._check_active_jobs(plugin, []))) == []
    assert plugin.next_seconds_between_status_checks == 40, plugin.logs  # the plugin alone: 40 s
    capped = _executor(initial_s=40, next_s=70)
    assert _poll(capped, []) == []
    assert capped.next_seconds_between_status_checks == fast_poll.POLL_S == 2
    short = _executor(initial_s=1, next_s=70)
    _poll(short, [])
    assert short.next_seconds_between_status_checks == 1  # a shorter wait is kept

