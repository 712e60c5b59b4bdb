"""GPU requests, the GPU rules' env, SLURM runtimes (tradeoff.workflow.cluster), through the workflow too.

- mnist.device decides GPU requests: cuda one per GPU-rule job, auto and cpu none; a dry run of the
  default config against profiles/slurm therefore gives no job a GPU (what the SLURM plugin's own
  set_gres_string makes of each job's resources: no --gpus, no --gres).
- A job that requested a GPU and finds none fails, naming the rule, and leaves no output.
- The torch rules' time limits are the closed form of tradeoff.workflow.cluster, and reach the jobs.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from conftest import REPO, copy_workflow, snakemake

from tradeoff.provenance import install_route
from tradeoff.workflow import cluster
from tradeoff.workflow.cluster import (
    GPU_MINUTES_PROVISIONAL,
    GPU_RULES,
    GpuMissingError,
    cpu_minutes,
    gpu_request,
    job_minutes,
    require_gpus,
    torch_env,
)
from tradeoff.workflow.plan import attack_grid, mnist_models, mnist_recipes


def test_gpu_request_and_env_follow_the_device() -> None:
    assert [gpu_request(d) for d in ("auto", "cpu", "cuda")] == [0, 0, 1]
    assert torch_env("cuda") == "../../envs/torch-gpu.yaml"
    assert torch_env("auto") == torch_env("cpu") == "../../envs/torch.yaml"
    with pytest.raises(ValueError, match="'gpu' is not auto, cpu or cuda"):
        gpu_request("gpu")


def test_a_job_that_requested_a_gpu_and_finds_none_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    require_gpus(0, "mnist_train")  # no request: nothing to check
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(GpuMissingError, match=r"rule mnist_train: the job requested 1 GPU\(s\).* sees 0"):
        require_gpus(1, "mnist_train")


def test_cpu_minutes_closed_form() -> None:
    config: dict[str, Any] = {
        "mnist": {
            "evaluation": {"n": 1000, "sanity": {"steps": 10}},
        },
        "saliency": {
            "judge": {"model": "madry", "iterations": 400, "batch_size": 64},
            "robust_judge": {"model": "mlp", "iterations": 400, "batch_size": 64, "steps": 5},
            "large_eps": {"per_class": 3, "steps": 100},
            "examples": {"per_class": 10},
            "models": {"recipes": ["pgd"]},
        },
    }
    recipes = {
        "standard": {"model": "small", "objective": "standard", "iterations": 250, "batch_size": 64},
        "pgd": {"model": "madry", "objective": "pgd", "steps": 40, "iterations": 1000, "batch_size": 50},
    }
    models = [("standard", 4000, 0), ("pgd", 4000, 0)]
    grid = [{"attack": "clean"}, {"attack": "fgsm", "eps": 0.3},
            {"attack": "pgd", "eps": 0.3, "steps": 10, "restarts": 2}]
    got = cpu_minutes(config, recipes, models, grid)
    tp = cluster.CPU_EXAMPLES_PER_S

    def limit(passes: float, model: str) -> int:
        return max(10, math.ceil(3 * passes / tp[model] / 60) + 5)

    # pgd training: 1000 steps x 50 images x (1 + 40) passes on the madry CNN
    assert got["mnist_train"] == limit(1000 * 50 * 41, "madry") == 5 + math.ceil(3 * 2_050_000 / 339 / 60)
    # evaluation: 1000 images x (clean 1 + fgsm 2 + pgd 2 x 11 + sanity 2 x 11 + 2)
    assert got["mnist_eval"] == limit(1000 * (1 + 2 + 22 + 22 + 2), "madry")
    assert got["saliency_judge"] == limit(400 * 64, "madry")
    assert got["saliency_robust_judge"] == limit(400 * 64 * 6, "mlp")  # l2 PGD, 5 steps: 6 passes per example
    assert got["saliency_extract"] == limit(2 * 10 * 3 * 9 * 101 + 10 * 10 * 2, "madry")  # + the small-eps control
    # epochs instead of iterations: epochs x training-set size examples
    assert cluster._train_passes({"objective": "standard", "epochs": 2}, 500) == 1000
    # a GPU job's limit is the provisional one, a CPU job's the estimate
    assert job_minutes("mnist_train", "cuda", got) == GPU_MINUTES_PROVISIONAL
    assert job_minutes("mnist_train", "auto", got) == got["mnist_train"]


def test_install_route(tmp_path: Path) -> None:
    assert install_route(str(tmp_path)) == {"route": "pip", "prefix": str(tmp_path)}
    (tmp_path / "conda-meta").mkdir()
    assert install_route(str(tmp_path))["route"] == "conda"


# --- through the workflow -------------------------------------------------------------------


def _without_messages(work: Path) -> None:
    """Drop the rules' ``message:`` in a copy of the workflow: Snakemake prints a job's message in place
    of its rule, wildcards and resources block, which these tests read."""
    for smk in (work / "workflow" / "rules").glob("*.smk"):
        smk.write_text(re.sub(r"^    message:\n(?:        .*\n)+", "", smk.read_text(), flags=re.M))


def _dry_run_resources(work: Path, *args: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run lists (``work``'s rules without their messages)."""
    _without_messages(work)
    out = snakemake(work, "--dry-run", *args).stdout
    jobs = []
    for m in re.finditer(r"^( *)(?:local)?rule (\w+):\n((?:\1    .*\n)*)", out, re.M):
        res = re.search(r"^ *resources: (.*)$", m.group(3), re.M)
        pairs = dict(kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {}
        jobs.append((m.group(2), pairs))
    return jobs


class _Job:
    """What the SLURM plugin's set_gres_string reads of a job: its resources."""

    def __init__(self, resources: dict[str, str]) -> None:
        typed = {k: int(v) if v.isdigit() else v for k, v in resources.items()}
        self.resources = type("R", (dict,), {"__getattr__": dict.__getitem__})(typed)


@pytest.fixture(scope="module")
def default_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("cluster"), data="link")  # the default config: dry runs
    shutil.copytree(REPO / "profiles", work / "profiles")
    return work


