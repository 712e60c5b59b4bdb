"""``make test``'s xdist work units (tests/conftest.py): on a worker under ``--dist loadgroup`` the
tests are put in start order (SLURM, the tiny run's users, modules with slow tests, the tests on
private copies of the tiny run, each its own unit, the rest) and
each test's unit is written for the controller, whose scheduler groups by it. Checked on stand-in
items, without starting workers."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import conftest
import pytest


class _Item:
    def __init__(self, nodeid: str, marks: tuple[str, ...] = (), fixtures: tuple[str, ...] = ()) -> None:
        self.nodeid, self.marks, self.fixturenames = nodeid, marks, fixtures

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.marks else None

    def __repr__(self) -> str:
        return self.nodeid


ITEMS = [
    _Item("tests/test_a.py::test_fast"),
    _Item("tests/test_b.py::test_uses_tiny", ("slow",), ("tiny_run",)),
    _Item("tests/test_b.py::test_slow_alone", ("slow",)),
    _Item("tests/test_c.py::test_fast"),
    _Item("tests/test_b.py::test_fast_beside_slow"),
    _Item("tests/test_slurm.py::test_cluster", ("slow", "slurm"), ("tiny_results",)),
    _Item("tests/test_d.py::test_also_uses_tiny[x]", ("slow",), ("tiny_run", "tmp_path")),
    _Item("tests/test_c.py::test_changes_a_copy", ("slow",), ("tiny_run_copy", "tmp_path")),
    _Item("tests/test_e.py::test_changes_a_copy[y]", ("slow",), ("tiny_run_copy",)),
]


def _worker(monkeypatch: pytest.MonkeyPatch, folder: Path, loadgroup: bool) -> SimpleNamespace:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setenv(conftest.UNITS_ENV, str(folder))
    return SimpleNamespace(option=SimpleNamespace(loadgroup=loadgroup))


def test_a_loadgroup_worker_orders_the_tests_and_writes_their_units(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    items = list(ITEMS)
    conftest.pytest_collection_modifyitems(_worker(monkeypatch, tmp_path, True), items)  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == [
        "tests/test_slurm.py::test_cluster",
        "tests/test_b.py::test_uses_tiny",
        "tests/test_d.py::test_also_uses_tiny[x]",
        "tests/test_b.py::test_slow_alone",
        "tests/test_b.py::test_fast_beside_slow",
        "tests/test_c.py::test_changes_a_copy",
        "tests/test_e.py::test_changes_a_copy[y]",
        "tests/test_a.py::test_fast",
        "tests/test_c.py::test_fast",
    ]
    units = json.loads((tmp_path / "gw0.json").read_text())
    assert units == {
        "tests/test_slurm.py::test_cluster": "slurm",
        "tests/test_b.py::test_uses_tiny": "tiny_run",
        "tests/test_d.py::test_also_uses_tiny[x]": "tiny_run",
        "tests/test_b.py::test_slow_alone": "tests/test_b.py",
        "tests/test_b.py::test_fast_beside_slow": "tests/test_b.py",
        "tests/test_c.py::test_changes_a_copy": "tests/test_c.py::test_changes_a_copy",
        "tests/test_e.py::test_changes_a_copy[y]": "tests/test_e.py::test_changes_a_copy[y]",
        "tests/test_a.py::test_fast": "tests/test_a.py",
        "tests/test_c.py::test_fast": "tests/test_c.py",
    }
    assert not list(tmp_path.glob("*.tmp"))


def test_other_runs_keep_the_collection_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    items = list(ITEMS)
    conftest.pytest_collection_modifyitems(_worker(monkeypatch, tmp_path, False), items)  # type: ignore[arg-type]
    assert items == ITEMS and not list(tmp_path.iterdir())
    monkeypatch.delenv("PYTEST_XDIST_WORKER")  # one process: no xdist at all
    conftest.pytest_collection_modifyitems(SimpleNamespace(option=SimpleNamespace()), items)  # type: ignore[arg-type]
    assert items == ITEMS and not list(tmp_path.iterdir())


def test_the_controllers_scheduler_groups_by_the_written_units(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist (requirements/lock.txt) is not installed")
    items = list(ITEMS)
    conftest.pytest_collection_modifyitems(_worker(monkeypatch, tmp_path, True), items)  # type: ignore[arg-type]
    options = SimpleNamespace(dist="loadgroup", loadscopereorder=True, numprocesses=2, tx=["2*popen"])
    config = SimpleNamespace(option=options, getoption=lambda name, default=None: getattr(options, name, default),
                             getvalue=lambda name: getattr(options, name, None))
    sched = conftest.pytest_xdist_make_scheduler(config, None)  # type: ignore[arg-type]
    assert options.loadscopereorder is False  # the workers' order, not by unit size
    scope = sched._split_scope  # type: ignore[attr-defined]
    assert {scope(i.nodeid) for i in items if "tiny_run" in i.fixturenames} == {"tiny_run"}
    assert scope("tests/test_slurm.py::test_cluster") == "slurm"
    assert scope("tests/test_c.py::test_changes_a_copy") != scope("tests/test_c.py::test_fast")  # not its module
    assert scope("tests/test_b.py::test_fast_beside_slow") == scope("tests/test_b.py::test_slow_alone")
    assert scope("tests/test_new.py::test_collected_later") == "tests/test_new.py"
    options.dist = "load"
    assert conftest.pytest_xdist_make_scheduler(config, None) is None  # type: ignore[arg-type]
