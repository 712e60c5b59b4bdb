"""The SLURM plugin's resource names (read from its installed source) and the two profile mistakes
checked against them: a resource name one or two edits from one the plugin reads (``slurm_partion``)
and a ``gpu_model`` on a rule that requests no GPU (tradeoff.workflow.slurm_resources, via
tradeoff.workflow.profile_check)."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from tradeoff.workflow.profile_check import ProfileError, Source, check_run, check_settings
from tradeoff.workflow.slurm_resources import (
    PLUGIN_RESOURCES,
    PLUGINS,
    edit_distance,
    gpus_emitted,
    installed_plugin_resources,
    resource_reads,
    unknown_resource,
)

RULES = {"theory_fit", "mnist_train", "mnist_eval", "all"}
FILE = Source("profiles/x/profile.yaml")


def test_plugin_names_are_the_installed_plugins_reads() -> None:
    for package, pinned in PLUGINS.items():
        assert version(package.replace("_", "-")) == pinned, f"{package}: installed differs from PLUGINS"
        lock = (REPO / "requirements" / "lock.txt").read_text()
        assert f"{package.replace('_', '-')}=={pinned}\n" in lock
    found = installed_plugin_resources()
    assert not {n for n in found if n.startswith("?")}, "a resource read this parser cannot name"
    assert found == PLUGIN_RESOURCES, (sorted(found - PLUGIN_RESOURCES), sorted(PLUGIN_RESOURCES - found))
    # the ones this project's profiles and docs rely on
    assert {"slurm_partition", "slurm_account", "slurm_extra", "runtime", "mem_mb", "gpu", "gpu_model"} <= found


def test_resource_reads_finds_every_form_of_read() -> None:
    source = '''
def f(job, jobs):
    a = job.resources.get("alpha")
    b = jobs[0].resources.get("beta", 0)
    c = job.resources.gamma
    d = getattr(job.resources, "delta", None)
    e = job.resources["epsilon"]
    if "zeta" in job.resources.keys():
        pass
    for key in ("eta", "theta"):
        job.resources.get(key)
    limits = {"iota": 1, "kappa": 2}
    for k, v in limits.items():
        job.resources.get(k, 0)
    job.resources.get(some_call())
    job.threads  # not a resource read
'''
    assert resource_reads(source) == {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
                                      "iota", "kappa", "?some_call()"}


def test_edit_distance() -> None:
    assert edit_distance("slurm_partion", "slurm_partition") == 2
    assert edit_distance("gpu_modle", "gpu_model") == 1  # a swap counts once
    assert edit_distance("runtime", "runtime") == 0
    assert edit_distance("", "abc") == 3


@pytest.mark.parametrize(("name", "suggestion"), [
    ("slurm_partion", "slurm_partition"),
    ("slurm_acount", "slurm_account"),
    ("slurm_exta", "slurm_extra"),
    ("gpu_modle", "gpu_model"),
    ("constrain", "constraint"),
    ("cpus_per_tsk", "cpus_per_task"),
    ("runtme", "runtime"),
    ("mem_gb", "mem_mb"),
])
def test_a_name_near_one_the_plugin_reads_is_flagged(name: str, suggestion: str) -> None:
    problem = unknown_resource(name)
    assert problem is not None and f"did you mean {suggestion}" in problem
    with pytest.raises(ProfileError, match=f"set-resources.mnist_train.{name}: '{name}' is not a resource.*"
                                           f"did you mean {suggestion}.*profiles/x/profile.yaml"):
        check_settings({"set-resources": {"mnist_train": {name: "x"}}}, FILE, RULES)
    with pytest.raises(ProfileError, match=f"default-resources.{name}: .*did you mean {suggestion}"):
        check_settings({"default-resources": {name: "x"}}, FILE, RULES)


def test_an_unknown_slurm_prefixed_name_is_flagged_even_when_far() -> None:
    problem = unknown_resource("slurm_queue")
    assert problem is not None and "its slurm_ resources are slurm_account, slurm_cluster, slurm_extra" in problem


def test_the_command_line_is_checked_too(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"set-resources.theory_fit.slurm_partion: .*slurm_partition.*"
                                           r"command line's --set-resources"):
        check_run(["--set-resources", "theory_fit:slurm_partion=gpu", "--workflow-profile", "none"], {},
                  tmp_path, RULES, 9)


def test_standard_plugin_and_throttle_names_stay_allowed(tmp_path: Path) -> None:
    for name in sorted(PLUGIN_RESOURCES) + ["mem", "mem_mib", "disk", "disk_mb", "disk_mib", "tmpdir",
                                            "_cores", "_nodes", "io_heavy", "licences"]:
        assert unknown_resource(name) is None, name
    # a user throttle: any name given a global limit, even one close to a plugin name
    assert unknown_resource("tasks2") is not None
    check_settings({"resources": {"gpu": 1, "tasks2": 4}, "set-resources": {"mnist_train": {"tasks2": 1}},
                    "default-resources": {"tasks2": 0}}, FILE, RULES)
    # its limit may come from another source of the same run (here: the command line)
    profile = tmp_path / "p"
    profile.mkdir()
    (profile / "profile.yaml").write_text("set-resources: {mnist_train: {tasks2: 1}}\n")
    check_run(["--profile", str(profile), "--resources", "tasks2=2", "--workflow-profile", "none"], {},
              tmp_path, RULES, 9)
    with pytest.raises(ProfileError, match="tasks2"):
        check_run(["--profile", str(profile), "--workflow-profile", "none"], {}, tmp_path, RULES, 9)


@pytest.mark.parametrize("name", ["slurm", "slurm-conda", "local", "default"])
def test_the_shipped_profiles_pass(name: str) -> None:
    settings = yaml.safe_load((REPO / "profiles" / name / "profile.yaml").read_text())
    check_settings(settings, Source(name), RULES | {"saliency_judge", "saliency_robust_judge", "saliency_extract"})


# gpu_model on a rule that requests no GPU


def run_with(tmp_path: Path, profile: str, rule_gpus: dict[str, Any], *argv: str) -> None:
    folder = tmp_path / "p"
    folder.mkdir(exist_ok=True)
    (folder / "profile.yaml").write_text(profile)
    check_run(["--profile", str(folder), "--workflow-profile", "none", *argv], {}, tmp_path, RULES, 9,
              rule_gpus=rule_gpus)


GPUS = {"theory_fit": None, "all": None, "mnist_train": 0, "mnist_eval": 0}  # mnist.device auto or cpu
CUDA = {**GPUS, "mnist_train": 1, "mnist_eval": 1}  # mnist.device cuda


def test_gpu_model_on_a_gpu_rule_that_requests_none(tmp_path: Path) -> None:
    body = "set-resources: {mnist_train: {slurm_partition: gpu, gpu_model: a100}}\n"
    with pytest.raises(ProfileError, match=re.escape(
            "profile key set-resources.mnist_train.gpu_model: 'a100' is set for rule mnist_train, which requests "
            "no GPU (gpu=0): the SLURM executor plugin (2.8.0) would submit it with --gpus=a100:0")):
        run_with(tmp_path, body, GPUS)
    run_with(tmp_path, body, CUDA)  # with mnist.device cuda the rule requests one: fine
    run_with(tmp_path, "set-resources: {mnist_train: {gpu: 1, gpu_model: a100}}\n", GPUS)  # the profile asks


def test_gpu_model_on_a_rule_without_a_gpu_resource(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=re.escape(
            "rule theory_fit, which requests no GPU (no gpu resource): the SLURM executor plugin (2.8.0) would "
            "submit it with --gpus=a100:1, a GPU for a job that asks for none")):
        run_with(tmp_path, "set-resources: {theory_fit: {gpu_model: a100}}\n", GPUS)
    # in default-resources it reaches every rule: the first that asks for no GPU is named
    with pytest.raises(ProfileError, match=r"profile key default-resources.gpu_model: 'a100' is set for rule all,"):
        run_with(tmp_path, "default-resources: {gpu_model: a100}\n", CUDA)
    # a GPU requested on the command line, or an expression known only per job, is not flagged
    run_with(tmp_path, "set-resources: {theory_fit: {gpu_model: a100}}\n", GPUS,
             "--set-resources", "theory_fit:gpu=1")
    run_with(tmp_path, "set-resources: {theory_fit: {gpu_model: a100, gpu: '1 * attempt'}}\n", GPUS)
    # without rule_gpus (an API caller) the check is skipped
    check_run(["--set-resources", "theory_fit:gpu_model=a100", "--workflow-profile", "none"], {}, tmp_path,
              RULES, 9)


class _Resources(dict[str, Any]):
    def __getattr__(self, name: str) -> Any:
        return self[name]


class _Job:
    def __init__(self, **resources: Any) -> None:
        self.resources = _Resources(resources)


@pytest.mark.parametrize("gpu", [None, 0, 1, 2])
def test_the_flag_in_the_message_is_the_one_the_pinned_plugin_writes(gpu: Any) -> None:
    utils = pytest.importorskip("snakemake_executor_plugin_slurm.utils")
    job = _Job(gpu_model="a100") if gpu is None else _Job(gpu_model="a100", gpu=gpu)
    assert utils.set_gres_string(job).strip() == gpus_emitted("a100", gpu)
