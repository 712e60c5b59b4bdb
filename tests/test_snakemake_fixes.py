"""``snakemake --list-changes params`` names only outputs whose params changed (issue 27, item 7):
the cause is Snakemake's own ParamsChange (tradeoff.workflow.snakemake_fixes), pinned here on the class, and
the workflow's workaround is checked on a real run of the tiny config."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import snakemake

from tradeoff.workflow.snakemake_fixes import fix_params_change_listing, params_listing_is_buggy


class Buggy:
    """Snakemake 9.27.1's ParamsChange, reduced to what the bug needs."""

    def __init__(self, only_old: set[str] | None = None, files: set[str] | None = None) -> None:
        self.only_old, self.files = only_old or set(), files or set()

    def __bool__(self) -> bool:
        return bool(self.only_old)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.files)


def test_the_bug_is_recognised_on_the_class() -> None:
    assert params_listing_is_buggy(Buggy)
    assert not params_listing_is_buggy(dict)


def test_an_unchanged_record_lists_no_file_after_the_fix() -> None:
    from snakemake.persistence import NO_PARAMS_CHANGE, ParamsChange

    fix_params_change_listing()
    assert not params_listing_is_buggy(ParamsChange)
    # Persistence.params_changed folds one record per output with |: the last unchanged one survives
    folded = NO_PARAMS_CHANGE | ParamsChange(files={"a/weights.safetensors"}) | ParamsChange(files={"a/history.json"})
    assert not folded and list(folded) == []
    changed = folded | ParamsChange(only_new={"x"}, files={"a/history.json"})
    assert changed and list(changed) == ["a/history.json"]


@pytest.mark.slow
def test_list_changes_params_is_empty_on_an_up_to_date_tree(tiny_run: Path) -> None:
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(tiny_run, "-n"))
    listed = snakemake(tiny_run, "--list-changes", "params").stdout.split()
    assert listed == [], listed
