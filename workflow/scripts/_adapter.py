"""Shared by the thin rule scripts: make the repo's package importable, route logs, limit threads.

Snakemake puts this folder on ``sys.path`` for every local script, so ``import _adapter`` works from
any conda env; the repo's ``src/`` goes first so jobs run the code the workflow hashed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

_SRC = Path(__file__).resolve().parents[2] / "src"
# First, even if already on the path: an editable install's .pth (or the parent Snakemake process's
# path, which jobs inherit) may put another checkout's src/ ahead of this workflow's.
while str(_SRC) in sys.path:
    sys.path.remove(str(_SRC))
sys.path.insert(0, str(_SRC))
for _name in [m for m in sys.modules if m == "tradeoff" or m.startswith("tradeoff.")]:
    _file = getattr(sys.modules[_name], "__file__", None) or ""
    if not Path(_file).resolve().is_relative_to(_SRC):
        del sys.modules[_name]  # imported from elsewhere before this ran: import again from _SRC

from tradeoff.io import remove_temporary_files_on  # noqa: E402
from tradeoff.runtime import limit_threads, setup_logging  # noqa: E402


def setup(smk: Any) -> None:
    """Log to the rule's ``log:``, cap BLAS/torch threads at the rule's ``threads:``, and stop if
    the job's resources requested GPUs that torch cannot see (tradeoff.workflow.cluster.require_gpus). A job
    stopped with SIGTERM removes the temporary files of its unfinished writes (tradeoff.io)."""
    remove_temporary_files_on()
    logger = setup_logging(smk.log[0] if smk.log else None)
    n = limit_threads(smk.threads)
    logger.info("rule %s, wildcards %s, %d thread(s)", smk.rule, dict(smk.wildcards.items()), n)
    gpus = int(getattr(smk.resources, "gpu", 0) or 0)
    if gpus:  # a job that asked for a GPU and finds none stops instead of training on the CPU
        from tradeoff.workflow.cluster import require_gpus

        require_gpus(gpus, smk.rule)
    import tradeoff

    logger.info("package tradeoff from %s", Path(tradeoff.__file__).parent)
