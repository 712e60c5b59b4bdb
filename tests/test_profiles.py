"""Profiles: the shipped ones parse and plan the tiny DAG; malformed values stop the run before any
job starts, with a message naming the value (Snakemake's own checks; tested so they stay so)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import REPO, copy_workflow, dry_run_jobs, snakemake


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = copy_workflow(tmp_path_factory.mktemp("profiles"), REPO / "tests" / "config" / "tiny.yaml")
    shutil.copytree(REPO / "profiles", dest / "profiles")
    return dest


def test_local_profile_plans_the_whole_dag(work: Path) -> None:
    jobs = dry_run_jobs(work, "--profile", "profiles/local")
    assert jobs["theory_fit"] > 0 and jobs["mnist_train"] > 0 and jobs["all"] == 1


BAD_PROFILES = [
    ("resources: {gpu: one}\n", "Resource 'gpu' was given value 'one', which is not an integer"),
    ("executor: nosuch\n", "invalid choice: 'nosuch'"),
    ("jobs: [1\n", "profiles/bad/profile.yaml"),
]
# Not here: `set-threads: {theory_fit: many}` fails only when that rule's first job is scheduled, after
# jobs of other rules have run (docs/BAD_INPUT.md).


@pytest.mark.parametrize(("body", "message"), BAD_PROFILES, ids=["gpu-not-int", "executor", "yaml"])
def test_malformed_profile_stops_before_any_job(work: Path, body: str, message: str) -> None:
    bad = work / "profiles" / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "profile.yaml").write_text(body)
    proc = snakemake(work, "--profile", "profiles/bad", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (work / "results").exists(), "a job started despite the bad profile"
