"""Committed results never drift silently: the headline models' test-set evaluations in
docs/results/cpu/headline were made by the current code, or docs/RESULTS.md says they were not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from conftest import REPO, workflow_config_hash

from tradeoff.stages.headline import headline_code_hashes

HEADLINE = REPO / "docs" / "results" / "cpu" / "headline"
RESULTS_PAGE = "docs/RESULTS.md"
README = (REPO / RESULTS_PAGE).read_text()


def _records() -> list[tuple[Path, dict]]:
    return [(p, json.loads(p.read_text())) for p in sorted(HEADLINE.glob("*.test.json"))]


def test_headline_results_are_committed() -> None:
    assert _records(), f"no committed headline evaluation (*.test.json) in {HEADLINE}"


@pytest.mark.parametrize("path,record", _records(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_committed_result_matches_the_code_or_the_results_page_says_so(path: Path, record: dict) -> None:
    if record["code"] != headline_code_hashes():
        stale = f"produced by commit {record['commit']}; code changed since"
        assert stale in README, (f"{path.name}: the code behind it changed (hashes {record['code']} -> "
                                 f"{headline_code_hashes()}); re-run it, or mark it in {RESULTS_PAGE}: '{stale}'")


@pytest.mark.parametrize("path,record", _records(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_committed_result_names_its_weights_and_is_logged(path: Path, record: dict) -> None:
    weights = HEADLINE / Path(record["weights"]).name
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == record["weights_sha256"]
    log = [json.loads(line) for line in (HEADLINE / "test_set_log.jsonl").read_text().splitlines()]
    # the stage appends each finished row (AutoAttack: each component too) as it ends, so every row of
    # the record must be on some log line of the same weights
    logged = [row for entry in log if entry["weights_sha256"] == record["weights_sha256"] for row in entry["results"]]
    missing = [row["attack"] for row in record["results"] if row not in logged]
    assert not missing, f"{path.name}: rows {missing} are not in the test-set log"


# The paper-grade run of config/cpu.yaml (docs/results/cpu/, written by `make paper-grade`).
PAPER_GRADE = REPO / "docs" / "results" / "cpu"
NOT_COMMITTED = "the paper-grade results of config/cpu.yaml are not committed yet"


def _current_cpu_config_hash() -> str:
    return workflow_config_hash(REPO / "config" / "cpu.yaml")


def test_paper_grade_results_match_the_config_and_code_or_the_results_page_says_so() -> None:
    from tradeoff.workflow.plan import stage_code_hashes

    manifest = PAPER_GRADE / "provenance.json"
    if not manifest.is_file():
        assert NOT_COMMITTED in README, (f"{manifest} is missing and {RESULTS_PAGE} does not say "
                                         f"'{NOT_COMMITTED}'")
        return
    assert NOT_COMMITTED not in README, f"{RESULTS_PAGE} says '{NOT_COMMITTED}', but {manifest} exists"
    record = json.loads(manifest.read_text())
    drift = []
    config_now = _current_cpu_config_hash()
    if record["config_hash"] != config_now:
        drift.append(f"config hash {record['config_hash']} -> {config_now}")
    current = stage_code_hashes()
    drift += [f"stage {s}: code {h} -> {current.get(s)}" for s, h in record.get("code", {}).items()
              if current.get(s) != h]
    if not record.get("code"):
        drift.append("the manifest records no code hashes")
    stale = f"produced by commit {record['commit']}; code changed since"
    assert not drift or stale in README, (f"{manifest}: {'; '.join(drift)}; re-run `make paper-grade`, or "
                                          f"mark it in {RESULTS_PAGE}: '{stale}'")

