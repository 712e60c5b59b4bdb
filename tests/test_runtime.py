"""Snakemake's threads: reach BLAS and torch, capped at the CPUs the machine really has."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

from tradeoff.runtime import available_cpus, effective_threads

PROBE = """
import sys, torch
sys.path.insert(0, {src!r})
from threadpoolctl import threadpool_info
from tradeoff.runtime import limit_threads
n = limit_threads({requested})
blas = {{p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}}
print(n, torch.get_num_threads(), sorted(blas))
"""


def _probe(requested: int) -> tuple[int, int, list[int]]:
    code = PROBE.format(src=str(REPO / "src"), requested=requested)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120).stdout.split(maxsplit=2)
    return int(out[0]), int(out[1]), eval(out[2])  # noqa: S307 - our own printed list


def test_threads_never_exceed_the_machine() -> None:
    cpus = available_cpus()
    assert effective_threads(8 * cpus) == cpus
    assert effective_threads(1) == 1 and effective_threads(0) == 1
    n, torch_threads, blas = _probe(8 * cpus)  # as with --cores 8 on a smaller machine
    assert n == torch_threads == cpus
    assert all(t == cpus for t in blas)


def test_one_thread_job_uses_one_thread() -> None:
    n, torch_threads, blas = _probe(1)
    assert n == torch_threads == 1
    assert blas and all(t == 1 for t in blas)


def test_cpu_capabilities_read_flags_and_fall_back_without_bf16() -> None:
    from tradeoff.runtime import cpu_capabilities

    amx = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
    assert cpu_capabilities(amx) == {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_tile": True,
                                     "amx_bf16": True, "bf16": True}
    old = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f\nprocessor\t: 1\nflags\t\t: fpu sse avx2 avx512f\n"
    caps = cpu_capabilities(old)
    assert caps["avx512f"] and not caps["bf16"]  # AVX-512 without BF16: the bf16 lever is off
    assert not any(cpu_capabilities("").values())  # unreadable: nothing assumed
    assert set(cpu_capabilities()) == set(caps)  # this machine's, same keys
