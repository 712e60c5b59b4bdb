"""Per-job runtime set-up: thread limits that follow Snakemake's ``threads:``, and logging to the rule's log."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tradeoff")


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and cgroup-restricted CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def effective_threads(requested: int) -> int:
    """Threads a job should use: what Snakemake granted, never more than the machine has."""
    return max(1, min(int(requested), available_cpus()))


def limit_threads(requested: int) -> int:
    """Limit BLAS/OpenMP pools and torch's intra-op pool to ``effective_threads(requested)``.

    ``--cores 8`` on a 2-core machine would otherwise let every job start one BLAS thread per core
    (or per granted thread) and oversubscribe the machine. Returns the number of threads set.
    """
    n = effective_threads(requested)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n)
    torch = sys.modules.get("torch")  # only jobs that already use torch pay for importing it
    if torch is not None:

        torch.set_num_threads(n)
        if torch.get_num_interop_threads() != 1:
            try:
                torch.set_num_interop_threads(1)
            except RuntimeError:  # already used in this process
                pass
    return n


def setup_logging(log_path: str | os.PathLike[str] | None, level: int = logging.INFO) -> logging.Logger:
    """Send log records, Python warnings and uncaught tracebacks to ``log_path`` (the rule's ``log:``).

    ``sys.stderr`` itself is redirected, so a crash's traceback lands in the log that Snakemake shows
    with ``--show-failed-logs``.
    """
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = open(log_path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[logging.StreamHandler(sys.stderr)],
        force=True,
    )
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    return log


#: CPU instruction sets that decide which precision levers a CPU run may use.
CPU_FLAGS: tuple[str, ...] = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_capabilities(cpuinfo: str | None = None) -> dict[str, bool]:
    """Which of :data:`CPU_FLAGS` this CPU has (from ``/proc/cpuinfo``; all False where unreadable),
    plus ``bf16``: whether bf16 matrix work has hardware support (AVX512-BF16 or AMX-BF16). Without
    it, bf16 autocast on the CPU is emulated and slower than fp32, so the lever is not used."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # pragma: no cover - non-Linux
            cpuinfo = ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags |= set(value.split())
    caps = {f: f in flags for f in CPU_FLAGS}
    caps["bf16"] = caps["avx512_bf16"] or caps["amx_bf16"]
    return caps


@dataclass(frozen=True)
class Levers:
    """The speed levers a torch job uses, as resolved for its device (recorded in the provenance).

    ``precision``: fp32, or bf16 autocast; ``channels_last``: NHWC weights and activations;
    ``compile``: forward passes through ``torch.compile``; ``threads``: torch's intra-op threads;
    ``dropped``: why a requested lever was not used ("" when none was dropped); ``cpu``: the
    capability check it was resolved from (empty on CUDA).
    """

    precision: str
    channels_last: bool
    compile: bool
    threads: int
    dropped: str = ""
    cpu: Mapping[str, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return {"precision": self.precision, "channels_last": self.channels_last,
                "compile": self.compile, "threads": self.threads, "dropped": self.dropped,
                "cpu": dict(self.cpu)}


def resolve_levers(precision: str, device_type: str, *, channels_last: bool = False,
                   compile: bool = False, caps: Mapping[str, bool] | None = None) -> Levers:
    """The levers a job asking for ``precision`` / ``channels_last`` / ``compile`` uses on a
    ``device_type`` ("cpu" or "cuda") device.

    bf16 is kept on CUDA, and on a CPU whose :func:`cpu_capabilities` (``caps``; read from this
    machine when None) report bf16 hardware; elsewhere the job runs fp32 and ``dropped`` says
    why. The fp32 levers (``channels_last``, ``compile``) are kept as asked.
    """
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision: valid: fp32, bf16 (got {precision!r})")
    cpu: Mapping[str, bool] = {}
    dropped = ""
    if device_type == "cpu":
        cpu = dict(cpu_capabilities() if caps is None else caps)
        if precision == "bf16" and not cpu.get("bf16", False):
            precision = "fp32"
            dropped = ("bf16 asked for, but this CPU has neither AVX512-BF16 nor AMX-BF16 (bf16 "
                       "would be emulated, slower than fp32): running fp32")
    torch = sys.modules.get("torch")  # never imported here: theory jobs import runtime without torch
    threads = torch.get_num_threads() if torch is not None else available_cpus()
    return Levers(precision, bool(channels_last), bool(compile), threads, dropped, cpu)
