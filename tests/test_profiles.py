"""Profiles: the shipped ones parse and plan the tiny DAG; malformed values stop the run before any
job starts, with a message naming the key and value (Snakemake's own checks, and for what Snakemake
checks late or never, tradeoff.workflow.profile_check, called from workflow/rules/profile.smk)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_workflow, dry_run_jobs, snakemake

from tradeoff.workflow.profile_check import (
    EXPRESSION_NAMES,
    ProfileError,
    Source,
    check_run,
    check_settings,
    command_line_settings,
    expression_problem,
    profile_file,
    profile_files,
    snakemake_arguments,
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = copy_workflow(tmp_path_factory.mktemp("profiles"), REPO / "tests" / "config" / "tiny.yaml", data="none")
    shutil.copytree(REPO / "profiles", dest / "profiles")
    return dest


@pytest.mark.slow
def test_local_profile_plans_the_whole_dag(work: Path) -> None:
    jobs = dry_run_jobs(work, "--profile", "profiles/local")
    assert jobs["theory_fit"] > 0 and jobs["mnist_train"] > 0 and jobs["all"] == 1


@pytest.mark.slow
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
    # GPUs are not requested by the profile: they follow mnist.device (tradeoff.workflow.cluster)
    assert not any("gpu" in str(v) for v in (plain.get("set-resources") or {}).values())
    # (slurm-conda is not planned here: with --use-conda even a dry run needs a conda executable)


@pytest.mark.slow
def test_workflow_profile_alone_plans_the_whole_dag(work: Path) -> None:
    jobs = dry_run_jobs(work, "--workflow-profile", "profiles/default")
    assert jobs["theory_fit"] > 0 and jobs["mnist_train"] > 0 and jobs["all"] == 1


@pytest.mark.slow
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
# tradeoff.workflow.profile_check adds (Snakemake checks those when a job of the rule is scheduled, after
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
    # a resource name one edit from the SLURM plugin's, and a gpu_model where the rule asks for no
    # GPU (tiny.yaml: mnist.device auto, so mnist_train has gpu=0): tradeoff.workflow.slurm_resources
    "resources-slurm-typo": (
        "set-resources: {theory_fit: {slurm_partion: short}}\n",
        "profile key set-resources.theory_fit.slurm_partion: 'slurm_partion' is not a resource Snakemake or the SLURM "
        "executor plugin (2.8.0) reads, so it would be ignored silently; did you mean slurm_partition?",
    ),
    "gpu-model-without-gpu": (
        "set-resources: {mnist_train: {slurm_partition: gpu, gpu_model: a100}}\n",
        "would submit it with --gpus=a100:0",
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
@pytest.mark.slow
def test_malformed_profile_stops_before_any_job(work: Path, body: str, message: str) -> None:
    write_bad(work, body)
    proc = snakemake(work, "--profile", "profiles/bad", check=False)
    assert_stopped_before_any_job(work, proc, message)


CORES_MESSAGE = "profile key cores: {} is not an integer >= 1 or 'all' "


@pytest.mark.parametrize("cores", [-3, 0])
@pytest.mark.slow
def test_bad_cores_in_a_profile_stops_before_any_job(work: Path, cores: int) -> None:
    # Not through snakemake(): it passes --cores 2 (the profile would be named all the same).
    write_bad(work, f"cores: {cores}\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/bad"],
                          cwd=work, capture_output=True, text=True, timeout=600)
    assert_stopped_before_any_job(work, proc, CORES_MESSAGE.format(cores) + "(a profile's `cores:`, in profiles/bad/")


@pytest.mark.slow
def test_bad_cores_on_the_command_line_stops_before_any_job(work: Path) -> None:
    proc = snakemake(work, "--cores", "-3", check=False)  # the later --cores wins
    assert_stopped_before_any_job(work, proc, CORES_MESSAGE.format(-3) + "(the command line's --cores)")


@pytest.mark.slow
def test_bad_jobs_stops_before_any_job_without_cores(work: Path) -> None:
    write_bad(work, "jobs: 0\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "profiles/bad"],
                          cwd=work, capture_output=True, text=True, timeout=600)
    assert_stopped_before_any_job(work, proc, "profile key jobs: 0 is not 'unlimited' or an integer >= 1")


@pytest.mark.slow
def test_bad_set_threads_on_the_command_line_stops_before_any_job(work: Path) -> None:
    proc = snakemake(work, "--set-threads", "theory_fit=many", check=False)
    assert_stopped_before_any_job(
        work, proc, "profile key set-threads.theory_fit: 'many' is not an integer >= 1 and, as an expression, "
        "uses the unknown name 'many'")
    assert "(the command line's --set-threads)" in proc.stdout + proc.stderr


# Unit tests of the check on what the user wrote: profile YAML (as loaded) and command-line words
# (tradeoff.workflow.profile_check reads no Snakemake object).

RULES = {"theory_fit", "mnist_train", "all"}
CLI = Source("the command line", command_line=True)
FILE = Source("profiles/x/profile.yaml")


def check_cli(*argv: str) -> None:
    check_settings(command_line_settings(argv), CLI, RULES)


def test_check_accepts_good_settings() -> None:
    check_cli("--jobs", "unlimited", "--cores", "all", "--resources", "gpu=1",
              "--set-threads", "theory_fit=4", "mnist_train=min(2, attempt)",
              "--set-resources", "theory_fit:mem_mb=2000*attempt", "theory_fit:slurm_partition=gpu",
              "mnist_train:mem=4GB", "mnist_train:runtime=1h", "mnist_train:gpu=1", "mnist_train:disk=10 GiB",
              "--default-resources", "mem_mb=2000 * attempt", "runtime=30 * attempt", "slurm_account=me")
    check_cli("-c", "4", "-j", "8", "--dry-run", "--configfile", "a.yaml", "b.yaml")
    check_settings(yaml.safe_load(
        "cores: 8\njobs: 50\nset_threads: {theory_fit: 2}\nresources: {gpu: 1}\nretries: 2\n"
        "default-resources: {mem_mb: '2000 * attempt', runtime: 30, tmpdir: /scratch}\n"
        "set-resources: {mnist_train: {runtime: '2h30m', mem: 8000, slurm_partition: gpu}}\n"), FILE, RULES)
    for name in ("local", "slurm", "default"):
        check_settings(yaml.safe_load((REPO / "profiles" / name / "profile.yaml").read_text()) or {},
                       Source(name), RULES | {"mnist_eval", "saliency_judge", "saliency_extract"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cores", "-3"], "profile key cores: -3 is not an integer >= 1"),
        (["-c", "0"], "profile key cores: 0 is not an integer >= 1"),
        (["--jobs", "0"], "profile key jobs: 0 is not"),
        (["--local-cores", "0"], "profile key local-cores: 0 is not an integer >= 1"),
        (["--max-threads", "x"], "profile key max-threads: 'x' is not an integer >= 1"),
        (["--set-threads", "theory_fit=many"], "profile key set-threads.theory_fit: 'many' is not an integer >= 1"),
        (["--set-threads", "theory_fit=0"], "profile key set-threads.theory_fit: 0 is not an integer >= 1"),
        (["--set-threads", "theory_fit=1.5"], "profile key set-threads.theory_fit: 1.5 is not an integer >= 1"),
        (["--set-threads", "theory_fit=2 *"], "'2 *' is not an integer >= 1 and, as an expression, is not a valid"),
        (["--set-threads", "nosuch=2"], "profile key set-threads.nosuch: the workflow has no rule 'nosuch'"),
        (["--set-resources", "theory_fit:mem_mb=lots"], "set-resources.theory_fit.mem_mb: 'lots'"),
        (["--set-resources", "theory_fit:mem_mib=lots"], "set-resources.theory_fit.mem_mib: 'lots'"),
        (["--set-resources", "theory_fit:mem_mb=-1"], "set-resources.theory_fit.mem_mb: -1 is not an integer >= 0"),
        (["--set-resources", "theory_fit:disk=lots"], "set-resources.theory_fit.disk: 'lots' is not an integer >= 0 or a size"),
        (["--set-resources", "theory_fit:runtime=soon"], "set-resources.theory_fit.runtime: 'soon' is not an integer >= 0 or a duration"),
        (["--set-resources", "nosuch:mem_mb=1"], "profile key set-resources.nosuch: the workflow has no rule"),
        (["--set-resources", "theory_fit:gpu=$NOSUCH_VARIABLE"], "set-resources.theory_fit.gpu: '$NOSUCH_VARIABLE'"),
        (["--set-resources", "theory_fit=1"], "profile key set-resources: 'theory_fit=1' is not RULE:NAME=VALUE"),
        (["--default-resources", "mem_mb=lots"], "profile key default-resources.mem_mb: 'lots'"),
        (["--default-resources", "runtime=30 * attemp"], "uses the unknown name 'attemp'"),
        (["--default-resources", "runtime=-0.5"], "default-resources.runtime: -0.5 is negative"),
        (["--resources", "gpu=one"], "resources.gpu: 'one'"),
        # A resource with a global limit is numeric wherever it is set.
        (["--resources", "tokens=4", "--set-resources", "theory_fit:tokens=many"], "set-resources.theory_fit.tokens"),
    ],
)
def test_check_names_key_value_and_flag(argv: list[str], message: str) -> None:
    with pytest.raises(ProfileError) as err:
        check_cli(*argv)
    assert message in str(err.value)
    assert "(the command line's --" in str(err.value)


def test_check_names_the_profile_file() -> None:
    for body, message in [
        ("set-threads: {all: 1.5}", "profile key set-threads.all: 1.5 is not an integer >= 1"),
        ("set_resources: {all: {mem_mb: -1}}", "profile key set-resources.all.mem_mb: -1"),
        ("cores: true", "profile key cores: True is not an integer >= 1"),
        ("set-resources: {all: 3}", "profile key set-resources.all: 3 is not a mapping"),
        ("jobs: -2", "profile key jobs: -2 is not 'unlimited' or an integer >= 1"),
    ]:
        with pytest.raises(ProfileError) as err:
            check_settings(yaml.safe_load(body), FILE, RULES)
        assert message in str(err.value) and "in profiles/x/profile.yaml)" in str(err.value), body


def test_profile_files_are_found_as_snakemake_finds_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # Snakemake looks in the working directory first
    base = tmp_path / "wf"
    (base / "profiles" / "default").mkdir(parents=True)
    (base / "profiles" / "default" / "profile.yaml").write_text("cores: 1\n")
    user = tmp_path / "home" / "snakemake" / "cluster"
    user.mkdir(parents=True)
    for name in ("config.yaml", "profile.v9+.yaml", "profile.v99+.yaml", "notes.yaml"):
        (user / name).write_text("jobs: 1\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "home")}
    found = profile_files(["--profile", "cluster"], env, base, major=9)
    assert found == [base / "profiles" / "default" / "profile.yaml", user / "profile.v9+.yaml"]
    assert profile_files(["--workflow-profile", "none"], {**env, "SNAKEMAKE_PROFILE": "cluster"}, base, 9) == [
        user / "profile.v9+.yaml"]
    assert profile_file(user, major=8) == user / "config.yaml"


def test_check_run_reads_profiles_and_command_line(tmp_path: Path) -> None:
    bad = tmp_path / "profiles" / "bad"
    bad.mkdir(parents=True)
    (bad / "profile.yaml").write_text("resources: {tokens: 2}\n")
    with pytest.raises(ProfileError, match="set-resources.theory_fit.tokens: 'many'.*command line's --set-resources"):
        check_run(["--profile", str(bad), "--set-resources", "theory_fit:tokens=many"], {}, tmp_path, RULES, 9)
    (bad / "profile.yaml").write_text("set-threads: {nosuch: 2}\n")
    with pytest.raises(ProfileError, match=r"set-threads.nosuch: the workflow has no rule 'nosuch' \(a profile's"):
        check_run(["--profile", str(bad)], {}, tmp_path, RULES, 9)
    check_run(["--profile", str(bad), "--workflow-profile", "none"], {}, tmp_path, RULES | {"nosuch"}, 9)


def test_only_a_snakemake_command_line_is_read() -> None:
    assert snakemake_arguments(["/x/bin/snakemake", "-n"]) == ["-n"]
    assert snakemake_arguments(["/x/site-packages/snakemake/__main__.py", "-c", "1"]) == ["-c", "1"]
    assert snakemake_arguments(["/x/bin/pytest", "--cores", "-3"]) is None
    assert snakemake_arguments([]) is None


def test_expressions() -> None:
    assert expression_problem("min(max(2*input.size_mb, 1000), 8000)") is None  # Snakemake's default
    assert expression_problem("max(2*input.size_mb, 1000) if input else 50000") is None
    assert expression_problem("1000 * attempt + threads") is None
    assert expression_problem("'4'") == "is a quoted string, not a number"
    assert "unknown names 'a', 'b'" in (expression_problem("a + b") or "")
    assert {"attempt", "input", "wildcards", "threads", "min", "max"} <= EXPRESSION_NAMES
