"""A workaround for a Snakemake bug the workflow's users meet: ``--list-changes params`` (alias
``--list-params-changes``) lists files whose params did not change.

Snakemake 9.27.1 (``snakemake/persistence/__init__.py``): ``Persistence.params_changed(job)`` folds
one ``ParamsChange`` per output file with ``|``, whose ``__or__`` returns the right operand whenever
the left one is empty, so that the fold ends with the *last output's* record even when nothing
changed: empty sets (falsy) but ``files = {last output}``. ``ParamsChange.__iter__`` yields ``files``
whatever its truth value, and ``DAG.get_outputs_with_changes`` iterates every job's record. Hence on
an up-to-date tree every job with params and recorded metadata (format >= 6) lists its last output
(``history.json`` of a training job, not its ``weights.safetensors``: the issue-27 probe's 55 files).
The rerun decision itself is right: it only takes the record's truth value (``-n``, ``--summary``).

:func:`fix_params_change_listing` makes an empty record iterate no files, so the listing names
exactly the outputs whose params changed. It patches only a Snakemake that shows the bug (checked
on the class itself), so a fixed Snakemake is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def params_listing_is_buggy(cls: Any) -> bool:
    """Whether an empty ``ParamsChange`` (no params changed) still iterates its files."""
    try:
        empty = cls(files={"unchanged"})
    except TypeError:  # another shape of the class: not the bug described here
        return False
    return not empty and list(empty) == ["unchanged"]


def fix_params_change_listing() -> bool:
    """Apply the workaround where the installed Snakemake has the bug; True if it was applied."""
    try:
        from snakemake.persistence import ParamsChange
    except ImportError:  # another Snakemake layout: nothing to fix here
        return False
    if not params_listing_is_buggy(ParamsChange):
        return False

    def files_if_changed(self: Any) -> Iterator[str]:
        return iter(self.files if self else ())

    ParamsChange.__iter__ = files_if_changed
    return True