@pytest.mark.slow
def test_default_config_on_slurm_requests_no_gpu(default_work: Path) -> None:
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    jobs = _dry_run_resources(default_work, "--profile", "profiles/slurm", "--executor", "local")
    rules = {r for r, _ in jobs}
    assert set(GPU_RULES) <= rules and "theory_fit" in rules
    assert [set_gres_string(_Job(res)) for _, res in jobs] == [""] * len(jobs)
    assert all(res.get("gpu", "0") == "0" for _, res in jobs)
    # the torch rules' runtimes are the estimates for this config (per attempt: attempt 1 here)
    config = yaml.safe_load((default_work / "config" / "config.yaml").read_text())
    cpu = cpu_minutes(config, mnist_recipes(config), mnist_models(config), attack_grid(config))
    for rule, res in jobs:
        assert res.get("runtime") == str(cpu.get(rule, 30)), (rule, res)


@pytest.mark.slow
def test_device_cuda_requests_one_gpu_per_gpu_rule_job(default_work: Path) -> None:
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    cfg = default_work / "config" / "cuda.yaml"
    config = yaml.safe_load((default_work / "config" / "config.yaml").read_text())
    config["mnist"]["device"] = "cuda"
    cfg.write_text(yaml.safe_dump(config))
    jobs = _dry_run_resources(default_work, "--profile", "profiles/slurm", "--executor", "local",
                              "--configfile", "config/cuda.yaml", "--replace-workflow-config")
    for rule, res in jobs:
        if rule in GPU_RULES:
            assert set_gres_string(_Job(res)) == " --gpus=1", (rule, res)
            assert res["runtime"] == str(GPU_MINUTES_PROVISIONAL)
        else:
            assert set_gres_string(_Job(res)) == "", (rule, res)


@pytest.mark.slow
def test_job_requesting_a_gpu_on_a_machine_without_one_fails_loudly(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    work = copy_workflow(tmp_path, REPO / "tests" / "config" / "tiny.yaml", data="none")
    proc = snakemake(work, "results/mnist/data.npz", "--set-resources", "mnist_data:gpu=1",
                     "--resources", "gpu=1", "--show-failed-logs", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rule mnist_data: the job requested 1 GPU(s) (resources gpu=1) but torch" in out, out
    assert "stopping instead of training on the CPU" in out
    assert not (work / "results" / "mnist" / "data.npz").exists()
