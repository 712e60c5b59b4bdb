"""The test tiers: only tests marked slow start Snakemake (``make test-fast`` leaves them out);
bench/test_tiers/slowest_tests.py, the slowest-tests table for bench/RESULTS.md from pytest's own block."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO, snakemake

sys.path.insert(0, str(REPO / "bench" / "test_tiers"))
from slowest_tests import markdown, slowest  # noqa: E402

LOG = """\
tests/test_x.py ....                                             [100%]
============================= slowest 25 durations =============================
12.50s call     tests/test_workflow.py::test_report_builds_and_names_every_figure
301.02s setup    tests/test_bad_input.py::test_report_from_a_hostile_config[x y]
0.91s teardown tests/test_svm.py::test_fit
7s call     tests/test_a.py::test_b

(12 durations < 0.005s hidden.  Use -vv to show these durations.)
=========================== short test summary info ============================
SKIPPED [1] tests/test_cpu_levers.py:10: no bf16
"""


def test_rows_are_pytests_durations_slowest_first() -> None:
    rows = slowest(LOG, top=3)
    assert rows == [(301.02, "setup", "tests/test_bad_input.py::test_report_from_a_hostile_config[x y]"),
                    (12.5, "call", "tests/test_workflow.py::test_report_builds_and_names_every_figure"),
                    (7.0, "call", "tests/test_a.py::test_b")]
    table = markdown(rows).splitlines()
    assert table[2] == "| 1 | 301.0 | setup | `tests/test_bad_input.py::test_report_from_a_hostile_config[x y]` |"
    assert table[-1].startswith("|  | 320.5 | total of these 3 |")


def test_a_log_without_durations_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'slowest durations' block"):
        slowest("tests/test_x.py ....  [100%]\n")


def test_snakemake_refuses_a_test_not_marked_slow(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="test_snakemake_refuses_a_test_not_marked_slow starts Snakemake: mark it"):
        snakemake(tmp_path, "--version")
    assert not list(tmp_path.iterdir())  # refused before anything ran
