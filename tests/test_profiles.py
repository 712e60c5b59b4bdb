"""Profiles: the shipped ones parse and plan the tiny DAG; malformed values stop the run before any
job starts, with a message naming the key and value (Snakemake's own checks, and for what Snakemake
checks late or never, tradeoff.profile_check, called from workflow/rules/profile.smk)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import REPO, copy_workflow, dry_run_jobs, snakemake

from tradeoff.profile_check import (
    EXPRESSION_NAMES,
    ProfileError,
    check_resource_settings,
    expression_problem,
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = copy_workflow(tmp_path_factory.mktemp("profiles"), REPO / "tests" / "config" / "tiny.yaml")
    shutil.copytree(REPO / "profiles", dest / "profiles")
    return dest


def test_local_profile_plans_the_whole_dag(work: Path) -> None:
    jobs = dry_run_jobs(work, "--profile", "profiles/local")
    assert jobs["theory_fit"] > 0 and jobs["mnist_train"] > 0 and jobs["all"] == 1


def test_slurm_profile_plans_the_whole_dag(work: Path) -> None:
    # Its jobs, default-resources (expressions of attempt) and set-resources pass the check.
    jobs = dry_run_jobs(work, "--profile", "profiles/slurm", "--executor", "local")
    assert jobs["theory_fit"] > 0 and jobs["mnist_train"] > 0 and jobs["all"] == 1


def test_slurm_profiles_choose_their_software_route_explicitly() -> None:
    import yaml

    slurm = (REPO / "profiles" / "slurm" / "profile.yaml").read_text()
    conda = (REPO / "profiles" / "slurm-conda" / "profile.yaml").read_text()
    marker = "# ---- copy of profiles/slurm/profile.yaml ----\n"
    assert conda.split(marker, 1)[1] == slurm, "profiles/slurm-conda is not profiles/slurm plus conda"
    plain, with_conda = yaml.safe_load(slurm), yaml.safe_load(conda)
    assert "software-deployment-method" not in plain  # the .venv route
    assert with_conda == {**plain, "software-deployment-method": ["conda"]}
    # no forced squeue: real clusters keep sacct (tests/test_slurm.py passes squeue itself)
    assert "slurm-status-command" not in plain
    # GPUs are not requested by the profile: they follow mnist.device (tradeoff.cluster)
    assert not any("gpu" in str(v) for v in (plain.get("set-resources") or {}).values())
    # (slurm-conda is not planned here: with --use-conda even a dry run needs a conda executable)


def test_workflow_profile_alone_plans_the_whole_dag(work: Path) -> None:
    jobs = dry_run_jobs(work, "--workflow-profile", "profiles/default")
    assert jobs["theory_fit"] > 0 and jobs["mnist_train"] > 0 and jobs["all"] == 1


def test_valid_expressions_and_units_still_plan(work: Path) -> None:
    good = work / "profiles" / "good"
    good.mkdir(exist_ok=True)
    (good / "profile.yaml").write_text(
        "set-threads: {theory_fit: 2, theory_sample: '1 * attempt'}\n"
        "set-resources:\n"
        "  theory_fit: {mem_mb: '1000 * attempt', runtime: '2h', slurm_partition: short}\n"
        "  mnist_train: {mem: '4GB', disk_mb: 'max(2 * input.size_mb, 1000)'}\n"
        "default-resources: {runtime: '30 * attempt', mem_mb: 2000, slurm_account: me}\n"
        "resources: {gpu: 0}\n"
        "jobs: unlimited\n"
    )
    jobs = dry_run_jobs(work, "--profile", "profiles/good")
    assert jobs["theory_fit"] > 0 and jobs["all"] == 1


# (profile body, a piece of the message). Snakemake's own checks first, then the ones
# tradeoff.profile_check adds (Snakemake checks those when a job of the rule is scheduled, after
# other rules' jobs ran, or never: docs/BAD_INPUT.md).
BAD_PROFILES = {
    "gpu-not-int": ("resources: {gpu: one}\n", "Resource 'gpu' was given value 'one', which is not an integer"),
    "gpu-negative": ("resources: {gpu: -1}\n", "Resource 'gpu' was given value '-1', which is not a positive integer"),
    "executor": ("executor: nosuch\n", "invalid choice: 'nosuch'"),
    "yaml": ("jobs: [1\n", "profiles/bad/profile.yaml"),
    # Snakemake's message names the setting, not the rule or value; it comes before the workflow
    # is parsed, so the workflow cannot improve on it.
    "threads-negative": ("set-threads: {theory_fit: -2}\n", "Invalid threads definition"),
    "threads-not-int": (
        "set-threads: {theory_fit: many}\n",
        "profile key set-threads.theory_fit: 'many' is not an integer >= 1",
    ),
    "threads-zero": ("set-threads: {theory_fit: 0}\n", "profile key set-threads.theory_fit: 0 is not an integer >= 1"),
    "threads-bad-expression": (
        "set-threads: {theory_fit: '2 * attemp'}\n",
        "profile key set-threads.theory_fit: '2 * attemp' is not an integer >= 1 and, as an "
        "expression, uses the unknown name 'attemp'",
    ),
    "threads-unknown-rule": (
        "set-threads: {theory_fitt: 2}\n",
        "profile key set-threads.theory_fitt: the workflow has no rule 'theory_fitt'",
    ),
    "resources-mem_mb-not-int": (
        "set-resources: {theory_fit: {mem_mb: lots}}\n",
        "profile key set-resources.theory_fit.mem_mb: 'lots' is not an integer >= 0",
    ),
    "resources-mem-not-size": (
        "set-resources: {theory_fit: {mem: lots}}\n",
        "profile key set-resources.theory_fit.mem: 'lots' is not an integer >= 0 or a size like '4GB'",
    ),
    "resources-runtime-not-int": (
        "set-resources: {theory_fit: {runtime: soon}}\n",
        "profile key set-resources.theory_fit.runtime: 'soon' is not an integer >= 0 or a duration",
    ),
    "resources-gpu-not-int": (
        "set-resources: {mnist_train: {gpu: one}}\n",
        "profile key set-resources.mnist_train.gpu: 'one' is not an integer >= 0",
    ),
    "resources-unknown-rule": (
        "set-resources: {nosuch: {mem_mb: 1000}}\n",
        "profile key set-resources.nosuch: the workflow has no rule 'nosuch'",
    ),
    "default-resources-not-int": (
        "default-resources: {mem_mb: lots}\n",
        "profile key default-resources.mem_mb: 'lots' is not an integer >= 0",
    ),
    "default-resources-bad-expression": (
        "default-resources: {runtime: '30 * attemp'}\n",
        "profile key default-resources.runtime: '30 * attemp' is not an integer >= 0",
    ),
    "jobs-zero": ("jobs: 0\n", "profile key jobs: 0 is not 'unlimited' or an integer >= 1"),
    "jobs-negative": ("jobs: -2\n", "profile key jobs: -2 is not 'unlimited' or an integer >= 1"),
    "max-threads-zero": ("max-threads: 0\n", "profile key max-threads: 0 is not an integer >= 1"),
}


def write_bad(work: Path, body: str) -> None:
    bad = work / "profiles" / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "profile.yaml").write_text(body)


def assert_stopped_before_any_job(work: Path, proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert not (work / "results").exists(), "a job started despite the bad profile"


@pytest.mark.parametrize(("body", "message"), BAD_PROFILES.values(), ids=BAD_PROFILES.keys())
def test_malformed_profile_stops_before_any_job(work: Path, body: str, message: str) -> None:
    write_bad(work, body)
    proc = snakemake(work, "--profile", "profiles/bad", check=False)
    assert_stopped_before_any_job(work, proc, message)


CORES_MESSAGE = "profile key cores: {} is not an integer >= 1 or 'all' (a profile's `cores:` or the command line's --cores"


@pytest.mark.parametrize("cores", [-3, 0])
def test_bad_cores_in_a_profile_stops_before_any_job(work: Path, cores: int) -> None:
    # Not through snakemake(): it passes --cores 2, which would override the profile's value.
    write_bad(work, f"cores: {cores}\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/bad"],
                          cwd=work, capture_output=True, text=True, timeout=600)
    assert_stopped_before_any_job(work, proc, CORES_MESSAGE.format(cores))


def test_bad_cores_on_the_command_line_stops_before_any_job(work: Path) -> None:
    proc = snakemake(work, "--cores", "-3", check=False)  # the later --cores wins
    assert_stopped_before_any_job(work, proc, CORES_MESSAGE.format(-3))


def test_jobs_stands_in_for_cores_locally(work: Path) -> None:
    write_bad(work, "jobs: 0\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/bad"],
                          cwd=work, capture_output=True, text=True, timeout=600)
    assert_stopped_before_any_job(work, proc, "profile key cores: 0 is not an integer >= 1")
    assert "`jobs:`/--jobs stands in for it" in proc.stdout + proc.stderr


# Unit tests of the check on what Snakemake's own parsers make of the values (as the workflow sees
# them in workflow.resource_settings), and on plain values (as the Python API may pass them).

RULES = {"theory_fit", "mnist_train", "all"}


def parsed(**kwargs: Any) -> Any:
    from snakemake.cli import parse_set_resources, parse_set_threads
    from snakemake.resources import Resources
    from snakemake.settings.types import ResourceSettings

    return ResourceSettings(
        cores=kwargs.get("cores", 2),
        nodes=kwargs.get("nodes"),
        resources=Resources.parse(kwargs.get("resources", []), allow_expressions=False),
        overwrite_threads=parse_set_threads(kwargs.get("threads", [])),
        overwrite_resources=parse_set_resources(kwargs.get("set_resources", [])),
        default_resources=(
            Resources.parse(kwargs["default_resources"], allow_expressions=True, defaults="full")
            if "default_resources" in kwargs
            else None
        ),
    )


def test_check_accepts_good_settings() -> None:
    check_resource_settings(
        parsed(
            nodes=sys.maxsize,  # --jobs unlimited
            resources=["gpu=1"],
            threads=["theory_fit=4", "mnist_train=min(2, attempt)"],
            set_resources=["theory_fit:mem_mb=2000*attempt", "theory_fit:slurm_partition=gpu",
                           "mnist_train:mem=4GB", "mnist_train:runtime=1h", "mnist_train:gpu=1"],
            default_resources=["mem_mb=2000 * attempt", "runtime=30 * attempt", "slurm_account=me"],
        ),
        RULES,
    )
    check_resource_settings(parsed(cores=None), RULES)  # cores unset (a remote executor)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cores": -3}, "profile key cores: -3 is not an integer >= 1"),
        ({"cores": 0}, "profile key cores: 0 is not an integer >= 1"),
        ({"nodes": 0}, "profile key jobs: 0 is not"),
        ({"threads": ["theory_fit=many"]}, "profile key set-threads.theory_fit: 'many' is not an integer >= 1"),
        ({"threads": ["theory_fit=0"]}, "profile key set-threads.theory_fit: 0 is not an integer >= 1"),
        ({"threads": ["theory_fit=2 *"]}, "'2 *' is not an integer >= 1 and, as an expression, is not a valid"),
        ({"threads": ["nosuch=2"]}, "profile key set-threads.nosuch: the workflow has no rule 'nosuch'"),
        ({"set_resources": ["theory_fit:mem_mb=lots"]}, "set-resources.theory_fit.mem_mb: 'lots'"),
        ({"set_resources": ["theory_fit:mem_mib=lots"]}, "set-resources.theory_fit.mem_mib: 'lots'"),
        ({"set_resources": ["theory_fit:disk=lots"]}, "set-resources.theory_fit.disk: 'lots' is not an integer >= 0 or a size"),
        ({"set_resources": ["theory_fit:runtime=soon"]}, "set-resources.theory_fit.runtime: 'soon'"),
        ({"set_resources": ["nosuch:mem_mb=1"]}, "profile key set-resources.nosuch: the workflow has no rule"),
        ({"set_resources": ["theory_fit:gpu=$NOSUCH_VARIABLE"]}, "set-resources.theory_fit.gpu: '$NOSUCH_VARIABLE'"),
        ({"default_resources": ["mem_mb=lots"]}, "profile key default-resources.mem_mb: 'lots'"),
        ({"default_resources": ["runtime=30 * attemp"]}, "uses the unknown name 'attemp'"),
        # A resource with a global limit is numeric wherever it is set.
        ({"resources": ["tokens=4"], "set_resources": ["theory_fit:tokens=many"]}, "set-resources.theory_fit.tokens"),
    ],
)
def test_check_names_key_and_value(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as err:
        check_resource_settings(parsed(**settings), RULES)
    assert message in str(err.value)
    assert "(a profile's `" in str(err.value) and "or the command line's --" in str(err.value)


def test_check_on_plain_values() -> None:
    plain = {"cores": 2, "nodes": None, "local_cores": 2, "max_threads": None, "resources": {},
             "overwrite_threads": {}, "overwrite_resources": {}, "default_resources": None}
    check_resource_settings(SimpleNamespace(**plain), RULES)
    check_resource_settings(SimpleNamespace(**{**plain, "overwrite_threads": {"all": lambda: 3}}), RULES)
    for change, message in [
        ({"cores": True}, "cores: True"),
        ({"local_cores": 0}, "local-cores: 0"),
        ({"overwrite_threads": {"all": 1.5}}, "set-threads.all: 1.5"),
        ({"overwrite_resources": {"all": {"mem_mb": -1}}}, "set-resources.all.mem_mb: -1"),
        ({"default_resources": {"runtime": -0.5}}, "default-resources.runtime: -0.5 is negative"),
        ({"resources": {"gpu": "one"}}, "resources.gpu: 'one'"),
    ]:
        with pytest.raises(ProfileError, match="profile key ") as err:
            check_resource_settings(SimpleNamespace(**{**plain, **change}), RULES)
        assert message in str(err.value)


def test_expression_names_cover_snakemakes_namespace() -> None:
    # Drift guard: a name Snakemake provides to resource expressions must not be reported unknown.
    import snakemake.ioutils

    namespace: dict[str, Any] = {}
    snakemake.ioutils.register_in_globals(namespace)
    assert set(namespace) <= EXPRESSION_NAMES
    assert expression_problem("min(max(2*input.size_mb, 1000), 8000)") is None  # Snakemake's default
    assert expression_problem("max(2*input.size_mb, 1000) if input else 50000") is None
    assert expression_problem("'4'") == "is a quoted string, not a number"
