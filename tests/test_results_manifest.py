"""Committed results never change silently (issue 27, item 4): every file under docs/results/ is in
docs/results/MANIFEST.json with its SHA-256; re-derived tables are recorded by a command, with the
commit and the deriving code's hash, and the training provenance stays as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO

from tradeoff.workflow.manifest import (
    NAME,
    ManifestError,
    expected,
    init,
    main,
    problems,
    read,
    rederive,
)

RESULTS = REPO / "docs" / "results"


def test_every_committed_result_matches_its_manifest() -> None:
    found = problems(RESULTS)
    assert not found, ("the committed results differ from docs/results/MANIFEST.json:\n  " + "\n  ".join(found)
                       + "\nre-derived tables: python -m tradeoff.workflow.manifest rederive --code <module> ...; "
                         "a new run: python -m tradeoff.workflow.publish")


def test_the_paper_grade_provenance_agrees_with_the_manifest() -> None:
    """provenance.json's SHA-256 of each table is the digest the manifest holds for it: as the run
    published it (the training provenance) or as last re-derived."""
    record = read(RESULTS)
    now = expected(record)
    for folder in [p.parent for p in RESULTS.glob("*/provenance.json")]:
        prefix = folder.relative_to(RESULTS).as_posix()
        tables = json.loads((folder / "provenance.json").read_text())["tables"]
        for name, digest in tables.items():
            key = f"{prefix}/{name.removeprefix('results/')}"
            assert digest in (record["files"].get(key), now.get(key)), name


@pytest.fixture
def committed(tmp_path: Path) -> Path:
    """A copy of part of docs/results (the MNIST claims and one robustness table) with its own manifest."""
    root = tmp_path / "results"
    for rel in ("cpu/mnist/claims.csv", "cpu/mnist/robustness.csv", "mnist_claims.csv"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(RESULTS / rel, root / rel)
    init(root)
    return root


@pytest.mark.parametrize("rel,column", [("cpu/mnist/claims.csv", "p_holm"), ("cpu/mnist/claims.csv", "difference"),
                                        ("cpu/mnist/robustness.csv", "accuracy")])
def test_editing_one_number_fails(committed: Path, rel: str, column: str) -> None:
    """The issue's probes: one number changed in a committed table."""
    import pandas as pd

    assert problems(committed) == []
    table = pd.read_csv(committed / rel)
    row = table[column].first_valid_index()
    lines = (committed / rel).read_text().splitlines()
    header = lines[0].split(",")
    assert column in header
    cells = lines[row + 1].split(",")
    i = header.index(column)
    cells[i] = "0.123456" if cells[i] != "0.123456" else "0.654321"
    lines[row + 1] = ",".join(cells)
    (committed / rel).write_text("\n".join(lines) + "\n")
    found = problems(committed)
    assert len(found) == 1 and found[0].startswith(f"{committed / rel}: SHA-256") and "changed since" in found[0]
    with pytest.raises(SystemExit, match=rel):
        main(["check", str(committed)])


def test_new_or_removed_files_fail(committed: Path) -> None:
    (committed / "cpu" / "extra.csv").write_text("a\n1\n")
    (committed / "mnist_claims.csv").unlink()
    assert problems(committed) == [f"{committed}/cpu/extra.csv: not in the manifest",
                                   f"{committed}/mnist_claims.csv: in the manifest but missing"]


def test_rederived_tables_are_recorded_beside_the_training_provenance(committed: Path) -> None:
    before = read(committed)
    claims = committed / "cpu" / "mnist" / "claims.csv"
    claims.write_text(claims.read_text().replace("holds", "does not hold", 1))
    (committed / "cpu" / "mnist" / "claims_new.csv").write_text("x\n")
    (committed / "mnist_claims.csv").unlink()
    with pytest.raises(ManifestError, match="name the module"):
        rederive(committed, code=[])
    main(["rederive", str(committed), "--code", "tradeoff.stages.mnist_tables", "--note", "new statistics"])
    assert problems(committed) == []
    after = read(committed)
    assert after["files"] == before["files"]  # the training provenance is left as it was
    (entry,) = after["rederived"]
    assert set(entry["files"]) == {"cpu/mnist/claims.csv", "cpu/mnist/claims_new.csv", "mnist_claims.csv"}
    assert entry["files"]["mnist_claims.csv"] is None and entry["note"] == "new statistics"
    assert len(entry["commit"].removesuffix("-dirty")) == 40 and set(entry["code"]) == {"tradeoff.stages.mnist_tables"}
    assert "mnist_claims.csv" not in expected(after)
    assert rederive(committed, code=["tradeoff.stages.mnist_tables"]) == {}  # nothing differs: nothing written
    manifest = json.loads((committed / NAME).read_text())
    manifest["rederived"][0]["commit"] = ""  # an entry without its commit is refused
    (committed / NAME).write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"rederived\[0\] lacks"):
        problems(committed)
